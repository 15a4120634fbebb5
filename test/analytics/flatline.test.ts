import { describe, expect, it } from 'vitest';
import { FlatlineRecord } from '../../edge/analytics/flatline.js';
import { PointDetector, type DetectorOptionsInput } from '../../edge/analytics/index.js';
import { dailySeries, STEP_MS, T0 } from './synthetic.js';

const OPTS = { factor: 2, minRun: 12, after: 400, tolerance: 0 };

/** Indices at which the record fired. */
function records(rec: FlatlineRecord, values: readonly number[]): number[] {
  const out: number[] = [];
  values.forEach((v, i) => {
    if (rec.update(v)) out.push(i);
  });
  return out;
}

/** A noisy daily cycle whose sensor freezes at its last value for `length` readings from `at`. */
function frozen(n: number, at: number, length: number): number[] {
  const values = dailySeries(n, 11);
  for (let i = at; i < Math.min(n, at + length); i++) values[i] = values[at - 1] ?? 0;
  return values;
}

/** An idle counter: 0 for `idle` readings out of every 300, busy (1..100) otherwise; from `at` it stays at 0. */
function idling(n: number, idle: number, at: number): number[] {
  const values = dailySeries(n, 12);
  return values.map((v, i) => (i >= at || i % 300 < idle ? 0 : Math.max(1, v)));
}

describe('FlatlineRecord', () => {
  it('a point that never repeated itself and freezes is a record once the run is minRun long, once', () => {
    const at = records(new FlatlineRecord(OPTS), frozen(2000, 1200, 300));
    // The frozen run starts at 1199 (the last live reading repeats); its 12th reading is 1210.
    expect(at).toEqual([1210]);
  });

  it('a point whose normal includes long flat stretches sets the bar with them', () => {
    // Idle for 100 readings every 300: a stretch of 150 at 0 is no record, one of 201 or more is.
    const rec = (n: number): number[] => records(new FlatlineRecord(OPTS), idling(n, 100, 1500));
    expect(rec(1650)).toEqual([]);
    expect(rec(2000)).toEqual([1700]);
  });

  it('a point constant since it started is never stuck; nothing counts before `after`', () => {
    expect(records(new FlatlineRecord(OPTS), Array.from({ length: 3000 }, () => 45))).toEqual([]);
    expect(records(new FlatlineRecord(OPTS), frozen(1000, 300, 100))).toEqual([]);
    expect(records(new FlatlineRecord({ ...OPTS, after: 200 }), frozen(1000, 300, 100))).toEqual([310]);
  });

  it('near-identical readings count with a tolerance (a fraction of the range)', () => {
    const values = frozen(2000, 1200, 300).map((v, i) => (i >= 1200 && i < 1500 ? v + (i % 2) * 0.01 : v));
    expect(records(new FlatlineRecord(OPTS), values)).toEqual([]);
    expect(records(new FlatlineRecord({ ...OPTS, tolerance: 0.001 }), values).length).toBe(1);
  });

  it('continues exactly from its saved state', () => {
    const values = frozen(2000, 1200, 300);
    const expected = records(new FlatlineRecord(OPTS), values);
    const first = new FlatlineRecord(OPTS);
    records(first, values.slice(0, 1205));
    const resumed = new FlatlineRecord(OPTS, JSON.parse(JSON.stringify(first.state())));
    expect(records(resumed, values.slice(1205)).map((i) => i + 1205)).toEqual(expected);
  });
});

describe('PointDetector with the flatline record', () => {
  const FAST: DetectorOptionsInput = { maxHistory: 1200, minTrain: 300, retrainEvery: 600, forecaster: { epochs: 2, trainWindow: 800 }, flatlineRecord: { factor: 2 } };

  async function scores(options: DetectorOptionsInput, values: readonly number[]): Promise<number[]> {
    const det = new PointDetector(options);
    const out: number[] = [];
    for (let i = 0; i < values.length; i++) out.push(await det.score(T0 + i * STEP_MS, values[i] ?? 0));
    return out;
  }

  it('reports a sensor that freezes at an ordinary value within minRun readings; before the freeze it changes nothing', async () => {
    const values = frozen(1800, 1200, 400);
    const on = await scores(FAST, values);
    const off = await scores({ ...FAST, flatlineRecord: { factor: 0 } }, values);
    expect(on.slice(0, 1210)).toEqual(off.slice(0, 1210));
    expect(on[1210]).toBeGreaterThanOrEqual(0.5);
    // Each frozen reading is perfectly predicted: without the record only the pattern novelty
    // reports the freeze, once a whole flat shape is new (~70 readings, nearly 6 hours, later).
    const firstAlert = (s: readonly number[]): number => s.findIndex((x, i) => i >= 1199 && x >= 0.5);
    expect(firstAlert(on)).toBe(1210);
    expect(firstAlert(off)).toBeGreaterThan(1250);
  }, 60_000);

  it('keeps the record through save and reload', async () => {
    const values = frozen(1800, 1200, 400);
    const det = new PointDetector(FAST);
    for (let i = 0; i < 1100; i++) await det.score(T0 + i * STEP_MS, values[i] ?? 0);
    const state = await det.state();
    expect(state.flatlineRecord?.seen).toBe(1100);
    const again = PointDetector.fromState(JSON.parse(JSON.stringify(state)));
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 1100; i < values.length; i++) {
      a.push(await det.score(T0 + i * STEP_MS, values[i] ?? 0));
      b.push(await again.score(T0 + i * STEP_MS, values[i] ?? 0));
    }
    expect(b).toEqual(a);
    expect(Math.max(...a)).toBeGreaterThanOrEqual(0.5);
  }, 60_000);
});
