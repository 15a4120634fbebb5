import { describe, expect, it } from 'vitest';
import { PointDetector, type DetectorOptionsInput } from '../../edge/analytics/index.js';
import { dailySeries, STEP_MS, T0 } from './synthetic.js';

// Small budget; a short refractory period so three incidents 100 readings apart are three alerts.
const FAST: DetectorOptionsInput = { maxHistory: 1200, minTrain: 300, retrainEvery: 600, refractory: 50, recoveredFor: 0, forecaster: { epochs: 1, trainWindow: 600 } };

async function scores(options: DetectorOptionsInput, values: readonly number[]): Promise<{ scores: number[]; alertLevel: number }> {
  const det = new PointDetector(options);
  const out: number[] = [];
  for (let i = 0; i < values.length; i++) out.push(await det.score(T0 + i * STEP_MS, values[i] ?? 0));
  await det.idle();
  return { scores: out, alertLevel: det.options.alertLevel };
}

describe('PointDetector alert confidence', () => {
  // Three readings far beyond every value seen (range novelty: undamped score 1), 100 readings apart.
  const values = dailySeries(1000, 7);
  values[700] = 1e6;
  values[800] = 2e6;
  values[900] = 4e6;
  const alertsOf = (r: { scores: number[]; alertLevel: number }): number[] => r.scores.flatMap((s, i) => (s >= r.alertLevel ? [i] : []));

  it('leaves the alert decisions unchanged and ranks each repeat alert of a point lower', async () => {
    const plain = await scores({ ...FAST, confidenceWindow: 0 }, values);
    const ranked = await scores({ ...FAST, confidenceWindow: 4000 }, values);
    expect(alertsOf(ranked)).toEqual(alertsOf(plain));
    for (const i of [700, 800, 900]) {
      expect(plain.scores[i]).toBe(1);
      expect(ranked.scores[i]).toBeGreaterThanOrEqual(ranked.alertLevel);
    }
    const [a, b, c] = [ranked.scores[700] ?? 0, ranked.scores[800] ?? 0, ranked.scores[900] ?? 0];
    expect(a).toBeGreaterThan(b);
    expect(b).toBeGreaterThan(c);
    // Readings that are not alerts keep their scores.
    for (let i = 0; i < values.length; i++) if ((plain.scores[i] ?? 0) < plain.alertLevel) expect(ranked.scores[i]).toBe(plain.scores[i]);
  });

  it('forgets alerts older than its window', async () => {
    const short = await scores({ ...FAST, confidenceWindow: 60 }, values);
    const alerts = alertsOf(short);
    for (const i of [800, 900]) {
      const earlier = alerts.filter((j) => j < i && j > i - 60).length;
      // L + (1 - L)(1 + s)/2 / (1 + n) with an undamped score s = 1 (range novelty).
      expect(short.scores[i]).toBeCloseTo(short.alertLevel + (1 - short.alertLevel) / (1 + earlier), 10);
    }
  });
});
