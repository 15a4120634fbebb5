/// <reference lib="dom" />
/**
 * The technicians' review page: log in, the queue (live over SSE), an item's evidence and the
 * decision, maintenance work orders, and the fleet. Hash routes keep it a single static page:
 * #/queue, #/review/<id>, #/work-orders, #/incidents, #/incident/<id>, #/fleet, #/gateway/<id>, #/point/<gw>/<device>/<point>,
 * #/enroll (admins).
 */
import { api, ApiError } from './api.js';
import { h } from './dom.js';
import { fleetView, gatewayView, pointView } from './fleet.js';
import { commandStatus, detailView, queueView, sortQueue } from './review.js';
import { workOrdersView } from './work-orders.js';
import { incidentsView, incidentView, type IncidentFilter } from './incidents.js';
import { enrollmentView } from './enrollment.js';
import type { Command, Gateway, Me, ReviewItem } from './types.js';

const main = document.getElementById('main') as HTMLElement;
const status = document.getElementById('status') as HTMLElement;
const who = document.getElementById('who') as HTMLElement;
const logoutBtn = document.getElementById('logout') as HTMLButtonElement;
const nav = document.getElementById('nav') as HTMLElement;

let me: Me | undefined;
let stream: EventSource | undefined;
/** Why a decision on the item about to be shown again was not recorded (a 409), shown once. */
let staleNotice: string | undefined;
let filter = 'pending';
let workOrderState: 'open' | 'closed' = 'open';
let incidentFilter: IncidentFilter = { state: 'open', kind: '' };
let pointRange = 86_400_000;
const commands = new Map<string, Command>();

function announce(text: string): void {
  status.textContent = '';
  // A fresh text node makes screen readers repeat identical messages.
  setTimeout(() => (status.textContent = text), 30);
}

type Field = HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement;

/** Whether the user changed a field from the value it was rendered with. */
function edited(el: Field): boolean {
  if (el instanceof HTMLSelectElement) return Array.from(el.options).some((o) => o.selected !== o.defaultSelected);
  if (el instanceof HTMLInputElement && (el.type === 'checkbox' || el.type === 'radio')) return el.checked !== el.defaultChecked;
  return el.value !== el.defaultValue;
}

/**
 * A live reload of the view on screen keeps what the user was doing: the text typed (a reason, a
 * new value), the sections opened and the field in focus, matched by id in the new view.
 */
function carryOver(from: HTMLElement, to: HTMLElement): string | undefined {
  for (const el of Array.from(from.querySelectorAll<Field>('input[id], textarea[id], select[id]'))) {
    const next = to.querySelector<Field>(`#${CSS.escape(el.id)}`);
    if (!next || next.tagName !== el.tagName || !edited(el)) continue;
    if (el instanceof HTMLInputElement && next instanceof HTMLInputElement && (el.type === 'checkbox' || el.type === 'radio')) next.checked = el.checked;
    else next.value = el.value;
  }
  const opened = Array.from(from.querySelectorAll('details')).map((d) => d.open);
  const details = Array.from(to.querySelectorAll('details'));
  if (details.length === opened.length) details.forEach((d, i) => (d.open = opened[i] ?? d.open));
  const active = document.activeElement;
  return active instanceof HTMLElement && active.id && from.contains(active) ? active.id : undefined;
}

let shownRoute = '';
function show(view: HTMLElement, focus = true): void {
  const previous = main.firstElementChild;
  const focused = !focus && shownRoute === location.hash && previous instanceof HTMLElement ? carryOver(previous, view) : undefined;
  shownRoute = location.hash;
  main.replaceChildren(view);
  if (focus) (main.querySelector('h1') as HTMLElement | null)?.focus();
  else if (focused) document.getElementById(focused)?.focus();
}

function loginView(message?: string): HTMLElement {
  const user = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none' });
  const pass = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const error = h('p', { class: 'error', role: 'alert', hidden: !message }, message ?? '');
  const button = h('button', { type: 'submit', class: 'btn primary' }, 'Log in');
  const form = h(
    'form',
    { class: 'login', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title', tabindex: '-1' }, 'Log in'),
    h('div', { class: 'field' }, h('label', { for: 'username' }, 'User name'), user),
    h('div', { class: 'field' }, h('label', { for: 'password' }, 'Password'), pass),
    error,
    button,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    button.disabled = true;
    api.login(user.value.trim(), pass.value).then(
      async () => {
        await start();
        if (!location.hash || location.hash === '#/login') location.hash = '#/queue';
        else void route();
      },
      (err: unknown) => {
        button.disabled = false;
        error.hidden = false;
        error.textContent = err instanceof ApiError ? `${err.message}. ${err.hint}` : 'Cannot reach the hub.';
        pass.focus();
      },
    );
  });
  return form;
}

function signedOut(message?: string): void {
  me = undefined;
  stream?.close();
  stream = undefined;
  who.textContent = '';
  logoutBtn.hidden = true;
  nav.hidden = true;
  show(loginView(message));
  (document.getElementById('username') as HTMLInputElement).focus();
}

async function start(): Promise<void> {
  me = await api.me();
  who.textContent = `${me.name} (${me.role})`;
  logoutBtn.setAttribute('aria-label', `Log out ${me.name}`);
  logoutBtn.hidden = false;
  nav.hidden = false;
  (document.getElementById('nav-enroll') as HTMLElement).hidden = me.role !== 'admin';
  stream?.close();
  stream = new EventSource('/api/v1/stream');
  stream.addEventListener('review', (e) => onReview(JSON.parse((e as MessageEvent<string>).data) as ReviewItem));
  stream.addEventListener('gateway', () => onFleetChange());
  stream.addEventListener('gateways', () => onFleetChange());
  stream.addEventListener('deployment', () => onFleetChange());
  stream.addEventListener('incident', () => onIncident());
  stream.addEventListener('command', (e) => onCommand(JSON.parse((e as MessageEvent<string>).data) as Command));
  let lost = false;
  // After a reconnect (hub restart, network change) the view may be stale: reload it once.
  const conn = document.getElementById('conn') as HTMLElement;
  stream.addEventListener('open', () => {
    if (lost) refresh();
    lost = false;
    conn.hidden = true;
  });
  stream.addEventListener('error', () => {
    lost = true;
    conn.hidden = false;
    // The session may have ended (401 closes the stream for good): check and show the login.
    if (stream?.readyState === EventSource.CLOSED) api.me().catch(() => signedOut('Your session ended; log in again.'));
  });
}

function current(): string[] {
  return location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
}

let refreshTimer: number | undefined;
/** Bursts of live events (a sweep, a busy site) cause one reload of the view, not one each. */
function refresh(): void {
  if (refreshTimer !== undefined) return;
  refreshTimer = window.setTimeout(() => {
    refreshTimer = undefined;
    void route(false);
  }, 200);
}

function onReview(item: ReviewItem): void {
  const [page, id] = current();
  if (page === 'queue' || page === '') refresh();
  else if (page === 'review' && id === item.id) refresh();
}

function onFleetChange(): void {
  const [page] = current();
  if (page === 'fleet' || page === 'gateway') refresh();
}

function onIncident(): void {
  const [page] = current();
  if (page === 'incidents' || page === 'incident') refresh();
}

function onCommand(c: Command): void {
  commands.set(c.id, c);
  // The item on screen follows its own command in place; other commands change nothing here.
  const el = document.getElementById('command-status');
  if (el?.dataset.command === c.id) el.textContent = commandStatus(c);
}

async function route(focus = true): Promise<void> {
  if (!me) return;
  const [page = 'queue', a, b, c] = current();
  try {
    if (page === 'review' && a) {
      const item = await api.review(a);
      let command = item.commandId ? commands.get(item.commandId) : undefined;
      if (item.commandId && !command) command = await api.command(item.commandId).catch(() => undefined);
      // After a decision the heading takes focus again, so the new state is read out and in view.
      const notice = staleNotice;
      staleNotice = undefined;
      show(
        detailView(item, me, command, {
          announce,
          onDecided: () => void route(true),
          onStale: (message) => {
            staleNotice = message;
            void route(true);
          },
        }, notice),
        focus,
      );
    } else if (page === 'work-orders') {
      const orders = (await api.workOrders(workOrderState)).items;
      show(
        workOrdersView(orders, me, workOrderState, {
          announce,
          onState: (v) => {
            workOrderState = v;
            void route(false);
          },
          onClosed: () => void route(true),
        }),
        focus,
      );
    } else if (page === 'incidents') {
      const items = (await api.incidents(incidentFilter.state, incidentFilter.kind || undefined)).items;
      show(
        incidentsView(items, incidentFilter, (f) => {
          incidentFilter = f;
          void route(false);
        }),
        focus,
      );
    } else if (page === 'incident' && a) {
      show(incidentView(await api.incident(a)), focus);
    } else if (page === 'enroll') {
      const [tokens, gateways] = await Promise.all([api.enrollmentTokens(), api.enrolledGateways()]);
      show(enrollmentView(tokens.items, gateways.items, { announce, onChanged: () => void route(false) }), focus);
    } else if (page === 'fleet') {
      const [fleet, deployments] = await Promise.all([api.gateways(), api.deployments().catch(() => ({ items: [] }))]);
      show(fleetView(fleet.gateways, deployments.items), focus);
    } else if (page === 'gateway' && a) {
      const [g, pts]: [Gateway, Awaited<ReturnType<typeof api.points>>] = await Promise.all([api.gateway(a), api.points(a)]);
      show(gatewayView(g, pts.points), focus);
    } else if (page === 'point' && a && b && c) {
      show(
        await pointView(a, b, c, pointRange, (ms) => {
          pointRange = ms;
          void route(false);
        }),
        focus,
      );
    } else {
      const items = sortQueue((await api.reviews(filter || undefined)).items);
      show(
        queueView(items, filter, (v) => {
          filter = v;
          void route(false);
        }),
        focus,
      );
    }
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return signedOut('Your session ended; log in again.');
    // fetch() itself failing (a TypeError) means no answer at all: the hub is down or unreachable.
    const unreachable = err instanceof TypeError;
    const retry = h('button', { class: 'btn', type: 'button' }, 'Try again');
    retry.addEventListener('click', () => void route(true));
    show(
      h(
        'section',
        {},
        h('h1', { tabindex: '-1' }, unreachable ? 'Cannot reach the hub' : 'Something went wrong'),
        h('p', { class: 'error', role: 'alert' }, err instanceof ApiError ? `${err.message}. ${err.hint}` : unreachable ? 'The hub did not answer: it may be restarting, or this phone has lost its network. Nothing was changed.' : String(err)),
        h('p', {}, retry, ' ', h('a', { href: '#/queue' }, 'Back to the queue')),
      ),
    );
  }
}

logoutBtn.addEventListener('click', () => {
  api.logout().finally(() => signedOut('Logged out.'));
});
window.addEventListener('hashchange', () => void route());

api.me().then(
  async () => {
    await start();
    await route();
  },
  () => signedOut(),
);
