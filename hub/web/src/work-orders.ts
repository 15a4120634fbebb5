/// <reference lib="dom" />
/** Maintenance work orders: open ones most urgent first, each closable with a note of what was done. */
import { api, apiErrorText, ApiError } from './api.js';
import { ago, breakable, h } from './dom.js';
import type { Me, WorkOrder } from './types.js';

const URGENCY_CLASS: Record<WorkOrder['urgency'], string> = { critical: 'p-high', high: 'p-high', normal: 'p-mid', low: 'p-low' };

/** What a technician needs to know about the condition behind the order. */
function conditionText(o: WorkOrder): string {
  if (o.state === 'open') {
    const occurred = o.seen > 1 ? ` · occurred ${o.seen} times` : '';
    const condition = o.clearedAt === undefined ? `still present (seen ${ago(o.lastSeenAt)})` : `cleared ${ago(o.clearedAt)}`;
    return `opened ${ago(o.createdAt)} · ${condition}${occurred}`;
  }
  const closedAt = o.closedAt ?? o.updatedAt;
  const after = o.lastSeenAt > closedAt && o.clearedAt === undefined ? ' · the condition is still present; a new order opens once it clears and comes back' : '';
  return `closed ${ago(closedAt)} by ${o.closedBy ?? '?'}: ${o.note ?? ''}${after}`;
}

export function workOrdersView(orders: WorkOrder[], me: Me, state: 'open' | 'closed', hooks: { announce(text: string): void; onState(state: 'open' | 'closed'): void; onClosed(): void }): HTMLElement {
  const select = h(
    'select',
    { id: 'wo-filter', onchange: (e: Event) => hooks.onState((e.target as HTMLSelectElement).value as 'open' | 'closed') },
    ...(['open', 'closed'] as const).map((v) => h('option', { value: v, selected: v === state }, v)),
  );
  const list = h('ul', { class: 'cards', 'aria-label': 'Work orders, most urgent first' });
  const canClose = me.role !== 'viewer';
  for (const o of orders) {
    const body = h(
      'div',
      { class: 'card-body' },
      h('div', { class: 'wo-head' }, h('span', { class: 'sr-only' }, 'Urgency: '), h('span', { class: `badge urgency ${URGENCY_CLASS[o.urgency]}` }, o.urgency), h('strong', {}, breakable(o.task))),
      h('span', {}, breakable(o.problem)),
      h('span', { class: 'muted' }, breakable(`${o.equipment} · ${o.gateway} · ${o.site} · by ${o.sourceAgent}`)),
      h('span', { class: 'muted' }, conditionText(o)),
    );
    const card = h('li', { class: 'card wo', 'data-work-order': o.id }, body);
    if (o.state === 'open' && canClose) body.append(closeForm(o, hooks));
    list.append(card);
  }
  return h(
    'section',
    { 'aria-labelledby': 'wo-title' },
    h('div', { class: 'row' }, h('h1', { id: 'wo-title', tabindex: '-1' }, 'Work orders'), h('span', { class: 'count' }, `${orders.length}`)),
    h('div', { class: 'field inline' }, h('label', { for: 'wo-filter' }, 'Show'), select),
    orders.length === 0 ? h('p', { class: 'empty' }, state === 'open' ? 'No open work orders.' : 'No closed work orders.') : list,
  );
}

function closeForm(o: WorkOrder, hooks: { announce(text: string): void; onClosed(): void }): HTMLElement {
  const id = `note-${o.id}`;
  const note = h('textarea', { id, name: 'note', required: true, rows: 2, maxlength: 2000 });
  const button = h('button', { type: 'submit', class: 'btn primary' }, 'Close work order');
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const form = h('form', { class: 'decision', 'aria-label': `Close: ${o.task}`, novalidate: true }, h('label', { for: id }, 'What was done'), note, error, button);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!note.value.trim()) {
      error.textContent = 'Say what was done before closing.';
      error.hidden = false;
      note.focus();
      return;
    }
    button.disabled = true;
    api.closeWorkOrder(o.id, note.value.trim()).then(
      () => {
        hooks.announce(`Closed: ${o.task}`);
        hooks.onClosed();
      },
      (err: unknown) => {
        button.disabled = false;
        error.textContent = err instanceof ApiError ? apiErrorText(err) : 'Cannot reach the hub.';
        error.hidden = false;
      },
    );
  });
  return h('details', {}, h('summary', {}, 'Close…'), form);
}
