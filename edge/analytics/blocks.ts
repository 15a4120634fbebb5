/**
 * Block deviation: a slow view of the stream. Readings are aggregated into blocks of `size`
 * (their mean and their spread, the standard deviation within the block); each finished block is
 * compared with the `baseline` blocks before it by a robust z-score (median and 1.4826·MAD of
 * that baseline). The raw surprise is the larger |z| of the enabled features. It is recomputed
 * once per block and held in between, so it costs a few hundred operations per block.
 *
 * What it sees that the per-reading forecast and the 48/96-reading shape novelty see weakly:
 *  - a slow drift or a level shift that builds over hours: each reading is well predicted from the
 *    one before, but a block mean several baseline spreads from the last day's blocks is new;
 *  - a change of volatility (a quiet metric turning noisy, or a noisy one going flat): block means
 *    average the noise away, the forecast error grows only a little per reading, but the block's
 *    spread (compared as log spread, so a halving counts as much as a doubling) moves far.
 * The MAD is floored at a fraction of the range seen so far, so a perfectly flat baseline does not
 * make the first wiggle infinitely surprising.
 */
import { Ring } from './stats.js';

export interface BlockOptions {
  /** Readings per block (0 = off). */
  readonly size: number;
  /** Past blocks that describe normal (the robust baseline). */
  readonly baseline: number;
  /** Which block features are compared: the mean, the spread (log std), or both (the larger |z|). */
  readonly features: 'mean' | 'spread' | 'both';
  /** Floor of the baseline's scale, as a fraction of the range of values seen so far. */
  readonly minScale: number;
  /** Which deviations count: above the baseline, below it, or either. */
  readonly direction: 'up' | 'down' | 'both';
  /**
   * A block's spread: 'std' (standard deviation of its readings) or 'diff' (median |change| from
   * one reading to the next, the first against the previous block's last): one spike in a block
   * moves its std far, but not the median change, so 'diff' sees a sustained change of volatility only.
   */
  readonly spread: 'std' | 'diff';

}

/** Floor of the log spreads' scale: a change of spread under ~10% of the baseline's is never many MADs. */
const LOG_SPREAD_FLOOR = 0.1;

export interface BlockState {
  /** [readings, sum, sum of squares] of the block being filled. */
  readonly current: readonly [number, number, number];
  readonly means: number[];
  readonly spreads: number[];
  readonly lo: number | null;
  readonly hi: number | null;
  readonly last: number;
  /** The latest reading ('diff' spread); absent before the first. */
  readonly previous?: number;
}

export class BlockDeviation {
  private current: [number, number, number];
  private means: Ring;
  private spreads: Ring;
  private lo: number;
  private hi: number;
  private last: number;
  private readonly scratch: Float64Array;
  /** |changes| within the block being filled ('diff' spread), and the previous reading. */
  private readonly changes: Float64Array;
  private previous: number;

  constructor(readonly opts: BlockOptions, state?: BlockState) {
    this.current = state ? [...state.current] : [0, 0, 0];
    this.means = Ring.from(state?.means ?? [], opts.baseline);
    this.spreads = Ring.from(state?.spreads ?? [], opts.baseline);
    this.lo = state?.lo ?? Infinity;
    this.hi = state?.hi ?? -Infinity;
    this.last = state?.last ?? 0;
    this.scratch = new Float64Array(Math.max(1, opts.baseline));
    this.changes = new Float64Array(Math.max(1, opts.size));
    this.previous = state?.previous ?? NaN;

  }

  /** Whether the baseline holds enough blocks for a deviation to mean anything. */
  get ready(): boolean {
    return this.means.length >= this.opts.baseline;
  }

  /** Raw surprise after this reading: recomputed when a block closes, held in between. */
  update(value: number): number {
    if (value < this.lo) this.lo = value;
    if (value > this.hi) this.hi = value;
    const c = this.current;
    this.changes[c[0]] = Number.isFinite(this.previous) ? Math.abs(value - this.previous) : 0;
    this.previous = value;
    c[0]++;
    c[1] += value;
    c[2] += value * value;
    if (c[0] < this.opts.size) return this.last;
    const mean = c[1] / c[0];
    const spread = this.opts.spread === 'diff' ? medianChange(this.changes, c[0]) : Math.sqrt(Math.max(0, c[2] / c[0] - mean * mean));
    this.current = [0, 0, 0];
    const range = this.hi - this.lo;
    const floor = Math.max(this.opts.minScale * (range > 0 ? range : 1), 1e-9);
    // Spreads are compared on a log scale, floored where a spread is below the noise of the range.
    const logSpread = Math.log(spread + floor);
    if (this.ready) {
      const f = this.opts.features;
      let z = 0;
      const d = this.opts.direction;
      const counted = (signed: number): number => (d === 'both' ? Math.abs(signed) : d === 'up' ? Math.max(0, signed) : Math.max(0, -signed));
      if (f !== 'spread') z = Math.max(z, counted(robustZ(this.means, mean, floor, this.scratch)));
      if (f !== 'mean') z = Math.max(z, counted(robustZ(this.spreads, logSpread, LOG_SPREAD_FLOOR, this.scratch)));
      this.last = z;
    }
    this.means.push(mean);
    this.spreads.push(logSpread);
    return this.last;
  }

  state(): BlockState {
    return {
      current: [...this.current],
      means: this.means.toArray(),
      spreads: this.spreads.toArray(),
      lo: Number.isFinite(this.lo) ? this.lo : null,
      hi: Number.isFinite(this.hi) ? this.hi : null,
      last: this.last,
      ...(Number.isFinite(this.previous) ? { previous: this.previous } : {}),

    };
  }
}

/** Median of the first n |changes| (reorders them). */
function medianChange(changes: Float64Array, n: number): number {
  return kth(changes, n, n >> 1);
}

/** (x − median) / max(1.4826·MAD, floor) of the values in `ring`. */
function robustZ(ring: Ring, x: number, floor: number, buf: Float64Array): number {
  const n = ring.length;
  for (let i = 0; i < n; i++) buf[i] = ring.at(i);
  const med = kth(buf, n, n >> 1);
  for (let i = 0; i < n; i++) buf[i] = Math.abs((buf[i] ?? 0) - med);
  const mad = 1.4826 * kth(buf, n, n >> 1);
  return (x - med) / Math.max(mad, floor);
}

/** k-th smallest of buf[0..n) (sorts the prefix: n is a baseline of a few dozen blocks). */
function kth(buf: Float64Array, n: number, k: number): number {
  const view = buf.subarray(0, n);
  view.sort();
  return view[k] ?? 0;
}

export interface VolatilityRecordOptions {
  /** Readings whose changes make one volatility (0 = off). */
  readonly size: number;
  /** A volatility that exceeds every earlier one by more than this fraction is a record. */
  readonly tolerance: number;
  /** Readings seen before a record counts (the first stretches set the bar). */
  readonly after: number;
  /**
   * A record must also exceed this fraction of the range of values seen so far: on a point that
   * is mostly flat, any wiggle would otherwise be "more than twice as volatile as ever".
   */
  readonly minRange: number;
}

export interface VolatilityRecordState {
  /** The newest |changes|, oldest first. */
  readonly changes: number[];
  readonly previous: number | null;
  readonly max: number;
  readonly seen: number;
  readonly lo: number | null;
  readonly hi: number | null;
}

/**
 * Record volatility: range novelty (HTM's "spatial anomaly", the detector's spatialTolerance) for
 * the signal's volatility rather than its value. The volatility after each reading is the median
 * |change| from one reading to the next over the last `size` changes (robust: a spike or two move
 * it not at all; sliding, so no block alignment decides what is seen); a volatility that exceeds
 * every earlier one by more than `tolerance` (1 = more than twice) is a record. A metric that turns
 * more erratic than it has ever been (a flapping link, an autoscaling group that keeps resizing) is
 * surprising however well each reading was predicted, while a point whose bursts are its normal
 * sets the bar with its first bursts. O(size) per reading, `size` numbers of memory.
 */
export class VolatilityRecord {
  private readonly changes: Ring;
  private readonly scratch: Float64Array;
  private previous: number;
  private max: number;
  private seen: number;
  private lo: number;
  private hi: number;
  private isRecord = false;

  constructor(readonly opts: VolatilityRecordOptions, state?: VolatilityRecordState) {
    this.changes = Ring.from(state?.changes ?? [], Math.max(1, opts.size));
    this.scratch = new Float64Array(Math.max(1, opts.size));
    this.previous = state?.previous ?? NaN;
    this.max = state?.max ?? 0;
    this.seen = state?.seen ?? 0;
    this.lo = state?.lo ?? Infinity;
    this.hi = state?.hi ?? -Infinity;
  }

  /** Whether the latest reading set a record. */
  get record(): boolean {
    return this.isRecord;
  }

  update(value: number): boolean {
    this.isRecord = false;
    this.seen++;
    if (value < this.lo) this.lo = value;
    if (value > this.hi) this.hi = value;
    if (Number.isFinite(this.previous)) this.changes.push(Math.abs(value - this.previous));
    this.previous = value;
    const n = this.changes.length;
    if (n < this.opts.size) return false;
    for (let i = 0; i < n; i++) this.scratch[i] = this.changes.at(i);
    const volatility = medianChange(this.scratch, n);
    this.isRecord = this.seen > this.opts.after && volatility > (1 + this.opts.tolerance) * this.max && volatility > this.opts.minRange * (this.hi - this.lo);
    if (volatility > this.max) this.max = volatility;
    return this.isRecord;
  }

  state(): VolatilityRecordState {
    return {
      changes: this.changes.toArray(),
      previous: Number.isFinite(this.previous) ? this.previous : null,
      max: this.max,
      seen: this.seen,
      lo: Number.isFinite(this.lo) ? this.lo : null,
      hi: Number.isFinite(this.hi) ? this.hi : null,
    };
  }
}
