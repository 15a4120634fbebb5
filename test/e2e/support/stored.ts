/**
 * The end-to-end invariant: every reading the gateway reported is in the hub store exactly once,
 * in order per point, and nothing else is. Readings are compared in their wire form (ts rounded
 * to the millisecond, non-finite numbers as null), which is what the gateway promises to deliver.
 */
import type { Reading } from '../../../edge/drivers/driver.js';
import type { HubStore, StoredValue } from '../../../hub/store/types.js';
import { sleep } from './util.js';

export interface StoredCheck {
  /** Readings reported by the gateway / rows found in the store for its points. */
  readonly reported: number;
  readonly stored: number;
  readonly points: number;
  /** Reported but not stored (one line per reading, at most 20). */
  readonly missing: string[];
  /** Stored more often than reported. */
  readonly duplicated: string[];
  /** Stored but never reported. */
  readonly unexpected: string[];
  /** Points whose stored sequence differs from the reported order. */
  readonly outOfOrder: string[];
}

interface Sample {
  readonly ts: number;
  readonly value: StoredValue;
  readonly quality: string;
}

const FAR_FUTURE = 8.64e15;

function wireValue(v: Reading['value']): StoredValue {
  if (typeof v === 'number' && !Number.isFinite(v)) return null;
  if (typeof v === 'string' && v.length > 1024) return v.slice(0, 1024);
  return v;
}

const keyOf = (s: Sample): string => `${s.ts}|${JSON.stringify(s.value)}|${s.quality}`;

function byPoint(reported: readonly Reading[]): Map<string, Sample[]> {
  const map = new Map<string, Sample[]>();
  for (const r of reported) {
    const k = `${r.device}/${r.point}`;
    const list = map.get(k) ?? [];
    list.push({ ts: Math.max(0, Math.round(r.ts)), value: wireValue(r.value), quality: r.quality });
    map.set(k, list);
  }
  return map;
}

function counts(samples: readonly Sample[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const s of samples) m.set(keyOf(s), (m.get(keyOf(s)) ?? 0) + 1);
  return m;
}

function push(list: string[], line: string): void {
  if (list.length < 20) list.push(line);
}

export async function checkStored(store: HubStore, gateway: string, reported: readonly Reading[]): Promise<StoredCheck> {
  const want = byPoint(reported);
  const result = { reported: reported.length, stored: 0, points: want.size, missing: [] as string[], duplicated: [] as string[], unexpected: [] as string[], outOfOrder: [] as string[] };
  // Points the store has that the gateway never reported count as unexpected too.
  for (const r of await store.latest(gateway)) if (!want.has(`${r.device}/${r.point}`)) want.set(`${r.device}/${r.point}`, []);
  for (const [point, expected] of want) {
    const [device, name] = point.split('/') as [string, string];
    const got: Sample[] = (await store.history(gateway, device, name, 0, FAR_FUTURE)).map((s) => ({ ts: s.ts, value: s.value, quality: s.quality }));
    result.stored += got.length;
    const e = counts(expected);
    const g = counts(got);
    for (const [k, n] of e) {
      const m = g.get(k) ?? 0;
      if (m < n) push(result.missing, `${point} ${k} (reported ${n}, stored ${m})`);
      if (m > n) push(result.duplicated, `${point} ${k} (reported ${n}, stored ${m})`);
    }
    for (const [k, m] of g) if (!e.has(k)) push(result.unexpected, `${point} ${k} (stored ${m})`);
    if (got.length === expected.length && got.some((s, i) => keyOf(s) !== keyOf(expected[i]!))) push(result.outOfOrder, point);
  }
  return result;
}

/** Polls until the store holds at least as many rows as were reported (or the time is up), then checks. */
export async function waitStored(store: HubStore, gateway: string, reported: readonly Reading[], timeoutMs = 15_000): Promise<StoredCheck> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const check = await checkStored(store, gateway, reported);
    if ((check.missing.length === 0 && check.stored >= check.reported) || Date.now() > deadline) return check;
    await sleep(100);
  }
}

/** The check in the shape tests compare against: empty lists and equal counts. */
export function summary(c: StoredCheck): { missing: string[]; duplicated: string[]; unexpected: string[]; outOfOrder: string[]; countsEqual: boolean } {
  return { missing: c.missing, duplicated: c.duplicated, unexpected: c.unexpected, outOfOrder: c.outOfOrder, countsEqual: c.reported === c.stored };
}

export const PERFECT = { missing: [], duplicated: [], unexpected: [], outOfOrder: [], countsEqual: true };

/** True when the reported readings of each point are in strictly increasing ts order (sanity of the input). */
export function reportedInOrder(reported: readonly Reading[]): boolean {
  const last = new Map<string, number>();
  for (const r of reported) {
    const k = `${r.device}/${r.point}`;
    if ((last.get(k) ?? -Infinity) >= r.ts) return false;
    last.set(k, r.ts);
  }
  return true;
}
