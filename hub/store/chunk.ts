/**
 * Columnar chunks of one point's history: what the SQLite store keeps instead of one row per
 * reading. A chunk holds up to CHUNK_MAX_SAMPLES samples spanning at most CHUNK_MAX_SPAN_MS,
 * sorted by ts (arrival order kept on equal ts), as two Float64 columns (ts, number) plus a small
 * JSON sidecar only when some sample is not a good plain number (booleans, strings, nulls,
 * quality, cause). Each chunk also carries the aggregate of its countable samples (numbers and
 * booleans of good or uncertain quality), so a bucket that covers a whole chunk is served without
 * decoding it.
 */
import type { WireReading } from '../../shared/wire/messages.js';
import type { PartialBucket } from './aggregate.js';
import type { StoredValue, Quality, RawSample, SamplePage } from './types.js';

export const CHUNK_MAX_SAMPLES = 2048;
/** Bounds a chunk's time span, so a range query can start its index scan at from - span. */
export const CHUNK_MAX_SPAN_MS = 3_600_000;

/** One sample as chunks see it: a wire reading without its device and point. */
export type ChunkSample = Pick<WireReading, 'v' | 'q' | 'ts' | 'c'>;

export interface EncodedChunk {
  readonly tMin: number;
  readonly tMax: number;
  readonly n: number;
  readonly ts: Buffer;
  readonly num: Buffer;
  /** JSON sidecar, null when every sample is a good number without a cause. */
  readonly meta: string | null;
  readonly agg: ChunkAggregate;
}

export interface ChunkAggregate {
  readonly count: number;
  readonly sum: number;
  readonly min: number | null;
  readonly max: number | null;
}

/** Sidecar columns, each present only when needed; one character per sample for vt and q. */
interface ChunkMeta {
  /** n = number, b = boolean, s = string, z = null (default all n). */
  vt?: string;
  /** g = good, u = uncertain, b = bad (default all g). */
  q?: string;
  /** String values by sample index. */
  s?: Record<number, string>;
  /** Causes by sample index. */
  c?: Record<number, string>;
}

const QUALITY_CODE: Record<Quality, string> = { good: 'g', uncertain: 'u', bad: 'b' };
const QUALITY_OF: Record<string, Quality> = { g: 'good', u: 'uncertain', b: 'bad' };

function vtypeOf(v: StoredValue): string {
  if (v === null) return 'z';
  if (typeof v === 'number') return 'n';
  if (typeof v === 'boolean') return 'b';
  return 's';
}

function countable(v: StoredValue, q: Quality): v is number | boolean {
  return q !== 'bad' && (typeof v === 'number' || typeof v === 'boolean');
}

/**
 * Samples as parallel columns: ts and the number (NaN when not a number or boolean) for every
 * sample, and the whole sample only for those that are not a good plain number without a cause.
 * Buffered telemetry is kept this way so that the wire objects die young instead of being
 * promoted while they wait for the next flush.
 */
export class SampleColumns {
  readonly ts: number[] = [];
  readonly num: number[] = [];
  /** Samples that are not a good plain number (boolean, string, null, uncertain/bad, cause), by index. */
  other: Map<number, ChunkSample> | undefined;

  get length(): number {
    return this.ts.length;
  }

  push(r: ChunkSample): void {
    const i = this.ts.length;
    this.ts.push(r.ts);
    const v = r.v;
    if (typeof v === 'number') {
      this.num.push(v);
      if (r.q === 'good' && r.c === undefined) return;
    } else this.num.push(typeof v === 'boolean' ? (v ? 1 : 0) : NaN);
    (this.other ??= new Map()).set(i, { v: r.v, q: r.q, ts: r.ts, ...(r.c === undefined ? {} : { c: r.c }) });
  }

  sample(i: number): ChunkSample {
    return this.other?.get(i) ?? { v: this.num[i]!, q: 'good', ts: this.ts[i]! };
  }

  /** Index of the newest sample (the last to arrive among equal timestamps). */
  newest(): number {
    let best = 0;
    for (let i = 1; i < this.ts.length; i++) if (this.ts[i]! >= this.ts[best]!) best = i;
    return best;
  }

  /** These samples sorted by ts, arrival order kept on equal ts; this when already sorted. */
  sorted(): SampleColumns {
    const ts = this.ts;
    if (isSorted(ts.length, (i) => ts[i]!)) return this;
    // Array.prototype.sort is stable: equal ts keep arrival order.
    const order = Array.from(ts, (_, i) => i).sort((a, b) => ts[a]! - ts[b]!);
    const out = new SampleColumns();
    for (const i of order) out.push(this.sample(i));
    return out;
  }

  static of(samples: readonly ChunkSample[]): SampleColumns {
    const c = new SampleColumns();
    for (const s of samples) c.push(s);
    return c;
  }
}

function isSorted(length: number, tsAt: (i: number) => number): boolean {
  for (let i = 1; i < length; i++) if (tsAt(i) < tsAt(i - 1)) return false;
  return true;
}

/** Sorts by ts in place, keeping arrival order on equal ts (Array.prototype.sort is stable). */
export function sortByTs<T extends { readonly ts: number }>(samples: T[]): T[] {
  return isSorted(samples.length, (i) => samples[i]!.ts) ? samples : samples.sort((a, b) => a.ts - b.ts);
}

/**
 * [start, end) ranges of ts-sorted columns that fit one chunk each. Chunks never cross a boundary
 * of the CHUNK_MAX_SPAN_MS grid (whole hours since the epoch): every chunk then lies inside one
 * hourly (or daily, ...) bucket, whose aggregate it serves without being decoded.
 */
export function chunkRanges(ts: readonly number[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const cell = (t: number): number => Math.floor(t / CHUNK_MAX_SPAN_MS);
  let start = 0;
  for (let i = 1; i <= ts.length; i++) {
    if (i === ts.length || i - start >= CHUNK_MAX_SAMPLES || cell(ts[i]!) !== cell(ts[start]!)) {
      out.push([start, i]);
      start = i;
    }
  }
  return out;
}

/** Encodes every chunk of ts-sorted columns. */
export function encodeChunks(sorted: SampleColumns): EncodedChunk[] {
  return chunkRanges(sorted.ts).map(([from, to]) => encodeRange(sorted, from, to));
}

/** Encodes ts-sorted samples that fit one chunk (retention and compaction rewrites). */
export function encodeChunk(samples: readonly ChunkSample[]): EncodedChunk {
  return encodeRange(SampleColumns.of(samples), 0, samples.length);
}

/** Whether any key of `other` lies in [from, to), in time linear in the smaller of the two. */
function anyIn(other: ReadonlyMap<number, unknown>, from: number, to: number): boolean {
  if (other.size < to - from) {
    for (const i of other.keys()) if (i >= from && i < to) return true;
    return false;
  }
  for (let i = from; i < to; i++) if (other.has(i)) return true;
  return false;
}

function encodeRange(cols: SampleColumns, from: number, to: number): EncodedChunk {
  const n = to - from;
  const ts = Float64Array.from(cols.ts.slice(from, to));
  const num = Float64Array.from(cols.num.slice(from, to));
  let count = 0;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  const add = (x: number): void => {
    count++;
    sum += x;
    if (x < min) min = x;
    if (x > max) max = x;
  };
  const other = cols.other;
  let meta: string | null = null;
  if (!other || !anyIn(other, from, to)) {
    for (let i = 0; i < n; i++) add(num[i]!);
  } else {
    let vt = '';
    let q = '';
    let s: Record<number, string> | undefined;
    let c: Record<number, string> | undefined;
    for (let i = 0; i < n; i++) {
      const r = other.get(from + i);
      if (!r) {
        vt += 'n';
        q += 'g';
        add(num[i]!);
        continue;
      }
      vt += vtypeOf(r.v);
      q += QUALITY_CODE[r.q];
      if (typeof r.v === 'string') (s ??= {})[i] = r.v;
      if (r.c !== undefined) (c ??= {})[i] = r.c;
      if (countable(r.v, r.q)) add(num[i]!);
    }
    const m: ChunkMeta = {};
    if (/[^n]/.test(vt)) m.vt = vt;
    if (/[^g]/.test(q)) m.q = q;
    if (s) m.s = s;
    if (c) m.c = c;
    meta = JSON.stringify(m);
  }
  return {
    tMin: ts[0]!,
    tMax: ts[n - 1]!,
    n,
    ts: Buffer.from(ts.buffer, ts.byteOffset, ts.byteLength),
    num: Buffer.from(num.buffer, num.byteOffset, num.byteLength),
    meta,
    agg: { count, sum, min: count > 0 ? min : null, max: count > 0 ? max : null },
  };
}

/** A stored chunk's columns, decoded lazily per sample. */
export class DecodedChunk {
  readonly ts: Float64Array;
  private readonly num: Float64Array;
  private readonly meta: ChunkMeta;

  constructor(ts: Uint8Array, num: Uint8Array, meta: string | null) {
    this.ts = floats(ts);
    this.num = floats(num);
    this.meta = meta === null ? {} : (JSON.parse(meta) as ChunkMeta);
  }

  get length(): number {
    return this.ts.length;
  }

  sample(i: number): RawSample {
    const quality = this.meta.q ? QUALITY_OF[this.meta.q[i]!]! : 'good';
    const cause = this.meta.c?.[i];
    const value = this.value(i);
    return cause === undefined ? { ts: this.ts[i]!, value, quality } : { ts: this.ts[i]!, value, quality, cause };
  }

  /** The sample's number when it counts toward aggregates, else undefined. */
  countable(i: number): number | undefined {
    if (this.meta.q?.[i] === 'b') return undefined;
    const t = this.meta.vt?.[i] ?? 'n';
    return t === 'n' || t === 'b' ? this.num[i]! : undefined;
  }

  private value(i: number): StoredValue {
    switch (this.meta.vt?.[i] ?? 'n') {
      case 'n':
        return this.num[i]!;
      case 'b':
        return this.num[i] !== 0;
      case 's':
        return this.meta.s?.[i] ?? '';
      default:
        return null;
    }
  }
}

/** A Float64Array over a copy of the bytes (a BLOB's buffer offset need not be 8-aligned). */
function floats(bytes: Uint8Array): Float64Array {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Float64Array(copy.buffer, 0, bytes.byteLength / 8);
}

/** Adds the countable samples with from <= ts <= to to per-bucket partials. */
export function addToBuckets(into: Map<number, { sum: number; min: number; max: number; count: number }>, bucketMs: number, ts: number, x: number): void {
  const start = Math.floor(ts / bucketMs) * bucketMs;
  const b = into.get(start);
  if (!b) into.set(start, { sum: x, min: x, max: x, count: 1 });
  else {
    b.sum += x;
    if (x < b.min) b.min = x;
    if (x > b.max) b.max = x;
    b.count++;
  }
}

export function bucketsToPartials(buckets: Map<number, { sum: number; min: number; max: number; count: number }>): PartialBucket[] {
  return [...buckets].map(([start, b]) => ({ start, ...b }));
}

/** The countable number of a wire reading, or undefined. */
export function countableReading(r: ChunkSample): number | undefined {
  if (!countable(r.v, r.q)) return undefined;
  return typeof r.v === 'boolean' ? (r.v ? 1 : 0) : (r.v as number);
}

/** A wire reading as a raw history sample. */
export function sampleOf(r: ChunkSample): RawSample {
  return r.c === undefined ? { ts: r.ts, value: r.v, quality: r.q } : { ts: r.ts, value: r.v, quality: r.q, cause: r.c };
}

/** A decoded sample as a chunk sample again (merging and trimming chunks). */
export function chunkSampleOf(s: RawSample): ChunkSample {
  return s.cause === undefined ? { v: s.value, q: s.quality, ts: s.ts } : { v: s.value, q: s.quality, ts: s.ts, c: s.cause };
}

/** The columns of a `chunks` row both backends store and read back (each backend's row adds its own). */
export interface StoredChunk {
  readonly series: number;
  /** Place in arrival order. */
  readonly ord: number;
  readonly t_min: number;
  readonly t_max: number;
  readonly n: number;
  readonly agg_n: number;
  readonly agg_sum: number | null;
  readonly agg_min: number | null;
  readonly agg_max: number | null;
  readonly ts: Buffer;
  readonly num: Buffer;
  readonly meta: string | null;
}

/**
 * History buckets from stored chunks, the same for both backends: a chunk inside [from, to] and
 * inside one bucket counts through its stored aggregate (`whole`, not decoded); any other chunk is
 * decoded and its countable samples in [from, to] go into `buckets` (where the caller adds what is
 * still buffered).
 */
export function chunkBuckets(rows: Iterable<StoredChunk>, from: number, to: number, bucketMs: number): { buckets: Map<number, { sum: number; min: number; max: number; count: number }>; whole: PartialBucket[] } {
  const buckets = new Map<number, { sum: number; min: number; max: number; count: number }>();
  const whole: PartialBucket[] = [];
  for (const row of rows) {
    if (row.t_min >= from && row.t_max <= to && Math.floor(row.t_min / bucketMs) === Math.floor(row.t_max / bucketMs)) {
      if (row.agg_n > 0) whole.push({ start: row.t_min, sum: row.agg_sum ?? 0, min: row.agg_min ?? 0, max: row.agg_max ?? 0, count: row.agg_n });
      continue;
    }
    const c = new DecodedChunk(row.ts, row.num, row.meta);
    for (let i = 0; i < c.length; i++) {
      const ts = c.ts[i]!;
      if (ts < from || ts > to) continue;
      const x = c.countable(i);
      if (x !== undefined) addToBuckets(buckets, bucketMs, ts, x);
    }
  }
  return { buckets, whole };
}

/**
 * The oldest `limit` samples of [from, to] (history()'s order: ts, then arrival), both backends'
 * historyHead(): chunks are added in (t_min, ord) order until wants() says no later chunk can
 * hold an older sample, then what is still buffered (newer in arrival than every chunk). Only
 * the limit + 1 oldest samples are kept, and only the chunks that can hold them are decoded.
 */
export class OldestSamples {
  private taken: { readonly s: RawSample; readonly ord: number; readonly i: number }[] = [];
  private arrivals = 0;

  constructor(
    private readonly from: number,
    private readonly to: number,
    private readonly limit: number,
  ) {}

  private trim(): void {
    this.taken.sort((a, b) => a.s.ts - b.s.ts || a.ord - b.ord || a.i - b.i);
    this.taken.length = Math.min(this.taken.length, this.limit + 1);
  }

  /** Whether a chunk with this t_min (and every later one) may still hold one of the oldest samples. */
  wants(tMin: number): boolean {
    if (this.taken.length <= this.limit) return true;
    this.trim();
    return tMin <= this.taken[this.limit]!.s.ts;
  }

  addChunk(row: StoredChunk): void {
    const c = new DecodedChunk(row.ts, row.num, row.meta);
    for (let i = 0; i < c.length; i++) if (c.ts[i]! >= this.from && c.ts[i]! <= this.to) this.taken.push({ s: c.sample(i), ord: row.ord, i });
  }

  /** Buffered samples with from <= ts <= to, in arrival order (after every chunk's). */
  addBuffered(samples: Iterable<ChunkSample>): void {
    for (const r of samples) this.taken.push({ s: sampleOf(r), ord: Number.POSITIVE_INFINITY, i: this.arrivals++ });
  }

  /**
   * The page: when the range holds more than `limit` samples, those older than `next` (the ts of the
   * first left out, so a page never splits one millisecond) and `next`; should more than `limit`
   * samples share one millisecond, the first `limit` of them and next = that ms + 1.
   */
  result(): SamplePage {
    this.trim();
    const all = this.taken.map((t) => t.s);
    if (all.length <= this.limit) return { samples: all };
    const next = all[this.limit]!.ts;
    const before = all.slice(0, this.limit).filter((s) => s.ts < next);
    return before.length > 0 ? { samples: before, next } : { samples: all.slice(0, this.limit), next: next + 1 };
  }
}

export interface ChunkMerge<R> {
  /** Consecutive rows (in arrival order) to replace... */
  readonly run: readonly R[];
  /** ...by these, fewer, chunks (stored at the run's first ord values, so arrival order is kept). */
  readonly pieces: EncodedChunk[];
}

/**
 * Compaction's plan, the same for both backends: the runs of consecutive `small` chunks (rows in
 * arrival order) whose samples re-encode into fewer chunks. Runs of one, and runs that would not
 * shrink, are left as they are.
 */
export function planChunkMerges<R extends StoredChunk>(rows: readonly R[], small: (row: R) => boolean): ChunkMerge<R>[] {
  const merges: ChunkMerge<R>[] = [];
  for (let i = 0; i < rows.length; ) {
    if (!small(rows[i] as R)) {
      i++;
      continue;
    }
    let j = i;
    while (j < rows.length && small(rows[j] as R)) j++;
    const run = rows.slice(i, j);
    i = j;
    if (run.length < 2) continue;
    const merged: ChunkSample[] = [];
    for (const row of run) {
      const c = new DecodedChunk(row.ts, row.num, row.meta);
      for (let k = 0; k < c.length; k++) merged.push(chunkSampleOf(c.sample(k)));
    }
    const pieces = encodeChunks(SampleColumns.of(merged).sorted());
    if (pieces.length < run.length) merges.push({ run, pieces });
  }
  return merges;
}
