/**
 * A facility snapshot: everything an agent may look at for one site at one instant — latest
 * readings, short recent histories, recent events, occupancy — so agents stay pure functions of
 * their input. The lead builds snapshots from the store; tests build them by hand.
 */
import type { GatewayEvent } from '../../shared/wire/messages.js';
import { pointKey, scheduledOccupied, type BoundPoint, type FacilityIndex, type Site, type Zone } from './facility.js';
import type { PointValue } from './types.js';

export interface LatestReading {
  readonly value: PointValue | null;
  readonly quality: 'good' | 'uncertain' | 'bad';
  readonly ts: number;
  /**
   * Its gateway is offline: the value is the last one before it went away, not the point's value
   * now, so no agent judges on it (a freezer's last reading three hours ago is not three hours
   * above its limit).
   */
  readonly offline?: boolean;
}

export interface Sample {
  readonly ts: number;
  readonly value: number;
}

export interface FacilitySnapshot {
  readonly ts: number;
  readonly site: string;
  readonly facility: FacilityIndex;
  /** Latest reading per point key (gateway/device/point). */
  readonly readings: ReadonlyMap<string, LatestReading>;
  /** Recent numeric history per point key, oldest first (for durations, rates, counters). */
  readonly history: ReadonlyMap<string, readonly Sample[]>;
  /** Recent gateway events of this site, oldest first. */
  readonly events: readonly GatewayEvent[];
  /** The event that caused this evaluation, if any. */
  readonly trigger?: GatewayEvent;
  /** Occupancy overrides per zone (sensors, bookings); otherwise the schedule decides. */
  readonly occupancy?: Readonly<Record<string, boolean>>;
}

export interface SnapshotInput {
  readonly ts: number;
  readonly site: string;
  readonly facility: FacilityIndex;
  readonly readings?: ReadonlyArray<{ gateway: string; device: string; point: string; value: PointValue | null; quality?: LatestReading['quality']; ts?: number; offline?: boolean }>;
  readonly history?: ReadonlyArray<{ gateway: string; device: string; point: string; samples: readonly Sample[] }>;
  readonly events?: readonly GatewayEvent[];
  readonly trigger?: GatewayEvent;
  readonly occupancy?: Readonly<Record<string, boolean>>;
}

/** Builds a snapshot from plain lists (readings default to good quality at snapshot time). */
export function buildSnapshot(input: SnapshotInput): FacilitySnapshot {
  const readings = new Map<string, LatestReading>();
  for (const r of input.readings ?? []) {
    readings.set(pointKey(r.gateway, r.device, r.point), { value: r.value, quality: r.quality ?? 'good', ts: r.ts ?? input.ts, ...(r.offline ? { offline: true } : {}) });
  }
  const history = new Map<string, readonly Sample[]>();
  for (const h of input.history ?? []) history.set(pointKey(h.gateway, h.device, h.point), [...h.samples].sort((a, b) => a.ts - b.ts));
  return {
    ts: input.ts,
    site: input.site,
    facility: input.facility,
    readings,
    history,
    events: input.events ?? [],
    ...(input.trigger === undefined ? {} : { trigger: input.trigger }),
    ...(input.occupancy === undefined ? {} : { occupancy: input.occupancy }),
  };
}

/** The latest good-quality value of a point, or undefined (bad data, or an offline gateway's last value, never drives an action). */
export function valueOf(snapshot: FacilitySnapshot, p: BoundPoint | undefined): PointValue | undefined {
  if (!p) return undefined;
  const r = snapshot.readings.get(p.key);
  if (!r || r.value === null || r.quality === 'bad' || r.offline) return undefined;
  return r.value;
}

export function numberOf(snapshot: FacilitySnapshot, p: BoundPoint | undefined): number | undefined {
  const v = valueOf(snapshot, p);
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

export function boolOf(snapshot: FacilitySnapshot, p: BoundPoint | undefined): boolean | undefined {
  const v = valueOf(snapshot, p);
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  return undefined;
}

export function historyOf(snapshot: FacilitySnapshot, p: BoundPoint | undefined): readonly Sample[] {
  return p ? (snapshot.history.get(p.key) ?? []) : [];
}

export function isOccupied(snapshot: FacilitySnapshot, site: Site, zone: Zone): boolean {
  const override = snapshot.occupancy?.[zone.id];
  return override ?? scheduledOccupied(site, zone, snapshot.ts);
}

/**
 * How long (ms) the point has been continuously above `limit` up to the snapshot time, judged
 * from history plus the latest reading; 0 when it is not above now.
 */
export function msAbove(snapshot: FacilitySnapshot, p: BoundPoint, limit: number): number {
  const now = numberOf(snapshot, p);
  if (now === undefined || now <= limit) return 0;
  const samples = historyOf(snapshot, p);
  let since = snapshot.readings.get(p.key)?.ts ?? snapshot.ts;
  for (let i = samples.length - 1; i >= 0; i -= 1) {
    const s = samples[i];
    if (!s || s.value <= limit) break;
    since = Math.min(since, s.ts);
  }
  return Math.max(0, snapshot.ts - since);
}

/** Events in the snapshot about one point (newest last). */
export function eventsFor(snapshot: FacilitySnapshot, p: BoundPoint, kind?: GatewayEvent['kind']): GatewayEvent[] {
  const all = snapshot.trigger ? [...snapshot.events, snapshot.trigger] : snapshot.events;
  const seen = new Set<string>();
  return all.filter((e) => {
    if (seen.has(e.id)) return false;
    seen.add(e.id);
    return e.gateway === p.gateway && e.device === p.device && e.point === p.point && (kind === undefined || e.kind === kind);
  });
}
