import { describe, expect, it } from 'vitest';
import { PointDetector, type DetectorOptionsInput } from '../../edge/analytics/index.js';
import { dailySeries, STEP_MS, T0 } from './synthetic.js';

const FAST: DetectorOptionsInput = { maxHistory: 1200, minTrain: 300, retrainEvery: 600, forecaster: { epochs: 2, trainWindow: 800 } };

async function scores(options: DetectorOptionsInput, values: readonly number[]): Promise<{ scores: number[]; det: PointDetector }> {
  const det = new PointDetector(options);
  const out: number[] = [];
  for (let i = 0; i < values.length; i++) out.push(await det.score(T0 + i * STEP_MS, values[i] ?? 0));
  return { scores: out, det };
}

/** A daily cycle (50 ± 10, noise 1) that from reading 1300 climbs 0.02 per reading (6 per day) for 1000 readings. */
function climbing(n: number): number[] {
  return dailySeries(n, 21).map((v, i) => v + 0.02 * Math.min(1000, Math.max(0, i - 1300)));
}

/** Readings at which an alert was raised. */
const alerts = (s: readonly number[]): number[] => s.flatMap((x, i) => (x >= 0.5 ? [i] : []));

describe('range novelty against the range of older readings (spatialLag)', () => {
  it('keeps reporting a point that keeps climbing out of the range it had hours before; a running range stretches with it', async () => {
    const values = climbing(2600);
    const lagged = alerts((await scores({ ...FAST, spatialLag: 96 }, values)).scores);
    const running = alerts((await scores({ ...FAST, spatialLag: 0 }, values)).scores);
    // Before the climb, the same alerts; the climb's start is reported by both (the forecast and the shapes).
    expect(lagged.filter((i) => i < 1300)).toEqual(running.filter((i) => i < 1300));
    expect(lagged.filter((i) => i >= 1300 && i < 1500)).toEqual(running.filter((i) => i >= 1300 && i < 1500));
    // A day on, the point is still rising 2 per 96 readings: only the lagged range still sees it leave.
    expect(running.filter((i) => i >= 1800)).toEqual([]);
    expect(lagged.filter((i) => i >= 1800).length).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('keeps its lagged range through save and reload', async () => {
    const values = climbing(2600);
    const { det } = await scores({ ...FAST, spatialLag: 96 }, values.slice(0, 1500));
    const state = await det.state();
    expect(state.laggedRange).not.toEqual(state.range);
    const again = PointDetector.fromState(JSON.parse(JSON.stringify(state)));
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 1500; i < values.length; i++) {
      a.push(await det.score(T0 + i * STEP_MS, values[i] ?? 0));
      b.push(await again.score(T0 + i * STEP_MS, values[i] ?? 0));
    }
    expect(b).toEqual(a);
    expect(Math.max(...a)).toBeGreaterThanOrEqual(0.5);
  }, 60_000);
});
