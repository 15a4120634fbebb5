/**
 * Telemetry windows on review items: which points a request names (the action's target and the
 * points its evidence binds), read from the hub's store, and read again when an item is shown, so
 * the chart follows the point past the item's creation (the relay switching on after approval,
 * the room cooling down) instead of freezing at the moment it was filed.
 */
import type { Action } from '../../shared/wire/messages.js';
import type { HubStore } from '../store/types.js';
import type { ReviewItem, StoredReviewItem } from './types.js';

export interface EvidenceSample {
  readonly ts: number;
  readonly value: unknown;
}

/** One chart on the review page: a point's samples from `from` to `to` (ms). */
export interface EvidenceWindow {
  /** Absent: the item's gateway. */
  readonly gateway?: string;
  readonly device: string;
  readonly point: string;
  readonly from?: number;
  readonly to?: number;
  /** Engineering unit, as the gateway's birth announced it (its device profile). */
  readonly unit?: string;
  /**
   * An on/off point (its raw values are booleans): set also when the samples are bucket averages
   * (fractions of the time it was on), so the page still charts it as on and off.
   */
  readonly binary?: true;
  readonly samples: readonly EvidenceSample[];
}

/** A phone draws a few hundred points; longer windows are bucketed or thinned evenly (the last sample kept). */
export const MAX_SAMPLES = 500;
/** How far past its decision (or expiry) a closed item's charts go: long enough to see the effect. */
export const AFTER_DECISION_MS = 3_600_000;
/** Charts per item at most (an advisor strategy binds up to five points). */
const MAX_WINDOWS = 8;

interface PointRef {
  readonly device: string;
  readonly point: string;
}

/** A point's unit as its gateway's birth announced it. */
export type UnitLookup = (gateway: string, ref: PointRef) => Promise<string | undefined>;

/** Units from the gateways' records, each gateway read once however many of its points are charted. */
export function unitLookup(store: HubStore): UnitLookup {
  const records = new Map<string, ReturnType<HubStore['getGateway']>>();
  return async (gateway, ref) => {
    let record = records.get(gateway);
    if (!record) records.set(gateway, (record = store.getGateway(gateway)));
    return (await record)?.devices?.find((d) => d.id === ref.device)?.units?.[ref.point];
  };
}

/** Windows with at most this many countable samples are read raw (exact values and times). */
const RAW_LIMIT = 2000;

/**
 * Samples of one point, bad quality left out, at most MAX_SAMPLES. The store's bucketed history
 * (about MAX_SAMPLES buckets over the window; rollups and SQL do the work) says how many samples
 * the window holds: a few are read raw and thinned, many (an item pending a day on a 1 Hz point)
 * are charted as the buckets' averages, so a page view never pulls the raw day into the hub.
 * A point of strings (nothing countable) is read raw.
 */
export async function readWindow(store: HubStore, gateway: string, ref: PointRef, from: number, to: number, unitOf: UnitLookup = unitLookup(store)): Promise<EvidenceWindow> {
  const unit = await unitOf(gateway, ref);
  const head = { device: ref.device, point: ref.point, from, to, ...(unit === undefined ? {} : { unit }) };
  const bucketMs = Math.max(1000, Math.ceil((to - from) / MAX_SAMPLES));
  const buckets = await store.history(gateway, ref.device, ref.point, from, to, bucketMs);
  const counted = buckets.reduce((n, b) => n + b.count, 0);
  if (counted > RAW_LIMIT) {
    const samples = buckets.map((b) => ({ ts: Math.max(from, b.start), value: b.avg }));
    // The averages no longer tell an on/off point: the first raw values that count (not bad, not null) do.
    const { samples: first } = await store.historyHead(gateway, ref.device, ref.point, from, to, 16);
    return { ...head, ...binaryFlag(first.filter((s) => s.quality !== 'bad' && s.value !== null)), samples: thin(samples, MAX_SAMPLES) };
  }
  const raw = await store.history(gateway, ref.device, ref.point, from, to);
  const good = raw.filter((s) => s.quality !== 'bad').map((s) => ({ ts: s.ts, value: s.value }));
  return { ...head, ...binaryFlag(good), samples: thin(good, MAX_SAMPLES) };
}

/** `{ binary: true }` when the values are all booleans (an on/off point), else nothing. */
function binaryFlag(samples: readonly { readonly value: unknown }[]): { binary?: true } {
  return samples.length > 0 && samples.every((s) => typeof s.value === 'boolean') ? { binary: true } : {};
}

function thin<T>(samples: readonly T[], max: number): T[] {
  if (samples.length <= max) return [...samples];
  const step = samples.length / max;
  const out: T[] = [];
  for (let i = 0; i < max - 1; i += 1) out.push(samples[Math.floor(i * step)] as T);
  out.push(samples[samples.length - 1] as T);
  return out;
}

/**
 * The points a gateway's request is about: the action's target first, then the points its
 * evidence names — an advisor's role bindings ({temperature: "freezer/temp", ...}), a `point`
 * ("device/point", or device and point fields) and a `trigger` naming one.
 */
export function pointsOfRequest(gateway: string, action: Action, evidence: Readonly<Record<string, unknown>>): PointRef[] {
  const out = new Map<string, PointRef>();
  const add = (ref: PointRef | undefined): void => {
    if (ref && !out.has(`${ref.device}/${ref.point}`) && out.size < MAX_WINDOWS) out.set(`${ref.device}/${ref.point}`, ref);
  };
  if (action.kind === 'write') add({ device: action.device, point: action.point });
  const bindings = evidence.bindings;
  if (bindings && typeof bindings === 'object' && !Array.isArray(bindings)) for (const ref of Object.values(bindings)) add(parseRef(gateway, ref));
  add(refOf(gateway, evidence));
  const trigger = evidence.trigger;
  if (typeof trigger === 'string') add(parseRef(gateway, trigger));
  else if (trigger && typeof trigger === 'object' && !Array.isArray(trigger)) add(refOf(gateway, trigger as Record<string, unknown>));
  return [...out.values()];
}

/** `{device, point}` fields, or a `point` written as "device/point". */
function refOf(gateway: string, o: Readonly<Record<string, unknown>>): PointRef | undefined {
  if (typeof o.device === 'string' && typeof o.point === 'string' && o.device && o.point) return { device: o.device, point: o.point };
  return parseRef(gateway, o.point);
}

/** "device/point", or "gateway/device/point" of this gateway. */
function parseRef(gateway: string, ref: unknown): PointRef | undefined {
  if (typeof ref !== 'string') return undefined;
  const parts = ref.split('/');
  if (parts.length === 3 && parts[0] !== gateway) return undefined;
  const [device, point] = parts.length === 3 ? parts.slice(1) : parts;
  return parts.length >= 2 && parts.length <= 3 && device && point ? { device, point } : undefined;
}

/** Where an item's charts end: now while it is open, else an hour past its last change. */
function windowEnd(item: ReviewItem, updatedAt: number, now: number): number {
  return item.state === 'pending' || item.state === 'approved' ? now : Math.min(now, updatedAt + AFTER_DECISION_MS);
}

/**
 * The item's evidence with every telemetry window read again from the store, from where it began
 * to windowEnd. A window the store cannot give (an old item whose telemetry retention dropped)
 * keeps what was attached.
 */
export async function liveEvidence(store: HubStore, row: StoredReviewItem, now: number, defaultWindowMs = 3_600_000): Promise<Record<string, unknown>> {
  const { item } = row;
  const windows = Array.isArray(item.evidence.telemetry) ? (item.evidence.telemetry as unknown[]) : [];
  if (windows.length === 0) return item.evidence;
  const to = windowEnd(item, row.updatedAt, now);
  const unitOf = unitLookup(store);
  const telemetry = await Promise.all(
    windows.map(async (w) => {
      if (!isWindow(w)) return w;
      const from = w.from ?? w.samples[0]?.ts ?? item.createdAt - defaultWindowMs;
      const fresh = await readWindow(store, w.gateway ?? item.gateway, w, from, Math.max(from, to), unitOf);
      if (fresh.samples.length === 0 && w.samples.length > 0) return w;
      return { ...w, ...fresh };
    }),
  );
  return { ...item.evidence, telemetry };
}

function isWindow(w: unknown): w is EvidenceWindow {
  if (!w || typeof w !== 'object') return false;
  const o = w as Record<string, unknown>;
  return typeof o.device === 'string' && typeof o.point === 'string' && Array.isArray(o.samples) && (o.gateway === undefined || typeof o.gateway === 'string');
}
