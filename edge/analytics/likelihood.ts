/**
 * Anomaly likelihood: turns an unbounded, differently-scaled raw surprise (a prediction error, a
 * nearest-neighbour distance, …) into a tail probability, in the spirit of HTM's anomaly
 * likelihood. The raw value is averaged over a short window (so a sustained moderate surprise
 * counts as much as one large one), and that average is compared with the distribution of the
 * same average over the recent past (mean/std re-estimated periodically). The result is
 * P(average this large | recent behaviour), small when surprising: the same number means the same
 * thing on every point, which is what lets one threshold serve all points.
 */
import { normalTail, Ring } from './stats.js';

export interface LikelihoodOptions {
  /** Raw values averaged before comparison (1 = no averaging). */
  readonly avgWindow: number;
  /** How many past averages describe "normal". */
  readonly historySize: number;
  /** Averages needed before any probability other than 0.5 is reported. */
  readonly learnPeriod: number;
  /** Re-estimate mean/std every this many readings (cost control). */
  readonly reestimateEvery: number;
  /** Lower bound of the std, in raw units, so a perfectly quiet signal does not make noise look infinite. */
  readonly minStd: number;
}

export interface LikelihoodState {
  readonly history: number[];
  readonly mean1: number;
  readonly std1: number;
  readonly meanK: number;
  readonly stdK: number;
  readonly seen: number;
  readonly sinceEstimate: number;
  readonly estimated: boolean;
}

/**
 * Two views of the same surprise: the single newest raw value (a spike) and the average of the
 * last `avgWindow` (a sustained shift). Each is compared with its own recent distribution and the
 * smaller tail probability, doubled for the two looks, is reported.
 */
export class TailCalibrator {
  private history: Ring;
  private mean1 = 0;
  private std1 = 1;
  private meanK = 0;
  private stdK = 1;
  private seen = 0;
  private sinceEstimate = 0;
  private estimated = false;

  constructor(readonly opts: LikelihoodOptions, state?: LikelihoodState) {
    this.history = Ring.from(state?.history ?? [], opts.historySize);
    if (state) {
      this.mean1 = state.mean1;
      this.std1 = state.std1;
      this.meanK = state.meanK;
      this.stdK = state.stdK;
      this.seen = state.seen;
      this.sinceEstimate = state.sinceEstimate;
      this.estimated = state.estimated;
    }
  }

  /** Average of the newest `avgWindow` raw values (including the current one). */
  get average(): number {
    const k = Math.min(this.opts.avgWindow, this.history.length);
    let s = 0;
    for (let i = 0; i < k; i++) s += this.history.back(i);
    return k > 0 ? s / k : 0;
  }

  /** Feeds one raw surprise; returns the tail probability of it and of the current short average. */
  update(raw: number): number {
    const x = Number.isFinite(raw) ? raw : 0;
    let p = 0.5;
    if (this.seen >= this.opts.learnPeriod && (!this.estimated || this.sinceEstimate >= this.opts.reestimateEvery)) this.estimate();
    this.history.push(x);
    if (this.estimated) {
      const p1 = normalTail((x - this.mean1) / this.std1);
      const pk = normalTail((this.average - this.meanK) / this.stdK);
      p = Math.min(1, 2 * Math.min(p1, pk));
    }
    this.seen++;
    this.sinceEstimate++;
    return p;
  }

  private estimate(): void {
    const n = this.history.length;
    const k = this.opts.avgWindow;
    let s1 = 0;
    let q1 = 0;
    let sK = 0;
    let qK = 0;
    let nK = 0;
    let window = 0;
    for (let i = 0; i < n; i++) {
      const x = this.history.at(i);
      s1 += x;
      q1 += x * x;
      window += x;
      if (i >= k) window -= this.history.at(i - k);
      if (i >= k - 1) {
        const a = window / k;
        sK += a;
        qK += a * a;
        nK++;
      }
    }
    const floor = this.opts.minStd;
    this.mean1 = n > 0 ? s1 / n : 0;
    this.std1 = Math.max(Math.sqrt(Math.max(0, n > 1 ? q1 / n - this.mean1 ** 2 : 0)), floor);
    this.meanK = nK > 0 ? sK / nK : this.mean1;
    this.stdK = Math.max(Math.sqrt(Math.max(0, nK > 1 ? qK / nK - this.meanK ** 2 : 0)), floor / Math.sqrt(k));
    this.sinceEstimate = 0;
    this.estimated = true;
  }

  state(): LikelihoodState {
    return {
      history: this.history.toArray(),
      mean1: this.mean1,
      std1: this.std1,
      meanK: this.meanK,
      stdK: this.stdK,
      seen: this.seen,
      sinceEstimate: this.sinceEstimate,
      estimated: this.estimated,
    };
  }
}
