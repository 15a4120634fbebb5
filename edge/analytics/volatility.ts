/** Record volatility: the detector's `volatilityRecord` signal, range novelty for how erratic a point is (see VolatilityRecord). */
import { Ring } from './stats.js';

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
    const volatility = median(this.scratch, n);
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

/** Median (the upper one of an even count) of buf[0..n); sorts that prefix: n is a window of a few dozen readings. */
function median(buf: Float64Array, n: number): number {
  const view = buf.subarray(0, n);
  view.sort();
  return view[n >> 1] ?? 0;
}
