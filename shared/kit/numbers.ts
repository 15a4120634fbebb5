/** Small numeric helpers both sides' decision code uses. */

/** x limited to [0, 1]; NaN and infinities count as 0 (no evidence). */
export function clamp01(x: number): number {
  if (!Number.isFinite(x)) return 0;
  return x < 0 ? 0 : x > 1 ? 1 : x;
}
