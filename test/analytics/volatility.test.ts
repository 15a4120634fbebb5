import { describe, expect, it } from 'vitest';
import { VolatilityRecord } from '../../edge/analytics/volatility.js';
import { PointDetector, type DetectorOptionsInput } from '../../edge/analytics/index.js';
import { gaussian, rng, STEP_MS, T0 } from './synthetic.js';

const OPTS = { size: 32, tolerance: 1, after: 300, minRange: 0.01 };

/** Indices at which the record fired. */
function records(rec: VolatilityRecord, values: readonly number[]): number[] {
  const out: number[] = [];
  values.forEach((v, i) => {
    if (rec.update(v)) out.push(i);
  });
  return out;
}

/**
 * A quantized metric at 33 with isolated one-reading dips to 28 (its normal bursts); from `at` on
 * it flaps at random between 33 and 33 − amp: every value is one it has produced before.
 */
function flapping(n: number, at: number, amp: number): number[] {
  const r = rng(5);
  const g = gaussian(rng(6));
  return Array.from({ length: n }, (_, i) => (i >= at ? (r() < 0.5 ? 33 - amp : 33) : r() < 0.05 ? 28 : 33) + 0.05 * g());
}

describe('VolatilityRecord', () => {
  it('isolated spikes never set a record; sustained flapping more than twice as volatile does, once', () => {
    const values = flapping(2200, 1500, 1.5);
    const at = records(new VolatilityRecord(OPTS), values);
    expect(at.length).toBeGreaterThan(0);
    expect(at.every((i) => i >= 1500)).toBe(true);
    expect((at[0] ?? 0) - 1500).toBeLessThanOrEqual(32);
    // The new volatility is the bar from then on: no further record while it stays the same.
    expect(at.filter((i) => i > (at[0] ?? 0) + 32)).toEqual([]);
  });

  it('a wiggle on a flat point is no record unless it is a visible fraction of the range', () => {
    const g = gaussian(rng(3));
    const flat = Array.from({ length: 1000 }, (_, i) => (i === 100 ? 50 : 10) + (i >= 600 ? 0.05 * g() : 0));
    // Range 40: 1% is 0.4, far above the wiggle's ~0.05 median change.
    expect(records(new VolatilityRecord(OPTS), flat)).toEqual([]);
    expect(records(new VolatilityRecord({ ...OPTS, minRange: 0 }), flat).length).toBeGreaterThan(0);
  });

  it('nothing counts before `after` readings', () => {
    const values = flapping(600, 200, 1.5);
    expect(records(new VolatilityRecord(OPTS), values)).toEqual([]);
    expect(records(new VolatilityRecord({ ...OPTS, after: 100 }), values).length).toBeGreaterThan(0);
  });

  it('continues exactly from its saved state', () => {
    const values = flapping(2200, 1500, 1.5);
    const whole = new VolatilityRecord(OPTS);
    const expected = records(whole, values);
    const first = new VolatilityRecord(OPTS);
    records(first, values.slice(0, 1490));
    const resumed = new VolatilityRecord(OPTS, JSON.parse(JSON.stringify(first.state())));
    expect(records(resumed, values.slice(1490)).map((i) => i + 1490)).toEqual(expected);
  });
});

describe('PointDetector with record volatility', () => {
  // Off by default (README: it cost the simulated facility its drift alarms); switched on here.
  const FAST: DetectorOptionsInput = { maxHistory: 1200, minTrain: 300, retrainEvery: 600, forecaster: { epochs: 2, trainWindow: 800 }, volatilityRecord: { size: 32 } };

  async function scores(options: DetectorOptionsInput, values: readonly number[]): Promise<number[]> {
    const det = new PointDetector(options);
    const out: number[] = [];
    for (let i = 0; i < values.length; i++) out.push(await det.score(T0 + i * STEP_MS, values[i] ?? 0));
    return out;
  }

  // Each reading is a value the point has produced before and each change is smaller than its
  // usual dips, so neither the forecast nor the pattern novelty nor range novelty reports it.
  it('reports a point that starts flapping between levels it has always had; without it, nothing does', async () => {
    const values = flapping(2200, 1500, 1.5);
    const on = await scores(FAST, values);
    const off = await scores({ ...FAST, volatilityRecord: { size: 0 } }, values);
    // Before the flapping, the record changes nothing (the dips set the bar, they never exceed it).
    expect(on.slice(0, 1500)).toEqual(off.slice(0, 1500));
    const firstAlert = on.findIndex((s, i) => i >= 1500 && s >= 0.5);
    expect(firstAlert).toBeGreaterThanOrEqual(1500);
    expect(firstAlert - 1500).toBeLessThanOrEqual(40);
    expect(Math.max(...off.slice(1500))).toBeLessThan(0.5);
  }, 60_000);

  it('keeps the record through save and reload', async () => {
    const values = flapping(2200, 1500, 1.5);
    const det = new PointDetector(FAST);
    for (let i = 0; i < 1400; i++) await det.score(T0 + i * STEP_MS, values[i] ?? 0);
    const state = await det.state();
    expect(state.volatilityRecord?.seen).toBe(1400);
    const again = PointDetector.fromState(JSON.parse(JSON.stringify(state)));
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 1400; i < values.length; i++) {
      a.push(await det.score(T0 + i * STEP_MS, values[i] ?? 0));
      b.push(await again.score(T0 + i * STEP_MS, values[i] ?? 0));
    }
    expect(b).toEqual(a);
    expect(Math.max(...a)).toBeGreaterThanOrEqual(0.5);
  }, 60_000);
});
