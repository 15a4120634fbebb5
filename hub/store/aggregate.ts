/**
 * Shared pieces of both store implementations: value encoding into (num, str, vtype) columns,
 * merging partial bucket aggregates (raw rows and rollup rows) and picking a rollup level.
 */
import type { WireReading } from '../../shared/wire/messages.js';
import type { HistoryBucket, StoredValue, RollupLevel } from './types.js';

/** n = number, b = boolean (num 0/1), s = string, z = null. */
export type ValueType = 'n' | 'b' | 's' | 'z';

export interface EncodedValue {
  readonly num: number | null;
  readonly str: string | null;
  readonly vtype: ValueType;
}

export function encodeValue(value: WireReading['v']): EncodedValue {
  if (value === null) return { num: null, str: null, vtype: 'z' };
  if (typeof value === 'number') return { num: value, str: null, vtype: 'n' };
  if (typeof value === 'boolean') return { num: value ? 1 : 0, str: null, vtype: 'b' };
  return { num: null, str: value, vtype: 's' };
}

export function decodeValue(num: number | null, str: string | null, vtype: string): StoredValue {
  switch (vtype) {
    case 'n':
      return num;
    case 'b':
      return num !== null && num !== 0;
    case 's':
      return str;
    default:
      return null;
  }
}

export interface PartialBucket {
  readonly start: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
  readonly count: number;
}

/** Re-buckets partial aggregates to bucketMs and combines those landing in the same bucket. */
export function mergeBuckets(parts: Iterable<PartialBucket>, bucketMs: number): HistoryBucket[] {
  const merged = new Map<number, { sum: number; min: number; max: number; count: number }>();
  for (const p of parts) {
    if (p.count <= 0) continue;
    const start = Math.floor(p.start / bucketMs) * bucketMs;
    const m = merged.get(start);
    if (!m) merged.set(start, { sum: p.sum, min: p.min, max: p.max, count: p.count });
    else {
      m.sum += p.sum;
      m.min = Math.min(m.min, p.min);
      m.max = Math.max(m.max, p.max);
      m.count += p.count;
    }
  }
  return [...merged.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([start, m]) => ({ start, avg: m.sum / m.count, min: m.min, max: m.max, count: m.count }));
}

/**
 * The rollup level that can serve a bucket width: its buckets must nest exactly into bucketMs.
 * Among those, the one kept longest (then the coarsest, fewest rows).
 */
export function rollupLevelFor(levels: readonly RollupLevel[], bucketMs: number): RollupLevel | undefined {
  return levels
    .filter((l) => l.bucketS > 0 && bucketMs % (l.bucketS * 1000) === 0)
    .sort((a, b) => b.keepDays - a.keepDays || b.bucketS - a.bucketS)[0];
}

export const DAY_MS = 86_400_000;

export function checkHistoryArgs(from: number, to: number, bucketMs?: number): void {
  if (!Number.isFinite(from) || !Number.isFinite(to)) throw new RangeError('history: from and to must be numbers (ms since the epoch)');
  if (bucketMs !== undefined && (!Number.isInteger(bucketMs) || bucketMs <= 0)) throw new RangeError(`history: bucketMs must be a positive integer, got ${bucketMs}`);
}
