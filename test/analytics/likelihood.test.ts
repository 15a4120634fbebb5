import { describe, expect, it } from 'vitest';
import { TailCalibrator, type LikelihoodOptions } from '../../edge/analytics/likelihood.js';
import { rng } from './synthetic.js';

const OPTS: LikelihoodOptions = { avgWindow: 4, historySize: 2000, learnPeriod: 100, reestimateEvery: 20, minStd: 1e-3, blockSize: 25, blocks: 0, single: false, singlePenalty: 1, power: 1, tail: 'gauss', tailFraction: 0.1 };

/** Skewed surprises (mostly small, a few huge, like nearest-neighbour distances), then a moderate excursion. */
function lastP(estimator: 'moments' | 'robust'): number {
  const r = rng(9);
  const cal = new TailCalibrator({ ...OPTS, estimator });
  for (let i = 0; i < 1500; i++) cal.update(i % 300 === 0 ? 50 : 0.1 * r());
  let p = 1;
  for (let i = 0; i < 4; i++) p = cal.update(1);
  return p;
}

describe('TailCalibrator', () => {
  it('robust (median/MAD) estimator is not blinded by a few huge past surprises', () => {
    expect(lastP('moments')).toBeGreaterThan(0.01);
    expect(lastP('robust')).toBeLessThan(1e-6);
  });

  it('robust estimator matches the median and MAD of a known sample', () => {
    const cal = new TailCalibrator({ ...OPTS, avgWindow: 1, learnPeriod: 5, reestimateEvery: 1, estimator: 'robust' });
    for (const x of [1, 2, 3, 4, 100]) cal.update(x);
    cal.update(3);
    const s = cal.state();
    expect(s.meanK).toBe(3);
    expect(s.stdK).toBeCloseTo(1.4826, 6);
  });
});
