/**
 * Small numeric helpers for the streaming detector. Everything here is allocation-free per
 * reading (fixed-size rings) because the gateway scores every reading of every point.
 */

/**
 * Fixed-capacity ring of numbers; index 0 is the oldest kept value. 'f32' halves the memory of a
 * large ring whose values need no more than 7 significant digits (the pattern memories).
 */
export class Ring {
  private readonly buf: Float64Array | Float32Array;
  private start = 0;
  private count = 0;

  constructor(
    readonly capacity: number,
    precision: 'f64' | 'f32' = 'f64',
  ) {
    this.buf = precision === 'f32' ? new Float32Array(Math.max(1, capacity)) : new Float64Array(Math.max(1, capacity));
  }

  get length(): number {
    return this.count;
  }

  push(v: number): void {
    const cap = this.buf.length;
    if (this.count < cap) {
      this.buf[(this.start + this.count) % cap] = v;
      this.count++;
    } else {
      this.buf[this.start] = v;
      this.start = (this.start + 1) % cap;
    }
  }

  /** i-th oldest value (0 = oldest). */
  at(i: number): number {
    return this.buf[(this.start + i) % this.buf.length] ?? 0;
  }

  /** k-th newest value (0 = newest). */
  back(k: number): number {
    return this.at(this.count - 1 - k);
  }

  toArray(): number[] {
    const out = new Array<number>(this.count);
    for (let i = 0; i < this.count; i++) out[i] = this.at(i);
    return out;
  }

  static from(values: readonly number[], capacity: number, precision: 'f64' | 'f32' = 'f64'): Ring {
    const r = new Ring(capacity, precision);
    for (const v of values.slice(-capacity)) r.push(v);
    return r;
  }
}

/** Upper tail P(Z > z) of the standard normal (Abramowitz–Stegun erfc, |error| < 1.2e-7 relative). */
export function normalTail(z: number): number {
  if (!Number.isFinite(z)) return z > 0 ? 0 : 1;
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * x);
  const erfc =
    t *
    Math.exp(
      -x * x -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return z >= 0 ? 0.5 * erfc : 1 - 0.5 * erfc;
}

/** Quantile of a sample (sorts a copy; callers use it on small or occasional arrays only). */
export function quantile(values: ArrayLike<number>, q: number): number {
  const n = values.length;
  if (n === 0) return 0;
  const s = Float64Array.from(values as ArrayLike<number>).sort();
  const pos = Math.min(n - 1, Math.max(0, q * (n - 1)));
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  const a = s[lo] ?? 0;
  const b = s[hi] ?? a;
  return a + (b - a) * (pos - lo);
}

/** The median time between successive timestamps (repeats left out); undefined with fewer than two. */
export function medianGap(timestamps: ArrayLike<number>): number | undefined {
  const gaps: number[] = [];
  for (let i = 1; i < timestamps.length; i++) {
    const gap = (timestamps[i] ?? 0) - (timestamps[i - 1] ?? 0);
    if (gap > 0) gaps.push(gap);
  }
  return gaps.length === 0 ? undefined : quantile(gaps, 0.5);
}

/** Deterministic PRNG (mulberry32) so training and weight init replay identically after reload. */
export class Rng {
  constructor(private state: number) {}

  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  get seed(): number {
    return this.state;
  }
}
