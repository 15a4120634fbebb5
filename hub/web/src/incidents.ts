/// <reference lib="dom" />
/**
 * Incidents of the emergence monitor: many gateways alarming at once on the same kind of point is
 * one fleet incident (weather, grid, a release), one gateway deviating from its peers one
 * equipment incident. The list (open, closed or merged; fleet or equipment) and one incident with
 * its member alarms.
 */
import { ago, breakable, h } from './dom.js';
import type { Incident, IncidentDetail } from './types.js';

export type IncidentFilter = { state: 'open' | 'closed' | 'merged'; kind: '' | 'fleet' | 'equipment' };

const KIND_CLASS: Record<Incident['kind'], string> = { fleet: 'p-high', equipment: 'p-mid' };

function where(i: Incident): string {
  const scope = i.scope === 'fleet' ? `fleet-wide: ${i.sites.join(', ')}` : i.scope === 'site' ? `site ${i.site ?? ''}` : `${i.site ?? ''}`;
  return `${scope} · ${i.gateways} gateway${i.gateways === 1 ? '' : 's'} · ${i.memberCount} alarm${i.memberCount === 1 ? '' : 's'}`;
}

function when(i: Incident): string {
  if (i.state === 'merged') return `merged into ${i.mergedInto ?? '?'}`;
  const closed = i.state === 'closed' ? ` · closed ${ago(i.closedAt)}` : '';
  return `first ${ago(i.firstSeen)} · last ${ago(i.lastSeen)}${closed}`;
}

export function incidentsView(items: Incident[], filter: IncidentFilter, onFilter: (f: IncidentFilter) => void): HTMLElement {
  const state = h(
    'select',
    { id: 'inc-state', onchange: (e: Event) => onFilter({ ...filter, state: (e.target as HTMLSelectElement).value as IncidentFilter['state'] }) },
    ...(['open', 'closed', 'merged'] as const).map((v) => h('option', { value: v, selected: v === filter.state }, v)),
  );
  const kind = h(
    'select',
    { id: 'inc-kind', onchange: (e: Event) => onFilter({ ...filter, kind: (e.target as HTMLSelectElement).value as IncidentFilter['kind'] }) },
    ...([['', 'all'], ['fleet', 'fleet'], ['equipment', 'equipment']] as const).map(([v, label]) => h('option', { value: v, selected: v === filter.kind }, label)),
  );
  const list = h('ul', { class: 'cards', 'aria-label': 'Incidents, most recently active first' });
  for (const i of items) {
    list.append(
      h(
        'li',
        {},
        h(
          'a',
          { href: `#/incident/${encodeURIComponent(i.id)}`, class: 'card', 'data-incident': i.id },
          h('span', { class: 'card-body' }, h('strong', {}, breakable(i.cause)), h('span', { class: 'muted' }, breakable(where(i))), h('span', { class: 'muted' }, when(i))),
          h('span', { class: `badge ${KIND_CLASS[i.kind]}` }, i.kind),
        ),
      ),
    );
  }
  return h(
    'section',
    { 'aria-labelledby': 'inc-title' },
    h('div', { class: 'row' }, h('h1', { id: 'inc-title', tabindex: '-1' }, 'Incidents'), h('span', { class: 'count' }, `${items.length}`)),
    h('div', { class: 'field inline' }, h('label', { for: 'inc-state' }, 'Show'), state, h('label', { for: 'inc-kind' }, 'Kind'), kind),
    items.length === 0 ? h('p', { class: 'empty' }, `No ${filter.state} incidents.`) : list,
  );
}

export function incidentView(i: IncidentDetail): HTMLElement {
  const rows = i.members.map((m) =>
    h('tr', { 'data-event': m.eventId }, h('td', {}, breakable(m.gateway)), h('td', {}, breakable(`${m.device ?? '—'}/${m.point ?? '—'}`)), h('td', {}, breakable(m.site)), h('td', {}, new Date(m.ts).toLocaleString())),
  );
  return h(
    'article',
    { 'aria-labelledby': 'incident-title' },
    h('a', { href: '#/incidents', class: 'back' }, '← Incidents'),
    h('h1', { id: 'incident-title', tabindex: '-1' }, `${i.kind === 'fleet' ? 'Fleet' : 'Equipment'} incident`),
    h('p', {}, breakable(i.cause)),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'State'),
      h('dd', {}, i.state),
      h('dt', {}, 'Where'),
      h('dd', {}, breakable(where(i))),
      h('dt', {}, 'Points'),
      h('dd', {}, breakable(`${i.tags.join(' ') || '—'}${i.unit ? ` (${i.unit})` : ''}`)),
      ...(i.release ? [h('dt', {}, 'Release'), h('dd', {}, i.release)] : []),
      h('dt', {}, 'Seen'),
      h('dd', {}, when(i)),
    ),
    h(
      'table',
      { class: 'members' },
      h('caption', {}, `${i.members.length} alarm${i.members.length === 1 ? '' : 's'} in this incident`),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Gateway'), h('th', { scope: 'col' }, 'Device/point'), h('th', { scope: 'col' }, 'Site'), h('th', { scope: 'col' }, 'Time'))),
      h('tbody', {}, ...rows),
    ),
  );
}
