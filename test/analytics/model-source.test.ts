import { describe, expect, it } from 'vitest';
import { PointDetector, type DetectorOptionsInput, type ModelSource } from '../../edge/analytics/index.js';
import type { ForecasterModel } from '../../edge/analytics/forecaster.js';
import { dailySeries, STEP_MS, T0 } from './synthetic.js';

// Small budget: three trainings in 1500 readings.
const FAST: DetectorOptionsInput = { maxHistory: 1200, minTrain: 300, retrainEvery: 500, forecaster: { epochs: 1, trainWindow: 600, ensemble: 1 } };

async function run(det: PointDetector, values: readonly number[]): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < values.length; i++) out.push(await det.score(T0 + i * STEP_MS, values[i] ?? 0));
  await det.idle();
  return out;
}

/** A source that remembers every training by (training, reading), as bench/nab-cv.ts does on disk. */
function remembering(models: Map<string, ForecasterModel>, calls: string[]): ModelSource {
  return async (at, train) => {
    const key = `${at.training}:${at.reading}`;
    calls.push(key);
    const hit = models.get(key);
    if (hit) return hit;
    const model = await train();
    models.set(key, model);
    return model;
  };
}

describe('PointDetector model source', () => {
  it('asks the source for each training, and a detector served remembered models scores exactly as one that trained', async () => {
    const values = dailySeries(1500, 11);
    values[1200] = (values[1200] ?? 0) + 60;
    const models = new Map<string, ForecasterModel>();
    const firstCalls: string[] = [];
    const trained = await run(new PointDetector(FAST, 'a', remembering(models, firstCalls)), values);
    expect(firstCalls).toEqual(['1:300', '2:800', '3:1300']);
    expect(models.size).toBe(3);

    // Served from memory: the same scores, without training (a source that would train fails the test).
    const replayCalls: string[] = [];
    const served = remembering(models, replayCalls);
    const noTraining: ModelSource = (at, _train) => served(at, () => Promise.reject(new Error(`training ${at.training} was not remembered`)));
    const replayed = await run(new PointDetector(FAST, 'b', noTraining), values);
    expect(replayCalls).toEqual(firstCalls);
    expect(replayed).toEqual(trained);
    expect(Math.max(...trained.slice(1200, 1205))).toBeGreaterThanOrEqual(0.5);

    // And both equal a detector with the default source (it trains itself).
    expect(await run(new PointDetector(FAST, 'c'), values)).toEqual(trained);
  });
});
