import { afterAll, describe, expect, it } from 'vitest';
import { PointDetector, selectBackend, currentBackend, type DetectorOptionsInput, type DetectorState } from '../../edge/analytics/index.js';
import { tempDir } from '../support/tmp.js';
import { dailySeries, gaussian, rng, STEP_MS, T0 } from './synthetic.js';

// A smaller budget than the gateway default keeps each test to a few seconds.
const FAST: DetectorOptionsInput = { maxHistory: 1200, minTrain: 300, retrainEvery: 600, forecaster: { epochs: 2, trainWindow: 800 } };

async function run(det: PointDetector, values: readonly number[], from = 0): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < values.length; i++) out.push(await det.score(T0 + (from + i) * STEP_MS, values[i] ?? 0));
  return out;
}

/** First index at or after `from` whose score reaches `level`, minus `from` (Infinity if none). */
function delay(scores: readonly number[], from: number, level: number): number {
  for (let i = from; i < scores.length; i++) if ((scores[i] ?? 0) >= level) return i - from;
  return Infinity;
}

describe('PointDetector', () => {
  const dirs: Array<{ remove: () => void }> = [];
  afterAll(() => dirs.forEach((d) => d.remove()));

  it('selects the WASM backend and reports it', async () => {
    expect(await selectBackend()).toBe('wasm');
    expect(currentBackend()).toBe('wasm');
  });

  it('cold start: zero during warm-up, statistical scores before the network, network after training', async () => {
    const det = new PointDetector({ ...FAST, warmup: 100 });
    const values = dailySeries(700, 1);
    const scores: number[] = [];
    const usingModel: boolean[] = [];
    for (let i = 0; i < values.length; i++) {
      scores.push(await det.score(T0 + i * STEP_MS, values[i] ?? 0));
      usingModel.push(det.detail.usingModel);
    }
    expect(scores.slice(0, 100).every((s) => s === 0)).toBe(true);
    expect(scores.every((s) => s >= 0 && s <= 1)).toBe(true);
    expect(usingModel[299]).toBe(false);
    expect(usingModel.at(-1)).toBe(true);
    // A spike during the statistical phase is already caught.
    const cold = new PointDetector({ ...FAST, warmup: 100 });
    const spiked = dailySeries(260, 2);
    spiked[250] = 120;
    const s2 = await run(cold, spiked);
    expect(delay(s2, 250, 0.5)).toBeLessThanOrEqual(1);
  });

  it('calibration: iid noise rarely scores above 0.99 (and seldom above 0.5) after warm-up', async () => {
    const g = gaussian(rng(7));
    const values = Array.from({ length: 3000 }, () => 20 + 3 * g());
    const scores = await run(new PointDetector(FAST), values);
    const after = scores.slice(300);
    expect(after.filter((s) => s > 0.99).length).toBeLessThanOrEqual(1);
    expect(after.filter((s) => s >= 0.5).length).toBeLessThanOrEqual(3);
  });

  // Scores are tuned for few false alarms on real data: a lone reading must be far out (here
  // +60, six times the daily amplitude) while sustained deviations add up over a few readings.
  it('detects a spike within 1 reading, a level shift within 5 and a drift within 60', async () => {
    const base = dailySeries(2000, 3);
    const spike = [...base];
    spike[1500] = (spike[1500] ?? 0) + 60;
    expect(delay(await run(new PointDetector(FAST), spike), 1500, 0.5)).toBeLessThanOrEqual(1);

    const shift = base.map((v, i) => (i >= 1500 ? v + 12 : v));
    expect(delay(await run(new PointDetector(FAST), shift), 1500, 0.5)).toBeLessThanOrEqual(5);

    // A ramp of 0.5 noise-sigmas per reading away from the daily pattern.
    const drift = base.map((v, i) => (i >= 1500 ? v + 0.5 * (i - 1500) : v));
    expect(delay(await run(new PointDetector(FAST), drift), 1500, 0.5)).toBeLessThanOrEqual(60);
  });

  it('a constant point raises nothing when its first model is adopted, and still alarms when it starts to move', async () => {
    // A setpoint or an idle meter: one value throughout. The network trained on it output a few
    // hundredths of the floored spread where the cold-start predictor had been exact, and that
    // alarmed at the adoption (reading 311 here, 411 with the defaults) on every such point.
    for (const level of [0, 21.5, 1000]) {
      const det = new PointDetector(FAST, `flat-${level}`);
      const flat = await run(det, Array.from({ length: 700 }, () => level));
      expect(det.detail.usingModel, `level ${level}`).toBe(true);
      expect(flat.filter((x) => x >= 0.5), `level ${level}`).toEqual([]);
      const moved = await run(det, [level + 0.5, level + 1, level + 1.5], 700);
      expect(Math.max(...moved), `level ${level}`).toBeGreaterThanOrEqual(0.5);
    }
  });

  it('pattern novelty judges only once its calibration has watched a day (noveltyLearnMs), also across a save and load', async () => {
    // 5-min readings: a day is 288. Novelty is calibrated from about reading 260 (its memory and
    // calibration filled), so it judges from about reading 550; before that its p is 1 (after,
    // it is 1 only while both scales' p are at least 0.5: the first p below 1 comes a few readings on).
    const values = dailySeries(900, 5);
    const judgedFrom = async (det: PointDetector, from = 0, to = values.length): Promise<number> => {
      for (let i = from; i < to; i++) {
        await det.score(T0 + i * STEP_MS, values[i] ?? 0);
        if (det.detail.noveltyP < 1) return i;
      }
      return Infinity;
    };
    const now = await judgedFrom(new PointDetector({ ...FAST, noveltyLearnMs: 0 }));
    const day = await judgedFrom(new PointDetector(FAST));
    expect(now).toBeLessThan(400);
    expect(day - now).toBeGreaterThanOrEqual(288 - 8);
    expect(day - now).toBeLessThanOrEqual(288 + 8);

    // Saved half-way through its first day, a detector still waits out the rest of that day.
    const a = new PointDetector(FAST);
    expect(await judgedFrom(a, 0, 400)).toBe(Infinity);
    const dir = tempDir('swarmgate-detector-');
    dirs.push(dir);
    await a.save(dir.path);
    expect(await judgedFrom(await PointDetector.load(dir.path), 400)).toBe(day);

    // A state saved before the rule existed (no noveltySince): its novelty judges as it did.
    const old = { ...(await a.state()) } as Record<string, unknown>;
    delete old.noveltySince;
    expect(await judgedFrom(PointDetector.fromState(old as unknown as DetectorState), 400)).toBeLessThan(day - 100);
  });

  it('range novelty: a reading beyond the range seen so far by more than the tolerance scores 1', async () => {
    const values = dailySeries(700, 5);
    const seen = values.slice(0, 650);
    const lo = Math.min(...seen);
    const hi = Math.max(...seen);
    const inside = [...values];
    inside[650] = lo - 0.05 * (hi - lo);
    const outside = [...values];
    outside[650] = lo - 0.15 * (hi - lo);
    expect((await run(new PointDetector(FAST), inside))[650]).toBeLessThan(1);
    expect((await run(new PointDetector(FAST), outside))[650]).toBe(1);
  });

  it('save/load round trip continues with identical scores', async () => {
    const values = dailySeries(1600, 4);
    const a = new PointDetector(FAST);
    await run(a, values.slice(0, 900));
    const dir = tempDir('swarmgate-detector-');
    dirs.push(dir);
    await a.save(dir.path);
    const b = await PointDetector.load(dir.path);
    const rest = values.slice(900);
    const sa = await run(a, rest, 900);
    const sb = await run(b, rest, 900);
    expect(sb).toEqual(sa);
    expect(b.readings).toBe(a.readings);
  });

  it('loads a state saved with the slow block signals (since removed) as if they had never been there', async () => {
    const values = dailySeries(1400, 4);
    const a = new PointDetector(FAST);
    await run(a, values.slice(0, 900));
    const state = await a.state();
    // What a version with the slow block signals saved, here with both of them on.
    const legacy = JSON.parse(
      JSON.stringify({
        ...state,
        options: {
          ...state.options,
          blocks: { size: 6, baseline: 24, features: 'both', minScale: 0.01, direction: 'both', spread: 'std' },
          blockNovelty: { step: 4, window: 16, memory: 1500 },
          slowLikelihood: { estimator: 'moments' },
          slowPenalty: 2,
        },
        blocks: { current: [2, 40.5, 820.3], means: [20.1, 20.3], spreads: [0.1, 0.2], lo: 18, hi: 23, last: 1.5, previous: 20.2 },
        blocksCal: state.pattern,
        blockNovelty: state.novelty,
        blockNoveltyCal: state.pattern,
      }),
    ) as typeof state;
    const b = PointDetector.fromState(legacy);
    const c = PointDetector.fromState(JSON.parse(JSON.stringify(state)) as typeof state);
    const rest = values.slice(900);
    expect(await run(b, rest, 900)).toEqual(await run(c, rest, 900));
    const saved = await b.state();
    for (const key of ['blocks', 'blockNovelty', 'slowLikelihood', 'slowPenalty']) expect(saved.options).not.toHaveProperty(key);
    for (const key of ['blocks', 'blocksCal', 'blockNovelty', 'blockNoveltyCal']) expect(saved).not.toHaveProperty(key);
    expect(saved.options).toEqual(c.options);
  });
});
