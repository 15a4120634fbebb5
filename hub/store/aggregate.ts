/**
 * Shared pieces of both store implementations: value encoding into (num, str, vtype) columns,
 * merging partial bucket aggregates (raw rows and rollup rows) and picking a rollup level per bucket.
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
 * History buckets are whole: a query [from, to] with bucketMs answers every bucket it touches in
 * full, i.e. it reads [floor(from / bucketMs) * bucketMs, the end of to's bucket]. Rollup rows are
 * whole level buckets that cannot be clipped to [from, to] once the raw readings are gone, so the
 * raw path is widened to the same edges: a query gives the same counts before and after retention
 * rolled its readings up.
 */
export function wholeBuckets(from: number, to: number, bucketMs: number): { readonly from: number; readonly to: number } {
  return { from: Math.floor(from / bucketMs) * bucketMs, to: Math.floor(to / bucketMs) * bucketMs + bucketMs - 1 };
}

/** One rollup level's rows of a point summed per bucket of the query (ROLLUP_PARTS_SQL). */
export interface RollupPart extends PartialBucket {
  readonly bucket_s: number;
}

/**
 * The rollups of a point (both stores run it; `?` placeholders, rollupPartsArgs), summed per level
 * and per bucket of bucketMs, from every recorded level whose buckets nest into bucketMs. The
 * bucket start is floored (also below 0, where SQL's % keeps the dividend's sign).
 */
export const ROLLUP_PARTS_SQL = `SELECT bucket_s, start - ((start % ?) + ?) % ? AS start, SUM(sum) AS sum, MIN(min) AS min, MAX(max) AS max, SUM(count) AS count
  FROM rollups
  WHERE gateway = ? AND device = ? AND point = ? AND start >= ? AND start <= ?
    AND bucket_s IN (SELECT bucket_s FROM rollup_levels WHERE bucket_s > 0 AND ? % (CAST(bucket_s AS BIGINT) * 1000) = 0)
  GROUP BY bucket_s, 2`;

export function rollupPartsArgs(gateway: string, device: string, point: string, span: { readonly from: number; readonly to: number }, bucketMs: number): (string | number)[] {
  return [bucketMs, bucketMs, bucketMs, gateway, device, point, span.from, span.to, bucketMs];
}

/**
 * Each bucket from one rollup level: the one holding the most readings there. Retention rolls every
 * reading it retires into every configured level, so the levels hold the same readings, each over
 * its own span of time: a level holds what was retired since it was added, minus the rows it aged
 * out (keepDays). Those spans are suffixes ending at the last retention, so in any bucket the level
 * with more readings holds all of another's: taking it counts nothing twice and misses nothing
 * (a level added last week holds only a part of its first bucket; a finer level aged out holds only
 * the newest part of a coarse bucket). A level taken out of the policy (retiredKeepDays) holds what
 * was retired before that: where its span and a newer level's meet, one bucket is read from one.
 */
export function pickRollupLevel(parts: Iterable<RollupPart>): PartialBucket[] {
  const best = new Map<number, PartialBucket>();
  for (const p of parts) {
    const part = { start: Number(p.start), sum: Number(p.sum), min: Number(p.min), max: Number(p.max), count: Number(p.count) };
    const held = best.get(part.start);
    if (!held || part.count > held.count) best.set(part.start, part);
  }
  return [...best.values()];
}

/** The recorded rollup levels (bucket_s of rollup_levels) the policy no longer has (see retiredKeepDays). */
export function staleLevels(recorded: Iterable<number>, policy: readonly RollupLevel[]): number[] {
  const configured = new Set(policy.map((l) => l.bucketS));
  return [...recorded].map(Number).filter((b) => !configured.has(b));
}

/**
 * How long the rows of a level taken out of the policy are kept: as long as the policy keeps any
 * history (its longest keepDays, else rawDays). Taking a level out of the config does not delete
 * the history only it holds (a year of hourly values when 3600 is replaced by 900); it stays
 * readable, gets nothing new, and ages out like the longest kept history; its level row goes with
 * its last rows.
 */
export function retiredKeepDays(policy: { readonly rawDays: number; readonly rollups: readonly RollupLevel[] }): number {
  return Math.max(policy.rawDays, ...policy.rollups.map((l) => l.keepDays));
}

export const DAY_MS = 86_400_000;

export function checkHistoryArgs(from: number, to: number, bucketMs?: number): void {
  if (!Number.isFinite(from) || !Number.isFinite(to)) throw new RangeError('history: from and to must be numbers (ms since the epoch)');
  if (bucketMs !== undefined && (!Number.isInteger(bucketMs) || bucketMs <= 0)) throw new RangeError(`history: bucketMs must be a positive integer, got ${bucketMs}`);
}

export function checkLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`history: limit must be a positive integer, got ${limit}`);
}
