/** A prior a real detector learned on a synthetic daily series (the priors tests' shared fixture). */
import { exportPrior, PointDetector, type DetectorOptionsInput } from '../../../edge/analytics/index.js';
import type { DetectorPrior } from '../../../shared/wire/detector-prior.js';
import { dailySeries, STEP_MS, T0 } from '../../analytics/synthetic.js';

/** Small and quick to train: scores after 300 readings. */
export const FAST: DetectorOptionsInput = { maxHistory: 1200, minTrain: 300, retrainEvery: 600, forecaster: { epochs: 2, trainWindow: 800 } };

export async function learnedPrior(seed: number, readings = 600): Promise<DetectorPrior> {
  const det = new PointDetector(FAST);
  const values = dailySeries(readings, seed);
  for (let i = 0; i < values.length; i++) await det.score(T0 + i * STEP_MS, values[i] ?? 0);
  await det.idle();
  return exportPrior(det, T0);
}
