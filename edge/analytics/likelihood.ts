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
  /**
   * Long memory of extremes: the maximum of every `blockSize` readings is kept for `blocks` blocks.
   * A surprise no larger than ones seen in that long past is at most as rare as they were, which
   * stops a recurring burst (normal for that point, but rarer than the short history shows) from
   * scoring as a first-ever event.
   */
  readonly blockSize: number;
  readonly blocks: number;
  /** Also test the single newest raw value (spikes), not only the short average. */
  readonly single: boolean;
  /**
   * The single view's probability is multiplied by this: one reading must be this much rarer
   * than a sustained deviation to count (real signals have heavy-tailed one-off glitches).
   */
  readonly singlePenalty: number;
  /** Raw values are compared as raw^power (< 1 tames heavy-tailed errors). */
  readonly power: number;
  /**
   * Tail model: 'gauss' (HTM-style normal tail of mean/std) or 'evt' (peaks over threshold: an
   * exponential tail fitted to the top `tailFraction` of the history, which stays honest on the
   * heavy-tailed errors of real signals where a normal tail flags a burst every few thousand readings).
   */
  readonly tail: 'gauss' | 'evt';
  readonly tailFraction: number;
  /**
   * Location/scale of "normal": 'moments' (mean/std, HTM's choice) or 'robust' (median and
   * 1.4826·MAD): for skewed surprises such as nearest-neighbour distances, mostly near zero with
   * a long tail, the std is set by the tail itself and hides the next excursion.
   */
  readonly estimator?: 'moments' | 'robust';
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
  readonly blockMax1: number[];
  readonly blockMaxK: number[];
  readonly current: readonly [number, number, number];
  readonly evt1: readonly [number, number];
  readonly evtK: readonly [number, number];
  /** The newest scored raws (see update); absent in states saved before it existed. */
  readonly scored?: number[];
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
  /** EVT fits [threshold, mean excess] for the single and averaged views. */
  private evt1: [number, number] = [0, 1];
  private evtK: [number, number] = [0, 1];
  private blockMax1: Ring;
  /** Reused by the robust estimator (no allocation per re-estimate). */
  private scratch = new Float64Array(0);
  private blockMaxK: Ring;
  /** [readings in the current block, its max raw, its max average]. */
  private current: [number, number, number] = [0, 0, 0];
  /** The newest `avgWindow` raws as scored (they differ from `history` only where the caller masked). */
  private scored: Ring;

  constructor(readonly opts: LikelihoodOptions, state?: LikelihoodState) {
    this.history = Ring.from(state?.history ?? [], opts.historySize);
    this.blockMax1 = Ring.from(state?.blockMax1 ?? [], opts.blocks);
    this.blockMaxK = Ring.from(state?.blockMaxK ?? [], opts.blocks);
    this.scored = Ring.from(state?.scored ?? this.history.toArray(), opts.avgWindow);
    if (state) {
      this.current = [...state.current];
      this.evt1 = [...state.evt1];
      this.evtK = [...state.evtK];
      this.mean1 = state.mean1;
      this.std1 = state.std1;
      this.meanK = state.meanK;
      this.stdK = state.stdK;
      this.seen = state.seen;
      this.sinceEstimate = state.sinceEstimate;
      this.estimated = state.estimated;
    }
  }

  /** Whether a distribution of "normal" has been estimated (before it, every p is 0.5). */
  get ready(): boolean {
    return this.estimated;
  }

  /** Average of the newest `avgWindow` raw values (including the current one). */
  get average(): number {
    const k = Math.min(this.opts.avgWindow, this.history.length);
    let s = 0;
    for (let i = 0; i < k; i++) s += this.history.back(i);
    return k > 0 ? s / k : 0;
  }

  /**
   * Feeds one raw surprise; returns the tail probability of it and of the current short average.
   * `scoredRaw` (default `raw`) is what is judged, while `raw` is what describes normal: a caller
   * that discounts part of a surprise it has already reported keeps the calibration unchanged.
   */
  update(raw: number, scoredRaw = raw): number {
    const x = this.transform(raw);
    const xs = this.transform(scoredRaw);
    let p = 0.5;
    if (this.seen >= this.opts.learnPeriod && (!this.estimated || this.sinceEstimate >= this.opts.reestimateEvery)) this.estimate();
    this.history.push(x);
    this.scored.push(xs);
    const avg = this.average;
    if (this.estimated) {
      const avgScored = xs === x && this.scoredMatches() ? avg : this.scoredAverage();
      const pk = Math.max(this.tailP(avgScored, this.meanK, this.stdK, this.evtK), this.longRate(this.blockMaxK, avgScored));
      if (this.opts.single) {
        const p1 = Math.max(this.tailP(xs, this.mean1, this.std1, this.evt1), this.longRate(this.blockMax1, xs));
        p = Math.min(1, 2 * Math.min(p1 * this.opts.singlePenalty, pk));
      } else p = pk;
    }
    const c = this.current;
    c[0]++;
    if (x > c[1]) c[1] = x;
    if (avg > c[2]) c[2] = avg;
    if (c[0] >= this.opts.blockSize && this.opts.blocks > 0) {
      this.blockMax1.push(c[1]);
      this.blockMaxK.push(c[2]);
      this.current = [0, 0, 0];
    }
    this.seen++;
    this.sinceEstimate++;
    return p;
  }

  private scoredAverage(): number {
    let s = 0;
    for (let i = 0; i < this.scored.length; i++) s += this.scored.at(i);
    return this.scored.length > 0 ? s / this.scored.length : 0;
  }

  /** Whether the scored window equals the newest history (nothing masked in it). */
  private scoredMatches(): boolean {
    const k = this.scored.length;
    if (k !== Math.min(this.opts.avgWindow, this.history.length)) return false;
    for (let i = 0; i < k; i++) if (this.scored.back(i) !== this.history.back(i)) return false;
    return true;
  }

  /** Surprises are compared as raw ** power; non-finite or negative ones count as none. */
  private transform(raw: number): number {
    return Number.isFinite(raw) && raw > 0 ? (this.opts.power === 1 ? raw : raw ** this.opts.power) : 0;
  }

  private tailP(x: number, mean: number, std: number, evt: readonly [number, number]): number {
    if (this.opts.tail === 'gauss') return normalTail((x - mean) / std);
    const [u, beta] = evt;
    return x <= u ? 1 : this.opts.tailFraction * Math.exp(-(x - u) / beta);
  }

  /**
   * Replaces the history with surprises recomputed by a new model over the same recent readings, so
   * the calibration describes the model in use (not its predecessor or the cold-start predictor).
   */
  reseed(raws: readonly number[]): void {
    this.history = new Ring(this.opts.historySize);
    for (const r of raws) this.history.push(this.transform(r));
    this.seen = Math.max(this.seen, raws.length);
    if (this.seen >= this.opts.learnPeriod) this.estimate();
  }

  /** Per-reading rate of long-past blocks whose maximum reached `x` (0 if none did). */
  private longRate(blocks: Ring, x: number): number {
    if (blocks.length === 0) return 0;
    let hits = 0;
    for (let i = 0; i < blocks.length; i++) if (blocks.at(i) >= x) hits++;
    return hits === 0 ? 0 : hits / ((blocks.length + 1) * this.opts.blockSize);
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
    if (this.opts.estimator === 'robust') {
      this.robustEstimate(k, floor);
      return;
    }
    this.mean1 = n > 0 ? s1 / n : 0;
    this.std1 = Math.max(Math.sqrt(Math.max(0, n > 1 ? q1 / n - this.mean1 ** 2 : 0)), floor);
    this.meanK = nK > 0 ? sK / nK : this.mean1;
    this.stdK = Math.max(Math.sqrt(Math.max(0, nK > 1 ? qK / nK - this.meanK ** 2 : 0)), floor / Math.sqrt(k));
    if (this.opts.tail === 'evt') {
      const singles = new Float64Array(n);
      const avgs = new Float64Array(Math.max(0, n - k + 1));
      let w = 0;
      for (let i = 0; i < n; i++) {
        const x = this.history.at(i);
        singles[i] = x;
        w += x;
        if (i >= k) w -= this.history.at(i - k);
        if (i >= k - 1) avgs[i - k + 1] = w / k;
      }
      this.evt1 = fitTail(singles, this.opts.tailFraction, floor);
      this.evtK = fitTail(avgs.length > 0 ? avgs : singles, this.opts.tailFraction, floor / Math.sqrt(k));
    }
    this.sinceEstimate = 0;
    this.estimated = true;
  }

  private robustEstimate(k: number, floor: number): void {
    const n = this.history.length;
    const m = Math.max(0, n - k + 1);
    if (this.scratch.length < Math.max(n, 1)) this.scratch = new Float64Array(Math.max(n, 1));
    const buf = this.scratch;
    if (this.opts.single) {
      for (let i = 0; i < n; i++) buf[i] = this.history.at(i);
      [this.mean1, this.std1] = medianMad(buf, n, floor);
    }
    let w = 0;
    for (let i = 0; i < n; i++) {
      w += this.history.at(i);
      if (i >= k) w -= this.history.at(i - k);
      if (i >= k - 1) buf[i - k + 1] = w / k;
    }
    [this.meanK, this.stdK] = medianMad(buf, m, floor / Math.sqrt(k));
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
      blockMax1: this.blockMax1.toArray(),
      blockMaxK: this.blockMaxK.toArray(),
      current: [...this.current],
      evt1: [...this.evt1],
      evtK: [...this.evtK],
      scored: this.scored.toArray(),
    };
  }
}

/** Peaks over threshold: the (1 − fraction) quantile and the mean excess above it. */
function fitTail(values: Float64Array, fraction: number, minScale: number): [number, number] {
  if (values.length === 0) return [0, Math.max(minScale, 1e-12)];
  const sorted = values.slice().sort();
  const at = Math.min(sorted.length - 1, Math.floor((1 - fraction) * sorted.length));
  const u = sorted[at] ?? 0;
  let excess = 0;
  let count = 0;
  for (let i = at + 1; i < sorted.length; i++) {
    excess += (sorted[i] ?? u) - u;
    count++;
  }
  return [u, Math.max(count > 0 ? excess / count : 0, minScale)];
}

/**
 * Median and normal-consistent MAD (1.4826 · median |x − median|) of buf[0..n), the MAD floored
 * at `floor`. Reorders buf. Selection, not sorting: this runs every `reestimateEvery` readings.
 */
function medianMad(buf: Float64Array, n: number, floor: number): [number, number] {
  if (n === 0) return [0, floor];
  const med = select(buf, n, n >> 1);
  for (let i = 0; i < n; i++) buf[i] = Math.abs((buf[i] ?? 0) - med);
  return [med, Math.max(1.4826 * select(buf, n, n >> 1), floor)];
}

/** k-th smallest of buf[0..n) (Hoare's quickselect, middle pivot; partially reorders buf). */
function select(buf: Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const pivot = buf[(lo + hi) >> 1] ?? 0;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while ((buf[i] ?? 0) < pivot) i++;
      while ((buf[j] ?? 0) > pivot) j--;
      if (i <= j) {
        const t = buf[i] ?? 0;
        buf[i] = buf[j] ?? 0;
        buf[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return buf[k] ?? 0;
}
