/** Flatline record: the detector's `flatlineRecord` signal, a stuck sensor as a record (see FlatlineRecord). */

export interface FlatlineRecordOptions {
  /** A run of identical readings longer than this many times every earlier run is a record (0 = off). */
  readonly factor: number;
  /** Shortest run that can be a record (a point whose earlier runs were all 1 or 2 readings long). */
  readonly minRun: number;
  /** Runs that start before this many readings never count (the history sets the bar); they still raise it. */
  readonly after: number;
  /**
   * Readings within this fraction of the range seen so far of the run's first reading count as
   * identical (0: exactly equal, the value a frozen sensor or a gateway holding its last value repeats).
   */
  readonly tolerance: number;
}

export interface FlatlineRecordState {
  /** The current run's first reading (null before any). */
  readonly anchor: number | null;
  readonly run: number;
  /** Reading number at which the current run started. */
  readonly start: number;
  /** The longest run that ended before the current one. */
  readonly longest: number;
  readonly fired: boolean;
  readonly seen: number;
  readonly lo: number | null;
  readonly hi: number | null;
}

/**
 * Flatline record: the mirror of record volatility (volatility.ts) for a point that stops moving.
 * A stuck sensor, a frozen PLC register or a gateway repeating its last value are classic
 * industrial failures, and each reading of one is perfectly predictable: the forecaster and the
 * pattern novelty have nothing to report. What is new is how long the point has been constant:
 * the current run of identical readings, once longer than `factor` times every earlier run of the
 * point (and at least `minRun` readings), is a record — reported once per run, on the reading that
 * sets it. A point whose normal includes long flat stretches (a valve closed all night, a counter
 * idle at 0) sets the bar with them; a run starting in the first `after` readings counts only
 * towards the bar, so a point constant since it started is never "stuck". O(1) per reading.
 */
export class FlatlineRecord {
  private anchor: number;
  private run: number;
  private start: number;
  private longest: number;
  private fired: boolean;
  private seen: number;
  private lo: number;
  private hi: number;
  private isRecord = false;

  constructor(readonly opts: FlatlineRecordOptions, state?: FlatlineRecordState) {
    this.anchor = state?.anchor ?? NaN;
    this.run = state?.run ?? 0;
    this.start = state?.start ?? 0;
    this.longest = state?.longest ?? 0;
    this.fired = state?.fired ?? false;
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
    if (value < this.lo) this.lo = value;
    if (value > this.hi) this.hi = value;
    if (Number.isFinite(this.anchor) && Math.abs(value - this.anchor) <= this.opts.tolerance * (this.hi - this.lo)) this.run++;
    else {
      if (this.run > this.longest) this.longest = this.run;
      this.anchor = value;
      this.run = 1;
      this.start = this.seen;
      this.fired = false;
    }
    this.seen++;
    if (!this.fired && this.opts.factor > 0 && this.start >= this.opts.after && this.run >= this.opts.minRun && this.run > this.opts.factor * this.longest) {
      this.fired = true;
      this.isRecord = true;
    }
    return this.isRecord;
  }

  state(): FlatlineRecordState {
    return {
      anchor: Number.isFinite(this.anchor) ? this.anchor : null,
      run: this.run,
      start: this.start,
      longest: this.longest,
      fired: this.fired,
      seen: this.seen,
      lo: Number.isFinite(this.lo) ? this.lo : null,
      hi: Number.isFinite(this.hi) ? this.hi : null,
    };
  }
}
