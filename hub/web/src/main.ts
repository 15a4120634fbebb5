/// <reference lib="dom" />
/**
 * The technicians' review page: log in, the queue (live over SSE), an item's evidence and the
 * decision, maintenance work orders, and the fleet. Hash routes keep it a single static page:
 * #/queue, #/review/<id>, #/work-orders, #/incidents, #/incident/<id>, #/fleet, #/gateway/<id>, #/point/<gw>/<device>/<point>,
 * #/enroll (admins).
 */
import { api, apiErrorText, ApiError, onSessionEnded } from './api.js';
import { h, staleNotice } from './dom.js';
import { fleetView, gatewayView, pointView } from './fleet.js';
import { commandStatus, detailView, itemNotice, queueView, sortQueue } from './review.js';
import { workOrdersView } from './work-orders.js';
import { incidentsView, incidentView, type IncidentFilter } from './incidents.js';
import { enrollmentView, forgetCreatedTokens } from './enrollment.js';
import type { Command, Gateway, Me, ReviewItem } from './types.js';

const main = document.getElementById('main') as HTMLElement;
const status = document.getElementById('status') as HTMLElement;
const who = document.getElementById('who') as HTMLElement;
const logoutBtn = document.getElementById('logout') as HTMLButtonElement;
const nav = document.getElementById('nav') as HTMLElement;

let me: Me | undefined;
let stream: EventSource | undefined;
/** Why a decision on the item about to be shown again was not recorded (a 409), shown once. */
let staleReason: string | undefined;
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
/** Fields the user changed, by id: the text typed or chosen, or a checkbox's state. */
type Typed = Record<string, string | boolean>;

const checkable = (el: Field): el is HTMLInputElement => el instanceof HTMLInputElement && (el.type === 'checkbox' || el.type === 'radio');

/** Whether the user changed a field from the value it was rendered with. */
function edited(el: Field): boolean {
  if (el instanceof HTMLSelectElement) return Array.from(el.options).some((o) => o.selected !== o.defaultSelected);
  if (checkable(el)) return el.checked !== el.defaultChecked;
  return el.value !== el.defaultValue;
}

/** What the user typed or chose in a view (never a password). */
function typedIn(view: ParentNode): Typed {
  const out: Typed = {};
  for (const el of Array.from(view.querySelectorAll<Field>('input[id], textarea[id], select[id]'))) {
    if (edited(el) && el.type !== 'password') out[el.id] = checkable(el) ? el.checked : el.value;
  }
  return out;
}

/** Puts typed values back into a view by field id, opening a section that hides one; answers the ids it has no such field for. */
function putBack(view: ParentNode, typed: Typed): string[] {
  const missing: string[] = [];
  for (const [id, value] of Object.entries(typed)) {
    const el = view.querySelector(`#${CSS.escape(id)}`);
    const field = el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement ? el : undefined;
    if (!field || checkable(field) !== (typeof value === 'boolean')) {
      missing.push(id);
      continue;
    }
    if (checkable(field)) field.checked = value === true;
    else field.value = String(value);
    field.closest('details')?.setAttribute('open', '');
  }
  return missing;
}

/**
 * A live reload of the view on screen keeps what the user was doing: the text typed (a reason, a
 * new value), the sections opened and the field in focus, matched by id in the new view. `lost`:
 * the new view has no place for something typed or for the control in focus (the item was
 * decided elsewhere meanwhile).
 */
function carryOver(from: HTMLElement, to: HTMLElement): { focused?: string; lost: boolean } {
  const missing = putBack(to, typedIn(from));
  const opened = Array.from(from.querySelectorAll('details')).map((d) => d.open);
  const details = Array.from(to.querySelectorAll('details'));
  if (details.length === opened.length) details.forEach((d, i) => (d.open = opened[i] ?? d.open));
  const active = document.activeElement;
  const focused = active instanceof HTMLElement && active.id && from.contains(active) ? active.id : undefined;
  return { focused, lost: missing.length > 0 || (focused !== undefined && !to.querySelector(`#${CSS.escape(focused)}`)) };
}

/** What the page says when a live reload drops what the user typed or was on (the review item has its own: itemNotice). */
const changedNotice = (reason: string): HTMLElement => staleNotice(`Not recorded: ${reason}. This is how it is now.`);
const CHANGED = 'it changed on the hub while you were on it';

/** Drafts: what was typed when the session ended, put back after the next login (per tab, user and route). */
const draftKey = (user: string, hash: string): string => `swarmgate.draft:${user}:${hash}`;

function saveDraft(): void {
  const view = main.firstElementChild;
  if (!me || !(view instanceof HTMLElement) || shownRoute !== location.hash) return;
  const typed = typedIn(view);
  if (Object.keys(typed).length === 0) return;
  try {
    sessionStorage.setItem(draftKey(me.name, location.hash), JSON.stringify(typed));
  } catch {
    // Storage full or off (a private window): the text is lost as before, the login still shows.
  }
}

function takeDraft(): Typed | undefined {
  if (!me) return undefined;
  const key = draftKey(me.name, location.hash);
  try {
    const text = sessionStorage.getItem(key);
    sessionStorage.removeItem(key);
    return text === null ? undefined : (JSON.parse(text) as Typed);
  } catch {
    return undefined;
  }
}

let shownRoute = '';
/**
 * Puts a view on screen. A live reload (focus false) of the route on screen carries over what the
 * user was doing; when it cannot (see carryOver), `notice` says so above the new view and its
 * heading takes focus. What was typed before a session ended comes back here after the login.
 */
function show(view: HTMLElement, focus = true, notice: (reason: string) => HTMLElement = changedNotice): void {
  const previous = main.firstElementChild;
  const kept = !focus && shownRoute === location.hash && previous instanceof HTMLElement ? carryOver(previous, view) : undefined;
  if (kept?.lost) view.querySelector('h1')?.after(notice(CHANGED));
  else if (kept && !view.querySelector('#stale-notice')) {
    // A notice on screen stays through live reloads (the item executed after it was decided elsewhere), said once.
    const said = previous?.querySelector('#stale-notice')?.cloneNode(true);
    if (said instanceof HTMLElement) {
      said.removeAttribute('role');
      view.querySelector('h1')?.after(said);
    }
  }
  const draft = takeDraft();
  const restored = draft !== undefined && putBack(view, draft).length < Object.keys(draft).length;
  shownRoute = location.hash;
  main.replaceChildren(view);
  if (focus || kept?.lost) (main.querySelector('h1') as HTMLElement | null)?.focus();
  else if (kept?.focused) document.getElementById(kept.focused)?.focus();
  if (restored) announce('What you typed before the session ended is back: check it and send it again.');
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
        error.textContent = err instanceof ApiError ? apiErrorText(err) : 'Cannot reach the hub.';
        pass.focus();
      },
    );
  });
  return form;
}

let reconnectTimer: number | undefined;
let reconnects = 0;

function signedOut(message?: string): void {
  me = undefined;
  stream?.close();
  stream = undefined;
  window.clearTimeout(reconnectTimer);
  reconnectTimer = undefined;
  forgetCreatedTokens();
  who.textContent = '';
  logoutBtn.hidden = true;
  nav.hidden = true;
  show(loginView(message));
  (document.getElementById('username') as HTMLInputElement).focus();
}

/** The hub no longer knows the session (it expired, was revoked): log in again; what was typed comes back after. */
function sessionEnded(): void {
  if (!me) return;
  saveDraft();
  signedOut('Your session ended; log in again.');
}
onSessionEnded(sessionEnded);

async function start(): Promise<void> {
  me = await api.me();
  who.textContent = `${me.name} (${me.role})`;
  logoutBtn.setAttribute('aria-label', `Log out ${me.name}`);
  logoutBtn.hidden = false;
  nav.hidden = false;
  (document.getElementById('nav-enroll') as HTMLElement).hidden = me.role !== 'admin';
  window.clearTimeout(reconnectTimer);
  reconnects = 0;
  connect(false);
}

/** Opens the live stream; `reopened`: the view on screen may be stale, reload it once the stream is back. */
function connect(reopened: boolean): void {
  stream?.close();
  const s = new EventSource('/api/v1/stream');
  stream = s;
  s.addEventListener('review', (e) => onReview(JSON.parse((e as MessageEvent<string>).data) as ReviewItem));
  s.addEventListener('gateway', () => onFleetChange());
  s.addEventListener('gateways', () => onFleetChange());
  s.addEventListener('deployment', () => onFleetChange());
  s.addEventListener('incident', () => onIncident());
  s.addEventListener('command', (e) => onCommand(JSON.parse((e as MessageEvent<string>).data) as Command));
  let lost = reopened;
  // After a reconnect (hub restart, network change) the view may be stale: reload it once.
  const conn = document.getElementById('conn') as HTMLElement;
  s.addEventListener('open', () => {
    if (lost) refresh();
    lost = false;
    reconnects = 0;
    conn.hidden = true;
  });
  s.addEventListener('error', () => {
    lost = true;
    conn.hidden = false;
    // EventSource retries by itself, except after an answer that is not a stream (a 401, a
    // proxy's 502 while the hub restarts): then it is closed for good and reopened here.
    if (s.readyState === EventSource.CLOSED && stream === s) streamClosed();
  });
}

/** The stream was refused: a 401 ends the session; anything else is tried again, waiting longer each time (1 s to 30 s). */
function streamClosed(): void {
  api.me().then(
    () => later(() => connect(true)),
    (err: unknown) => (err instanceof ApiError && err.status === 401 ? sessionEnded() : later(streamClosed)),
  );
}

function later(next: () => void): void {
  window.clearTimeout(reconnectTimer);
  const delay = Math.min(30_000, 1000 * 2 ** reconnects);
  reconnects += 1;
  reconnectTimer = window.setTimeout(() => {
    reconnectTimer = undefined;
    if (me) next();
  }, delay);
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

let routeSeq = 0;
/** Whether the view route() shows next takes focus: a call that a newer one overtook hands it on. */
let focusNext = false;

async function route(focus = true): Promise<void> {
  const user = me;
  if (!user) return;
  const seq = ++routeSeq;
  focusNext ||= focus;
  const hash = location.hash;
  /**
   * Shows the view of this call if it is still the newest for the route on screen: a slow answer
   * (a live reload of the queue on a weak signal) must not replace what the user opened since.
   */
  const put = (view: HTMLElement, notice?: (reason: string) => HTMLElement): boolean => {
    if (seq !== routeSeq || hash !== location.hash || me !== user) return false;
    const withFocus = focusNext;
    focusNext = false;
    show(view, withFocus, notice);
    return true;
  };
  const [page = 'queue', a, b, c] = current();
  // The secrets of tokens just created are shown on their own view only.
  if (page !== 'enroll') forgetCreatedTokens();
  try {
    if (page === 'review' && a) {
      const item = await api.review(a);
      let command = item.commandId ? commands.get(item.commandId) : undefined;
      if (item.commandId && !command) command = await api.command(item.commandId).catch(() => undefined);
      const reason = staleReason;
      const view = detailView(
        item,
        user,
        command,
        {
          announce,
          // After a decision the heading takes focus again, so the new state is read out and in view.
          onDecided: () => void route(true),
          onStale: (message) => {
            staleReason = message;
            void route(true);
          },
        },
        reason,
      );
      if (put(view, (why) => itemNotice(item, user, why)) && reason === staleReason) staleReason = undefined;
    } else if (page === 'work-orders') {
      const orders = (await api.workOrders(workOrderState)).items;
      put(
        workOrdersView(orders, user, workOrderState, {
          announce,
          onState: (v) => {
            workOrderState = v;
            void route(false);
          },
          onClosed: () => void route(true),
        }),
      );
    } else if (page === 'incidents') {
      const items = (await api.incidents(incidentFilter.state, incidentFilter.kind || undefined)).items;
      put(
        incidentsView(items, incidentFilter, (f) => {
          incidentFilter = f;
          void route(false);
        }),
      );
    } else if (page === 'incident' && a) {
      put(incidentView(await api.incident(a)));
    } else if (page === 'enroll') {
      const [tokens, gateways] = await Promise.all([api.enrollmentTokens(), api.enrolledGateways()]);
      put(enrollmentView(tokens.items, gateways.items, { announce, onChanged: () => void route(false) }));
    } else if (page === 'fleet') {
      const [fleet, deployments] = await Promise.all([api.gateways(), api.deployments().catch(() => ({ items: [] }))]);
      put(fleetView(fleet.gateways, deployments.items));
    } else if (page === 'gateway' && a) {
      const [g, pts]: [Gateway, Awaited<ReturnType<typeof api.points>>] = await Promise.all([api.gateway(a), api.points(a)]);
      put(gatewayView(g, pts.points));
    } else if (page === 'point' && a && b && c) {
      put(
        await pointView(a, b, c, pointRange, (ms) => {
          pointRange = ms;
          void route(false);
        }),
      );
    } else {
      const items = sortQueue((await api.reviews(filter || undefined)).items);
      put(
        queueView(items, filter, (v) => {
          filter = v;
          void route(false);
        }),
      );
    }
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return sessionEnded();
    // fetch() itself failing (a TypeError) means no answer at all: the hub is down or unreachable.
    const unreachable = err instanceof TypeError;
    const retry = h('button', { class: 'btn', type: 'button' }, 'Try again');
    retry.addEventListener('click', () => void route(true));
    put(
      h(
        'section',
        {},
        h('h1', { tabindex: '-1' }, unreachable ? 'Cannot reach the hub' : 'Something went wrong'),
        h('p', { class: 'error', role: 'alert' }, err instanceof ApiError ? apiErrorText(err) : unreachable ? 'The hub did not answer: it may be restarting, or this phone has lost its network. Nothing was changed.' : String(err)),
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
