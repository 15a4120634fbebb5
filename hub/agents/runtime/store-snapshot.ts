/**
 * Facility snapshots from the store: latest readings of the site's gateways, recent numeric
 * history of every modelled point, recent events, and occupancy from occupancy sensors.
 */
import type { GatewayEvent } from '../../../shared/wire/messages.js';
import type { FacilityIndex } from '../facility.js';
import { buildSnapshot, type FacilitySnapshot, type Sample } from '../snapshot.js';
import type { HubStore } from '../../store/types.js';

export interface SnapshotOptions {
  /** History per point; default 2 h. */
  readonly historyMs?: number;
  /** Events of the site; default the last hour, at most 200. */
  readonly eventsMs?: number;
  readonly maxEvents?: number;
}

/** Role of occupancy sensors (1/true = occupied) that override a zone's schedule. */
export const OCCUPANCY_ROLE = 'occupancy';

/**
 * `offline`: whether the registry knows a gateway is offline now; its latest readings are marked
 * so (LatestReading.offline) and judged unknown.
 */
export async function snapshotFromStore(
  store: HubStore,
  facility: FacilityIndex,
  site: string,
  now: number,
  trigger?: GatewayEvent,
  options: SnapshotOptions = {},
  offline?: (gateway: string) => boolean | Promise<boolean>,
): Promise<FacilitySnapshot> {
  const model = facility.site(site);
  const gateways = model ? model.zones.flatMap((z) => z.gateways.map((g) => ({ zone: z.id, gateway: g }))) : [];
  const historyMs = options.historyMs ?? 2 * 3_600_000;
  const away = new Set<string>();
  for (const { gateway } of gateways) if (offline && (await offline(gateway.id))) away.add(gateway.id);
  const readings = (await Promise.all(gateways.map(({ gateway }) => store.latest(gateway.id)))).flat();
  const history = await Promise.all(
    gateways.flatMap(({ gateway }) =>
      gateway.points.map(async (p) => {
        const raw = await store.history(gateway.id, p.device, p.point, now - historyMs, now);
        const samples: Sample[] = raw.flatMap((s) => {
          if (s.quality === 'bad') return [];
          if (typeof s.value === 'number') return [{ ts: s.ts, value: s.value }];
          if (typeof s.value === 'boolean') return [{ ts: s.ts, value: s.value ? 1 : 0 }];
          return [];
        });
        return { gateway: gateway.id, device: p.device, point: p.point, samples };
      }),
    ),
  );
  const stored = await store.events({ site, from: now - (options.eventsMs ?? 3_600_000), to: now, limit: options.maxEvents ?? 200 });
  const events: GatewayEvent[] = stored.reverse().map(({ site: _site, receivedAt: _at, ...event }) => event);
  const occupancy: Record<string, boolean> = {};
  for (const { zone, gateway } of gateways) {
    for (const p of gateway.points.filter((x) => x.role === OCCUPANCY_ROLE)) {
      const r = readings.find((x) => x.gateway === gateway.id && x.device === p.device && x.point === p.point);
      if (r && r.quality !== 'bad' && !away.has(r.gateway) && (typeof r.value === 'boolean' || typeof r.value === 'number')) occupancy[zone] = (occupancy[zone] ?? false) || Boolean(r.value);
    }
  }
  return buildSnapshot({
    ts: now,
    site,
    facility,
    readings: readings.map((r) => ({ gateway: r.gateway, device: r.device, point: r.point, value: r.value, quality: r.quality, ts: r.ts, ...(away.has(r.gateway) ? { offline: true } : {}) })),
    history,
    events,
    ...(trigger ? { trigger } : {}),
    ...(Object.keys(occupancy).length > 0 ? { occupancy } : {}),
  });
}
