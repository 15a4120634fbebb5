import { describe, expect, it } from 'vitest';
import { BlockDeviation, type BlockOptions } from '../../edge/analytics/blocks.js';
import { PointDetector, type DetectorOptionsInput } from '../../edge/analytics/index.js';
import { gaussian, rng, STEP_MS, T0 } from './synthetic.js';

// The slow view is an option, off by default (see the README's "Tried and not kept"): these pin
// down what it measures so its NAB figures can be reproduced.
const SPREAD_UP: BlockOptions = { size: 6, baseline: 48, features: 'spread', minScale: 0.01, direction: 'up', spread: 'std' };

/** Noise around 20 whose standard deviation quadruples at reading 800. */
function noisier(): number[] {
  const g = gaussian(rng(9));
  return Array.from({ length: 1200 }, (_, i) => 20 + (i >= 800 ? 4 : 1) * g());
}

function maxRaw(block: BlockDeviation, values: readonly number[], from: number, to: number): number {
  let m = 0;
  values.forEach((v, i) => {
    const z = block.update(v);
    if (i >= from && i < to) m = Math.max(m, z);
  });
  return m;
}

describe('BlockDeviation', () => {
  it('a rise in volatility is far from the baseline of the blocks before; upward only ignores it falling', () => {
    const values = noisier();
    const before = maxRaw(new BlockDeviation(SPREAD_UP), values, 0, 800);
    const after = maxRaw(new BlockDeviation(SPREAD_UP), values, 800, 830);
    expect(after).toBeGreaterThan(2 * before);
    // The same change read downward is no deviation; reversed in time, the fall is not seen either.
    expect(maxRaw(new BlockDeviation({ ...SPREAD_UP, direction: 'down' }), values, 800, 830)).toBeLessThan(before);
    expect(maxRaw(new BlockDeviation(SPREAD_UP), [...values].reverse(), 400, 430)).toBeLessThan(before);
  });

  it('is silent until its baseline is full, and holds its value between blocks', () => {
    const values = noisier();
    const b = new BlockDeviation(SPREAD_UP);
    const raws = values.map((v) => b.update(v));
    expect(raws.slice(0, SPREAD_UP.size * SPREAD_UP.baseline).every((z) => z === 0)).toBe(true);
    for (let i = 400; i < 1200; i++) if ((i + 1) % SPREAD_UP.size !== 0) expect(raws[i]).toBe(raws[i - 1]);
  });

  it('continues exactly from its saved state', () => {
    const values = noisier();
    const whole = new BlockDeviation(SPREAD_UP);
    const expected = values.map((v) => whole.update(v));
    const first = new BlockDeviation(SPREAD_UP);
    values.slice(0, 797).forEach((v) => first.update(v));
    const resumed = new BlockDeviation(SPREAD_UP, JSON.parse(JSON.stringify(first.state())));
    expect(values.slice(797).map((v) => resumed.update(v))).toEqual(expected.slice(797));
  });
});

describe('PointDetector with the slow view', () => {
  const FAST: DetectorOptionsInput = { maxHistory: 1200, minTrain: 300, retrainEvery: 600, forecaster: { epochs: 2, trainWindow: 800 } };

  it('reports the slow signal as a third tail probability only when enabled', async () => {
    const values = noisier();
    const off = new PointDetector(FAST);
    const on = new PointDetector({ ...FAST, blocks: SPREAD_UP, slowLikelihood: { estimator: 'moments' } });
    let offMin = 1;
    let onMin = 1;
    for (let i = 0; i < 860; i++) {
      await off.score(T0 + i * STEP_MS, values[i] ?? 0);
      await on.score(T0 + i * STEP_MS, values[i] ?? 0);
      offMin = Math.min(offMin, off.detail.slowP);
      if (i >= 800) onMin = Math.min(onMin, on.detail.slowP);
    }
    expect(offMin).toBe(1);
    expect(onMin).toBeLessThan(1e-6);
  }, 60_000);
});
