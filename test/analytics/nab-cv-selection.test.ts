import { describe, expect, it } from 'vitest';
import { chooseConfig, type TrainingScore } from '../../bench/nab-cv.js';

/** A training score from per-series raw scores (score: their sum, as a ranking key only). */
function scored(config: string, raws: readonly number[]): TrainingScore {
  const perFile = Object.fromEntries(raws.map((r, i) => [`cat/s${i}.csv`, r]));
  return { config, score: raws.reduce((a, r) => a + r, 0), perFile };
}

/** Best first, as runNabCv ranks them. */
function ranked(...scores: TrainingScore[]): TrainingScore[] {
  return [...scores].sort((a, b) => b.score - a.score);
}

describe('nab-cv configuration choice (one-standard-error rule)', () => {
  const base = [1, 0.5, -0.2, 0.8, 1.1, 0.3, 0.9, -0.1];

  it('keeps the defaults when the best configuration wins by one false alarm on one series', () => {
    // One false alarm fewer on one series (+0.11), a detection a little later on another (-0.02).
    const best = base.map((r, i) => (i === 2 ? r + 0.11 : i === 4 ? r - 0.02 : r));
    const choice = chooseConfig(ranked(scored('default', base), scored('quickstart', best)), 'default');
    expect(choice.best).toBe('quickstart');
    expect(choice.chosen).toBe('default');
    expect(choice.gain).toBeCloseTo(0.09, 3);
    expect(choice.se).toBeCloseTo(0.115, 3);
  });

  it('keeps the defaults when a larger gain on one series comes with losses on others', () => {
    const best = base.map((r, i) => (i === 0 ? r + 1.8 : i === 5 || i === 6 ? r - 0.5 : r));
    const choice = chooseConfig(ranked(scored('default', base), scored('wild', best)), 'default');
    expect(choice.best).toBe('wild');
    expect(choice.gain).toBeCloseTo(0.8, 3);
    expect(choice.chosen).toBe('default');
  });

  it('takes the best configuration when it gains on most series', () => {
    const best = base.map((r, i) => (i % 4 === 3 ? r : r + 0.2));
    const choice = chooseConfig(ranked(scored('default', base), scored('steady', best), scored('other', base.map((r) => r - 0.1))), 'default');
    expect(choice.gain).toBeCloseTo(1.2, 3);
    expect(choice.gain).toBeGreaterThan(choice.se);
    expect(choice.chosen).toBe('steady');
  });

  it('keeps the defaults when they are the best', () => {
    const choice = chooseConfig(ranked(scored('default', base), scored('worse', base.map((r) => r - 0.1))), 'default');
    expect(choice).toEqual({ chosen: 'default', best: 'default', gain: 0, se: 0 });
  });
});
