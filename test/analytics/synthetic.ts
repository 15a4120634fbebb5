/** Seeded synthetic series for detector tests (5-minute readings, daily cycle). */
export const STEP_MS = 300_000;
export const T0 = Date.UTC(2024, 0, 1);

export function rng(seed: number): () => number {
  let s = seed;
  return () => {
    let t = (s = (s + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function gaussian(r: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/** Daily sine (288 readings per day) plus N(0, noise²). */
export function dailySeries(n: number, seed: number, noise = 1): number[] {
  const g = gaussian(rng(seed));
  return Array.from({ length: n }, (_, i) => 50 + 10 * Math.sin((2 * Math.PI * i) / 288) + noise * g());
}
