/// <reference lib="dom" />
/** The review queue (highest priority first) and an item's detail with evidence and decisions. */
import { api, apiErrorText, ApiError } from './api.js';
import { chart, isBinary, numeric } from './chart.js';
import { ago, breakable, fmt, h, staleNotice } from './dom.js';
import type { Action, Command, Me, ReviewItem } from './types.js';

export function describeAction(a: Action): string {
  return a.kind === 'write' ? `Set ${a.device}.${a.point} to ${fmt(a.value)}` : `Switch to ${a.mode} mode`;
}

function priorityClass(p: number): string {
  return p >= 75 ? 'p-high' : p >= 40 ? 'p-mid' : 'p-low';
}

export function stateBadge(state: string): HTMLElement {
  return h('span', { class: `badge st-${state}` }, state);
}

export function commandStatus(c: Command): string {
  return `${c.status}${c.reason ? ` — ${c.reason}` : ''}`;
}

export function sortQueue(items: ReviewItem[]): ReviewItem[] {
  return items.sort((a, b) => b.priority - a.priority || a.createdAt - b.createdAt);
}

export function queueView(items: ReviewItem[], filter: string, onFilter: (state: string) => void): HTMLElement {
  const select = h(
    'select',
    { id: 'state-filter', onchange: (e: Event) => onFilter((e.target as HTMLSelectElement).value) },
    ...['pending', 'approved', 'executed', 'rejected', 'failed', 'expired', ''].map((v) => h('option', { value: v, selected: v === filter }, v || 'all')),
  );
  const list = h('ul', { class: 'cards', 'aria-label': 'Review items, highest priority first' });
  for (const it of items) {
    list.append(
      h(
        'li',
        {},
        h(
          'a',
          { href: `#/review/${encodeURIComponent(it.id)}`, class: 'card', 'data-id': it.id },
          h('span', { class: `prio ${priorityClass(it.priority)}`, 'aria-label': `priority ${it.priority}` }, String(it.priority)),
          h(
            'span',
            { class: 'card-body' },
            h('strong', {}, breakable(describeAction(it.modifiedAction ?? it.action))),
            h('span', { class: 'muted' }, `${it.gateway} · ${it.site} · ${it.actionClass}`),
            h('span', { class: 'muted' }, `confidence ${Math.round(it.confidence * 100)}% · ${it.state === 'pending' ? `expires ${ago(it.expiresAt)}` : `${it.state} ${ago(it.decidedAt ?? it.createdAt)}`}`),
          ),
          stateBadge(it.state),
        ),
      ),
    );
  }
  return h(
    'section',
    { 'aria-labelledby': 'queue-title' },
    h('div', { class: 'row' }, h('h1', { id: 'queue-title', tabindex: '-1' }, 'Review queue'), h('span', { class: 'count' }, `${items.length}`)),
    h('div', { class: 'field inline' }, h('label', { for: 'state-filter' }, 'Show'), select),
    items.length === 0 ? h('p', { class: 'empty' }, 'Nothing to review.') : list,
  );
}

interface Telemetry {
  device?: string;
  point?: string;
  unit?: string;
  samples?: { ts: number; value: unknown }[];
  /** An on/off point, as the hub read it from the raw values (its samples may be bucket averages). */
  binary?: boolean;
}
interface VoteView {
  voter?: string;
  choice?: string;
  confidence?: number;
  reason?: string;
}

function evidenceCharts(evidence: Record<string, unknown>): HTMLElement[] {
  const windows = (Array.isArray(evidence.telemetry) ? evidence.telemetry : []) as Telemetry[];
  return windows.map((w) => chart({ label: `${w.device ? `${w.device}.` : ''}${w.point ?? 'value'}`, unit: w.unit, binary: w.binary === true || isBinary(w.samples ?? []), points: numeric(w.samples ?? []) }));
}

function votesTable(title: string, votes: VoteView[]): HTMLElement | null {
  if (votes.length === 0) return null;
  return h(
    'table',
    { class: 'votes' },
    h('caption', {}, title),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Agent'), h('th', { scope: 'col' }, 'Vote'), h('th', { scope: 'col' }, 'Conf.'))),
    h(
      'tbody',
      {},
      votes.map((v) => h('tr', {}, h('th', { scope: 'row' }, v.voter ?? '?'), h('td', {}, v.choice ?? '', v.reason ? h('div', { class: 'muted' }, v.reason) : null), h('td', {}, v.confidence === undefined ? '' : `${Math.round(v.confidence * 100)}%`))),
    ),
  );
}

export interface DetailHandlers {
  readonly onDecided: (item: ReviewItem) => void;
  /** The item changed under the technician (decided elsewhere, expired): show it again, saying why. */
  readonly onStale: (message: string) => void;
  readonly announce: (text: string) => void;
}

function errorText(err: unknown): string {
  if (err instanceof ApiError) return apiErrorText(err);
  // fetch() itself failed (a TypeError): the request may or may not have reached the hub.
  if (err instanceof TypeError) return 'The hub did not answer (restarting, or no network): the decision may not have been recorded. Reload the item to see its state.';
  return String(err);
}

/** What the Command row says: the command's own status, or why there is none (yet). */
function commandText(item: ReviewItem, command: Command | undefined): string {
  if (command) return commandStatus(command);
  if (item.state === 'approved') return 'not sent yet (waiting for the gateway)';
  if (item.state === 'executed') return 'sent';
  return 'not sent';
}

/**
 * Why a decision on the item was not recorded (it was decided elsewhere or expired meanwhile), or,
 * when the user decided it themselves (the answer to their request was lost), that it was.
 */
export function itemNotice(item: ReviewItem, me: Me, reason: string): HTMLElement {
  if (item.state !== 'pending' && item.decidedBy === me.name) {
    return staleNotice(`Your decision was recorded: ${item.state}, decided by you ${ago(item.decidedAt ?? item.createdAt)}. This is the item as it is now.`, true);
  }
  return staleNotice(`Not recorded: ${reason}. This is the item as it is now.`);
}

/**
 * A value typed for a numeric point: "21.5", or "21,5" from a phone keyboard with a decimal comma.
 * A comma followed by three digits ("1,500") may be a thousands separator: not a number here.
 */
function parseDecimal(raw: string): number {
  if (/,\d{3}$/.test(raw.trim())) return Number.NaN;
  return Number(/^[^.,]*,[^.,]*$/.test(raw) ? raw.replace(',', '.') : raw);
}

export function detailView(item: ReviewItem, me: Me, command: Command | undefined, handlers: DetailHandlers, notice?: string): HTMLElement {
  const canDecide = item.state === 'pending' && (me.role === 'technician' || me.role === 'admin');
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const run = async (button: HTMLButtonElement, what: () => Promise<ReviewItem>, done: string) => {
    button.disabled = true;
    error.hidden = true;
    try {
      const updated = await what();
      handlers.announce(done);
      handlers.onDecided(updated);
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) {
        // Decided by someone else or expired meanwhile: this view is stale, show the item as it is.
        handlers.onStale(err.message);
        return;
      }
      error.textContent = errorText(err);
      error.hidden = false;
      button.disabled = false;
    }
  };

  const decisions: HTMLElement[] = [];
  if (canDecide) {
    // Approving sends a command to equipment: a second tap confirms it (a phone in a plant room
    // is tapped by accident), naming what goes where; the first tap's offer lapses after 5 s.
    const approve = h('button', { type: 'button', class: 'btn primary', id: 'approve' }, 'Approve');
    let armed: number | undefined;
    const disarm = (): void => {
      window.clearTimeout(armed);
      armed = undefined;
      approve.textContent = 'Approve';
    };
    approve.addEventListener('click', () => {
      if (armed === undefined) {
        approve.replaceChildren(...breakable(`Confirm: ${describeAction(item.action)} on ${item.gateway}`));
        handlers.announce('Tap again to confirm');
        armed = window.setTimeout(disarm, 5000);
        return;
      }
      window.clearTimeout(armed);
      armed = undefined;
      // Failed (no answer, refused): the button asks afresh, two taps again, not "Confirm" with one.
      void run(approve, () => api.approve(item.id), 'Approved').then(disarm);
    });
    const reason = h('textarea', { id: 'reject-reason', name: 'reason', required: true, rows: 2, maxlength: 2000 });
    const rejectBtn = h('button', { type: 'submit', class: 'btn danger', id: 'reject' }, 'Reject');
    const rejectForm = h('form', { class: 'decision', 'aria-label': 'Reject', novalidate: true }, h('label', { for: 'reject-reason' }, 'Reason for rejecting'), reason, rejectBtn);
    rejectForm.addEventListener('submit', (e) => {
      e.preventDefault();
      if (!reason.value.trim()) {
        error.textContent = 'Give a reason for rejecting.';
        error.hidden = false;
        reason.focus();
        return;
      }
      void run(rejectBtn, () => api.reject(item.id, reason.value.trim()), 'Rejected');
    });
    decisions.push(h('div', { class: 'actions' }, approve), rejectForm);
    const a = item.action;
    const modBtn = h('button', { type: 'submit', class: 'btn', id: 'modify-submit' }, 'Approve with this value');
    let input: HTMLInputElement | HTMLSelectElement;
    if (a.kind === 'write' && typeof a.value === 'boolean') {
      // On or off, chosen: typed, a phone's capital "True" (or "on", "1") must not become false.
      input = h('select', { id: 'modify-value', name: 'value' }, h('option', { value: 'true', selected: a.value }, 'On (true)'), h('option', { value: 'false', selected: !a.value }, 'Off (false)'));
    } else if (a.kind === 'write') {
      input = h('input', { id: 'modify-value', name: 'value', value: String(a.value), inputmode: typeof a.value === 'number' ? 'decimal' : 'text', required: true });
    } else {
      input = h('select', { id: 'modify-value', name: 'value' }, ...['auto', 'manual', 'maintenance'].map((m) => h('option', { value: m, selected: m === a.mode }, m)));
    }
    const modForm = h('form', { class: 'decision', 'aria-label': 'Modify', novalidate: true }, h('label', { for: 'modify-value' }, a.kind === 'write' ? breakable(`New value for ${a.device}.${a.point}`) : 'Mode'), input, modBtn);
    modForm.addEventListener('submit', (e) => {
      e.preventDefault();
      let action: Action;
      if (a.kind === 'write') {
        const raw = input.value.trim();
        const value = typeof a.value === 'number' ? parseDecimal(raw) : typeof a.value === 'boolean' ? raw === 'true' : raw;
        if (raw === '' || (typeof value === 'number' && !Number.isFinite(value))) {
          error.textContent = typeof a.value === 'number' ? 'Enter a number.' : 'Enter a value.';
          error.hidden = false;
          input.focus();
          return;
        }
        action = { ...a, value };
      } else action = { kind: 'mode', mode: input.value as 'auto' };
      void run(modBtn, () => api.modify(item.id, action), 'Approved with a modified value');
    });
    decisions.push(h('details', {}, h('summary', {}, 'Modify'), modForm));
  }

  const votes = (Array.isArray(item.evidence.votes) ? item.evidence.votes : []) as VoteView[];
  const dissent = (Array.isArray(item.evidence.dissent) ? item.evidence.dissent : []) as VoteView[];
  const row = (k: string, v: Node | string) => [h('dt', {}, k), h('dd', {}, v)];
  return h(
    'article',
    { 'aria-labelledby': 'item-title', 'data-state': item.state },
    h('a', { href: '#/queue', class: 'back' }, '← Queue'),
    h('h1', { id: 'item-title', tabindex: '-1' }, breakable(describeAction(item.modifiedAction ?? item.action))),
    notice ? itemNotice(item, me, notice) : null,
    h(
      'dl',
      { class: 'facts' },
      row('State', stateBadge(item.state)),
      row('Priority', String(item.priority)),
      row('Gateway', `${item.gateway} (${item.site})`),
      row('Proposed by', item.sourceAgent ? `agent ${item.sourceAgent}` : item.source),
      row('Confidence', `${Math.round(item.confidence * 100)}%`),
      row(item.state === 'pending' ? 'Expires' : 'Decided', item.state === 'pending' ? ago(item.expiresAt) : `${item.decidedBy ?? 'system'} ${ago(item.decidedAt ?? item.createdAt)}`),
      item.modifiedAction ? row('Originally', h('span', {}, breakable(describeAction(item.action)))) : [],
      item.reason ? row('Note', item.reason) : [],
      item.commandId ? row('Command', h('span', { id: 'command-status', 'data-command': item.commandId }, commandText(item, command))) : [],
    ),
    h('h2', {}, 'Why'),
    h('p', { class: 'rationale' }, item.rationale),
    h('h2', {}, 'Evidence'),
    ...evidenceCharts(item.evidence),
    votesTable('Votes', votes),
    votesTable('Dissent', dissent),
    error,
    decisions.length ? h('section', { 'aria-label': 'Decision', class: 'decide' }, ...decisions) : null,
  );
}
