import { describe, expect, it } from 'vitest';
import { PointDetector, type DetectorOptionsInput } from '../../edge/analytics/index.js';
import { dailySeries, STEP_MS, T0 } from './synthetic.js';

// Small budget; a short refractory period so the test sees it end.
const FAST: DetectorOptionsInput = { maxHistory: 1200, minTrain: 300, retrainEvery: 600, refractory: 50, recoveredFor: 0, forecaster: { epochs: 1, trainWindow: 600 } };

async function alerts(options: DetectorOptionsInput, values: readonly number[], from: number): Promise<number[]> {
  const det = new PointDetector(options);
  const at: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const s = await det.score(T0 + i * STEP_MS, values[i] ?? 0);
    if (i >= from && s >= det.options.alertLevel) at.push(i);
  }
  await det.idle();
  return at;
}

describe('PointDetector alarm latch', () => {
  // From reading 800 every reading is a new extreme far beyond the range seen (range novelty: score 1
  // on every reading): one incident that never returns to normal.
  const values = dailySeries(1000, 21).map((v, i) => (i >= 800 ? 100 * 1.2 ** (i - 800) : v));

  it('without the latch, an incident still scoring high re-alerts every time the refractory period ends', async () => {
    const at = await alerts({ ...FAST, latch: false }, values, 800);
    expect(at[0]).toBe(800);
    expect(at.length).toBeGreaterThanOrEqual(3);
    expect(at[1]).toBe(851);
  });

  it('with the latch, it raises one alert until the score has been below the alert level', async () => {
    expect(await alerts(FAST, values, 800)).toEqual([800]); // the latch is on by default
    // A second incident after a return to normal is reported again.
    const twice = values.map((v, i) => (i >= 900 ? (values[i - 200] ?? 0) : v));
    twice[990] = -1e12; // far below the lowest value seen: range novelty
    const at = await alerts({ ...FAST, latch: true }, twice, 800);
    expect(at[0]).toBe(800);
    expect(at).toContain(990);
  });
});
