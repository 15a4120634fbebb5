/// <reference lib="dom" />
/** The fleet: gateways online/offline with health and last seen; a gateway's points; a point's chart. */
import { api } from './api.js';
import { chart, numeric } from './chart.js';
import { ago, breakable, h, unitSymbol, withUnit } from './dom.js';
import type { Deployment, Gateway, Reading } from './types.js';

const pill = (status: string) => h('span', { class: `badge gw-${status}` }, status);

export function fleetView(gateways: Gateway[], deployments: Deployment[] = []): HTMLElement {
  const online = gateways.filter((g) => g.status === 'online').length;
  const list = h('ul', { class: 'cards', 'aria-label': 'Gateways' });
  for (const g of [...gateways].sort((a, b) => Number(a.status === 'online') - Number(b.status === 'online') || a.gateway.localeCompare(b.gateway))) {
    // Messages the broker kept refusing wait on the gateway for a technician (swarmgate edge dead-letters).
    const dead = g.health?.deadLetters ? ` (${g.health.deadLetters.count} set aside)` : '';
    const health = g.health ? `outbox ${g.health.outboxDepth}${dead} · ${Math.round(g.health.rssBytes / 1_048_576)} MB · up ${Math.round(g.health.uptimeS / 3600)} h` : 'no health report';
    // What the gateway's health agent found wrong (ok checks are not listed).
    const problems = (g.health?.checks ?? []).filter((c) => c.status !== 'ok');
    list.append(
      h(
        'li',
        {},
        h(
          'a',
          { href: `#/gateway/${encodeURIComponent(g.gateway)}`, class: 'card', 'data-gateway': g.gateway },
          h('span', { class: 'card-body' }, h('strong', {}, g.gateway), h('span', { class: 'muted' }, `${g.site}${g.version ? ` · v${g.version}` : ''}`), h('span', { class: 'muted' }, `seen ${ago(g.lastSeen)} · ${health}`), ...problems.map((c) => h('span', { class: `health-${c.status}`, 'data-check': c.name }, breakable(`${c.status === 'critical' ? 'Critical' : 'Warning'}: ${c.name} — ${c.detail}`)))),
          pill(g.revoked ? 'revoked' : g.status),
        ),
      ),
    );
  }
  return h(
    'section',
    { 'aria-labelledby': 'fleet-title' },
    h('h1', { id: 'fleet-title', tabindex: '-1' }, 'Fleet'),
    h('p', { class: 'summary' }, `${online} online, ${gateways.length - online} offline or unknown`),
    gateways.length ? list : h('p', { class: 'empty' }, 'No gateway has announced itself yet.'),
    deployments.length ? deploymentsView(deployments) : null,
  );
}

/** Recent software deployments: each gateway's progress (canary first), failures with their reason. */
function deploymentsView(deployments: Deployment[]): HTMLElement {
  return h(
    'section',
    { 'aria-labelledby': 'deployments-title' },
    h('h2', { id: 'deployments-title' }, 'Software updates'),
    ...deployments.map((d) =>
      h(
        'div',
        { class: 'deployment', 'data-deployment': d.id },
        h('p', {}, h('strong', {}, `v${d.version}`), ` · ${d.state}${d.reason ? ` — ${d.reason}` : ''} · `, h('span', { class: 'muted' }, Object.entries(d.counts).map(([k, v]) => `${v} ${k}`).join(', '))),
        h(
          'ul',
          { 'aria-label': `Gateways of deployment ${d.id}` },
          ...d.gateways.map((g) =>
            h('li', { 'data-deployment-gateway': g.gateway, class: g.state === 'rolled-back' || g.state === 'failed' ? 'health-critical' : undefined }, `${g.gateway} (${g.wave}): ${g.state}${g.from ? ` from v${g.from}` : ''}${g.reason ? ` — ${g.reason}` : ''}`),
          ),
        ),
      ),
    ),
  );
}

/** point name -> unit, from the devices the gateway announced in its birth. */
function unitsOf(g: Gateway): Map<string, string> {
  const out = new Map<string, string>();
  for (const d of g.devices ?? []) for (const [point, unit] of Object.entries(d.units ?? {})) out.set(`${d.id}.${point}`, unit);
  return out;
}

export function gatewayView(g: Gateway, points: Reading[]): HTMLElement {
  const units = unitsOf(g);
  // Three narrow columns that fit a phone: the name wraps between its parts, value and age never wrap.
  const rows = points.map((p) =>
    h(
      'tr',
      {},
      h('th', { scope: 'row' }, h('a', { href: `#/point/${encodeURIComponent(g.gateway)}/${encodeURIComponent(p.device)}/${encodeURIComponent(p.point)}` }, breakable(`${p.device}.${p.point}`))),
      h('td', { class: 'value' }, withUnit(p.value, units.get(`${p.device}.${p.point}`)), p.quality === 'good' ? null : h('span', { class: `q q-${p.quality}` }, p.quality)),
      h('td', { class: 'at' }, ago(p.ts)),
    ),
  );
  return h(
    'section',
    { 'aria-labelledby': 'gw-title' },
    h('a', { href: '#/fleet', class: 'back' }, '← Fleet'),
    h('div', { class: 'row' }, h('h1', { id: 'gw-title', tabindex: '-1' }, breakable(g.gateway)), pill(g.revoked ? 'revoked' : g.status)),
    h('p', { class: 'muted' }, `${g.site} · seen ${ago(g.lastSeen)}${g.devices ? ` · devices: ${g.devices.map((d) => `${d.id} ${d.state}`).join(', ')}` : ''}`),
    points.length
      ? h('table', { class: 'points' }, h('caption', {}, 'Latest values'), h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Point'), h('th', { scope: 'col', class: 'value' }, 'Value'), h('th', { scope: 'col', class: 'at' }, 'At'))), h('tbody', {}, rows))
      : h('p', { class: 'empty' }, 'No readings yet.'),
  );
}

const RANGES: [string, number][] = [
  ['1 h', 3_600_000],
  ['24 h', 86_400_000],
  ['7 d', 7 * 86_400_000],
  ['30 d', 30 * 86_400_000],
];

export async function pointView(gateway: string, device: string, point: string, rangeMs: number, onRange: (ms: number) => void): Promise<HTMLElement> {
  const to = Date.now();
  const [res, gw] = await Promise.all([api.history(gateway, device, point, to - rangeMs, to), api.gateway(gateway)]);
  const unit = unitSymbol(unitsOf(gw).get(`${device}.${point}`));
  const pts = res.buckets ? res.buckets.map((b) => ({ ts: b.start + res.bucketMs / 2, v: b.avg, lo: b.min, hi: b.max })) : numeric(res.samples ?? []);
  const group = h('div', { role: 'group', 'aria-label': 'Time range', class: 'ranges' });
  for (const [label, ms] of RANGES) {
    const b = h('button', { type: 'button', class: 'btn small', 'aria-pressed': String(ms === rangeMs) }, label);
    b.addEventListener('click', () => onRange(ms));
    group.append(b);
  }
  return h(
    'section',
    { 'aria-labelledby': 'pt-title' },
    h('a', { href: `#/gateway/${encodeURIComponent(gateway)}`, class: 'back' }, `← ${gateway}`),
    h('h1', { id: 'pt-title', tabindex: '-1' }, breakable(`${device}.${point}`)),
    group,
    chart({ label: `${device}.${point}`, points: pts, ...(unit === undefined ? {} : { unit }) }),
    h('p', { class: 'muted' }, res.bucketMs ? `averages per ${Math.round(res.bucketMs / 60_000)} min, band = min..max` : 'raw samples'),
  );
}
