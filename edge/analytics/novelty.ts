/**
 * Pattern novelty: how far the recent shape of the signal is from every shape seen before.
 * The last `window` blocks of `step` readings (block means) form a vector; its distance to the
 * nearest remembered vector, relative to the range of values seen so far, is the raw surprise.
 * A never-seen level or a never-seen shape (a missing daily peak, a burst of spikes) is far from
 * memory; a repeating pattern, however irregular, is not. This is the idea behind KNN-CAD and
 * ARTime's category mismatch, kept to a cheap brute-force search over a bounded memory.
 *
 * Blocks the detector has already reported as anomalous (maskLatest) are left out of a second
 * distance, `lastMasked`, which is what the detector scores: otherwise every vector still holding
 * the anomaly is "new" until the anomaly has slid out of the window (window × step readings, 96 by
 * default), and the score stays raised long after the signal is normal again. The full distance
 * (update's result) still feeds the calibration, so what counts as normal novelty is unchanged,
 * and vectors are remembered unmasked, so a recurrence of the same event still finds its like.
 */
import { Ring } from './stats.js';

export interface NoveltyOptions {
  /** Readings averaged into one block. */
  readonly step: number;
  /** Blocks per pattern vector. */
  readonly window: number;
  /** Pattern vectors remembered (oldest forgotten first). */
  readonly memory: number;
  /** Most recent vectors excluded from the search (they overlap the current one). */
  readonly exclude: number;
  /** Vectors remembered before novelty is reported at all (an empty memory finds everything new). */
  readonly minMemory: number;
}

export interface NoveltyState {
  readonly block: number[];
  readonly blocks: number[];
  readonly memory: number[];
  readonly lo: number | null;
  readonly hi: number | null;
  readonly last: number;
  /** Per block of `blocks`, 1 if masked; absent in states saved before masking existed. */
  readonly masked?: number[];
  /** Whether the block being filled is masked. */
  readonly blockMasked?: boolean;
  readonly lastMasked?: number;
}

export class PatternNovelty {
  private block: number[];
  private blocks: Ring;
  /** Flattened memory of vectors: memory * window numbers. */
  private mem: Ring;
  private lo: number;
  private hi: number;
  private last: number;
  /** Parallel to `blocks`: true where the block is left out of comparisons. */
  private masked: boolean[];
  private blockMasked: boolean;
  private lastMaskedDistance: number;

  constructor(readonly opts: NoveltyOptions, state?: NoveltyState) {
    this.block = state ? [...state.block] : [];
    this.blocks = Ring.from(state?.blocks ?? [], opts.window);
    // float32: the memory is most of a detector's footprint, and distances need no more precision.
    this.mem = Ring.from(state?.memory ?? [], opts.memory * opts.window, 'f32');
    this.lo = state?.lo ?? Infinity;
    this.hi = state?.hi ?? -Infinity;
    this.last = state?.last ?? 0;
    this.masked = (state?.masked ?? []).slice(-opts.window).map((m) => m === 1);
    while (this.masked.length < this.blocks.length) this.masked.unshift(false);
    this.blockMasked = state?.blockMasked ?? false;
    this.lastMaskedDistance = state?.lastMasked ?? this.last;
  }

  /** The latest raw novelty with masked blocks left out (equal to update()'s result when none are). */
  get lastMasked(): number {
    return this.lastMaskedDistance;
  }

  /** Leaves the block holding the latest reading out of every later comparison. */
  maskLatest(): void {
    if (this.block.length > 0) this.blockMasked = true;
    else if (this.masked.length > 0) this.masked[this.masked.length - 1] = true;
  }

  /** Whether enough patterns are remembered for distances to mean anything. */
  get ready(): boolean {
    return this.mem.length / this.opts.window - this.opts.exclude >= this.opts.minMemory;
  }

  /**
   * Whether the point's own recent readings fill a pattern vector. Always so once the memory is
   * ready (vectors are remembered only then), except in a detector started from a prior
   * (prior.ts): its memory came with the prior, its own blocks have yet to fill.
   */
  get filled(): boolean {
    return this.blocks.length >= this.opts.window;
  }

  /** Raw novelty after this reading (recomputed once per block, held in between). */
  update(value: number): number {
    if (value < this.lo) this.lo = value;
    if (value > this.hi) this.hi = value;
    this.block.push(value);
    if (this.block.length < this.opts.step) return this.last;
    let s = 0;
    for (const v of this.block) s += v;
    this.blocks.push(s / this.block.length);
    this.masked.push(this.blockMasked);
    if (this.masked.length > this.opts.window) this.masked.shift();
    this.block = [];
    this.blockMasked = false;
    const w = this.opts.window;
    if (this.blocks.length < w) return this.last;
    const cur = this.blocks.toArray();
    this.last = this.nearest(cur, false);
    this.lastMaskedDistance = this.masked.includes(true) ? this.nearest(cur, true) : this.last;
    for (const v of cur) this.mem.push(v);
    return this.last;
  }

  private nearest(cur: number[], skipMasked: boolean): number {
    const w = this.opts.window;
    const stored = Math.floor(this.mem.length / w) - this.opts.exclude;
    if (stored <= 0) return 0;
    const range = this.hi - this.lo;
    const scale = range > 0 ? range : 1;
    let compared = 0;
    for (let i = 0; i < w; i++) if (!skipMasked || this.masked[i] !== true) compared++;
    if (compared === 0) return 0;
    let best = Infinity;
    for (let j = 0; j < stored; j++) {
      let d = 0;
      const base = j * w;
      for (let i = 0; i < w && d < best; i++) {
        if (skipMasked && this.masked[i] === true) continue;
        const diff = (this.mem.at(base + i) - (cur[i] ?? 0)) / scale;
        d += diff * diff;
      }
      if (d < best) best = d;
    }
    return Math.sqrt(best / compared);
  }

  state(): NoveltyState {
    return {
      block: [...this.block],
      blocks: this.blocks.toArray(),
      memory: this.mem.toArray(),
      lo: Number.isFinite(this.lo) ? this.lo : null,
      hi: Number.isFinite(this.hi) ? this.hi : null,
      last: this.last,
      masked: this.masked.map((m) => (m ? 1 : 0)),
      blockMasked: this.blockMasked,
      lastMasked: this.lastMaskedDistance,
    };
  }
}
