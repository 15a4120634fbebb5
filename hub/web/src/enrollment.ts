/// <reference lib="dom" />
/**
 * Enrollment, for admins: make one-time tokens for a site (each shown once, with its QR code for
 * the sticker on the box), revoke unused ones, and revoke an enrolled gateway (it is cut off at once).
 */
import { api, apiErrorText, ApiError } from './api.js';
import { ago, breakable, h } from './dom.js';
import type { CreatedToken, EnrolledGateway, EnrollmentToken } from './types.js';

interface Hooks {
  announce(text: string): void;
  onChanged(): void;
}

const message = (err: unknown): string => (err instanceof ApiError ? apiErrorText(err) : 'Cannot reach the hub.');

type Created = CreatedToken & { claim?: string; qrSvg?: string };

/**
 * The tokens made on this visit of the view. Their secrets are shown once, so they outlive a
 * re-render of the view (a revoke, a live reload after a reconnect) until the admin hides them or
 * leaves the view (forgetCreatedTokens).
 */
let created: readonly Created[] = [];

/** Leaving the view (or logging out) drops the secrets just shown. */
export function forgetCreatedTokens(): void {
  created = [];
}

function createdCard(t: Created): HTMLElement {
  const qr = t.qrSvg ? h('img', { class: 'qr', alt: `QR code of the claim for token ${t.id}`, src: `data:image/svg+xml;base64,${btoa(t.qrSvg)}`, width: 180, height: 180 }) : undefined;
  return h(
    'li',
    { class: 'card', 'data-token': t.id },
    h(
      'div',
      { class: 'card-body' },
      h('strong', {}, `Token ${t.id} · site ${t.site}${t.gateway ? ` · gateway ${t.gateway}` : ''}`),
      h('code', { class: 'secret' }, breakable(t.token)),
      t.claim ? h('span', { class: 'muted' }, breakable(t.claim)) : undefined,
      qr,
      h('span', { class: 'muted' }, `expires ${ago(t.expiresAt)} · shown once: copy or print it now`),
    ),
  );
}

/** The tokens just created, and a button to hide them once copied; `render` shows `created` again. */
function createdTokens(): { readonly el: HTMLElement; render(): void } {
  const list = h('ul', { class: 'cards', 'aria-label': 'Tokens just created', 'aria-live': 'polite' });
  const hide = h('button', { type: 'button', class: 'btn small', id: 'enroll-hide' }, 'Hide the new tokens');
  const render = (): void => {
    list.replaceChildren(...created.map(createdCard));
    hide.hidden = created.length === 0;
  };
  hide.addEventListener('click', () => {
    if (!window.confirm('Hide the new tokens? Their secrets cannot be shown again.')) return;
    created = [];
    render();
    document.getElementById('enroll-title')?.focus();
  });
  render();
  return { el: h('div', {}, list, hide), render };
}

function createForm(hooks: Hooks, shown: { render(): void }): HTMLElement {
  const site = h('input', { id: 'enroll-site', name: 'site', required: true, pattern: '[A-Za-z0-9][A-Za-z0-9_\\-]{0,63}', autocapitalize: 'none' });
  const gateway = h('input', { id: 'enroll-gateway', name: 'gateway', pattern: '[A-Za-z0-9][A-Za-z0-9_\\-]{0,63}', autocapitalize: 'none' });
  const count = h('input', { id: 'enroll-count', name: 'count', type: 'number', min: 1, max: 100, value: 1, inputmode: 'numeric' });
  const ttl = h('select', { id: 'enroll-ttl', name: 'ttl' }, ...['1d', '7d', '30d'].map((v) => h('option', { value: v, selected: v === '7d' }, v)));
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const button = h('button', { type: 'submit', class: 'btn primary' }, 'Create tokens');
  const form = h(
    'form',
    { class: 'decision', 'aria-label': 'Create enrollment tokens', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'enroll-site' }, 'Site'), site),
    h('div', { class: 'field' }, h('label', { for: 'enroll-gateway' }, 'Gateway id (optional: bind the token to it)'), gateway),
    h('div', { class: 'field' }, h('label', { for: 'enroll-count' }, 'How many'), count),
    h('div', { class: 'field' }, h('label', { for: 'enroll-ttl' }, 'Valid for'), ttl),
    error,
    button,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!site.checkValidity() || !site.value) {
      error.textContent = 'Give the site id (letters, digits, "_" and "-").';
      error.hidden = false;
      site.focus();
      return;
    }
    button.disabled = true;
    error.hidden = true;
    const n = Number(count.value) || 1;
    api.createEnrollmentTokens({ site: site.value.trim(), ...(gateway.value.trim() ? { gateway: gateway.value.trim() } : {}), count: n, ttl: ttl.value, qr: true }).then(
      (res) => {
        button.disabled = false;
        created = res.items;
        shown.render();
        hooks.announce(`Created ${res.items.length} token(s) for site ${site.value.trim()}; they are shown once.`);
      },
      (err: unknown) => {
        button.disabled = false;
        error.textContent = message(err);
        error.hidden = false;
      },
    );
  });
  return form;
}

function revokeButton(label: string, run: () => Promise<unknown>, done: string, hooks: Hooks): HTMLElement {
  const button = h('button', { type: 'button', class: 'btn small', 'aria-label': label }, 'Revoke');
  button.addEventListener('click', () => {
    if (!window.confirm(`${label}?`)) return;
    button.disabled = true;
    run().then(
      () => {
        hooks.announce(done);
        hooks.onChanged();
      },
      (err: unknown) => {
        button.disabled = false;
        hooks.announce(message(err));
      },
    );
  });
  return button;
}

export function enrollmentView(tokens: EnrollmentToken[], gateways: EnrolledGateway[], hooks: Hooks): HTMLElement {
  const shown = createdTokens();
  const active = tokens.filter((t) => t.state === 'active');
  const tokenList = h(
    'ul',
    { class: 'cards', 'aria-label': 'Unused tokens' },
    ...active.map((t) =>
      h(
        'li',
        { class: 'card', 'data-token': t.id },
        h('div', { class: 'card-body' }, h('strong', {}, `${t.id} · site ${t.site}${t.gateway ? ` · ${t.gateway}` : ''}`), h('span', { class: 'muted' }, `by ${t.createdBy} · expires ${ago(t.expiresAt)}`)),
        revokeButton(`Revoke token ${t.id}`, () => api.revokeEnrollmentToken(t.id), `Token ${t.id} revoked`, hooks),
      ),
    ),
  );
  const gatewayList = h(
    'ul',
    { class: 'cards', 'aria-label': 'Enrolled gateways' },
    ...gateways.map((g) =>
      h(
        'li',
        { class: 'card', 'data-enrolled': g.gateway },
        h(
          'div',
          { class: 'card-body' },
          h('strong', {}, breakable(`${g.gateway} · site ${g.site}`)),
          h('span', { class: 'muted' }, `enrolled ${ago(g.enrolledAt)}${g.hostname ? ` from ${g.hostname}` : ''} · key ${g.keyFingerprint.slice(0, 16)}…`),
          g.revokedAt !== undefined ? h('span', { class: 'badge p-high' }, `revoked ${ago(g.revokedAt)} by ${g.revokedBy ?? '?'}`) : undefined,
        ),
        g.revokedAt === undefined ? revokeButton(`Revoke gateway ${g.gateway}`, () => api.revokeEnrolledGateway(g.gateway), `Gateway ${g.gateway} revoked; it is disconnected`, hooks) : undefined,
      ),
    ),
  );
  return h(
    'section',
    { 'aria-labelledby': 'enroll-title' },
    h('h1', { id: 'enroll-title', tabindex: '-1' }, 'Enroll gateways'),
    createForm(hooks, shown),
    shown.el,
    h('h2', {}, `Unused tokens (${active.length})`),
    active.length === 0 ? h('p', { class: 'empty' }, 'No unused tokens.') : tokenList,
    h('h2', {}, `Enrolled gateways (${gateways.length})`),
    gateways.length === 0 ? h('p', { class: 'empty' }, 'No gateway has enrolled yet.') : gatewayList,
  );
}
