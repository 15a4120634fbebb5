import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectorFromPrior, encodePrior, exportPrior, loadDetector, PointDetector, readPrior, type DetectorOptionsInput } from '../../edge/analytics/index.js';
import { FacilityModel } from '../../devices/physics/model.js';
import { SwarmgateError } from '../../shared/kit/errors.js';
import { priorHistory } from '../../edge/analytics/prior.js';
import { DETECTOR_PRIOR_MAX_BYTES, PRIOR_HISTORY_MAX } from '../../shared/wire/index.js';
import { capturedLog } from '../support/captured-log.js';
import { dailySeries, STEP_MS, T0 } from './synthetic.js';

/** Days of return air temperatures (every 5 min unless stepS says) of a simulated AHU (after a day of running in). */
function returnAir(seed: number, outdoorMeanC: number, days: number, offset = 0, stepS = 300): { ts: number[]; values: number[] } {
  const model = new FacilityModel({ seed, startTime: Date.UTC(2024, 10, 25), outdoorMeanC });
  model.setFanCommand(true);
  model.step(86_400);
  const ts: number[] = [];
  const values: number[] = [];
  for (let i = 0; i < (days * 86_400) / stepS; i++) {
    model.step(stepS);
    ts.push(model.now());
    values.push(Math.fround(model.ahu.returnAirC + offset));
  }
  return { ts, values };
}

const FAST: DetectorOptionsInput = { maxHistory: 1200, minTrain: 300, retrainEvery: 600, forecaster: { epochs: 2, trainWindow: 800 } };

async function run(det: PointDetector, values: readonly number[], from: number): Promise<Array<{ score: number; prediction: number; phase: string; noveltyP: number }>> {
  const out: Array<{ score: number; prediction: number; phase: string; noveltyP: number }> = [];
  for (let i = 0; i < values.length; i++) {
    const score = await det.score(T0 + (from + i) * STEP_MS, values[i] ?? 0);
    out.push({ score, prediction: det.detail.prediction, phase: det.detail.phase, noveltyP: det.detail.noveltyP });
  }
  return out;
}

async function trained(): Promise<PointDetector> {
  const det = new PointDetector(FAST, 'peer');
  await run(det, dailySeries(1500, 11), 0);
  await det.idle();
  return det;
}

describe('detector priors', () => {
  it('round trip: export, encode, read back give the same document within the size bound', async () => {
    const peer = await trained();
    const prior = await exportPrior(peer, 1_700_000_000_000);
    expect(prior.model).toBeDefined();
    expect(prior.readings).toBe(1500);
    const bytes = encodePrior(prior);
    expect(bytes.byteLength).toBeLessThanOrEqual(DETECTOR_PRIOR_MAX_BYTES);
    expect(readPrior(bytes)).toEqual(prior);
    expect(readPrior(bytes.toString('utf8'))).toEqual(prior);
  }, 60_000);

  it("carries each calibration's whole history, thinned evenly, not only its newest part", async () => {
    const peer = await trained();
    const state = await peer.state();
    const prior = await exportPrior(peer);
    const own = [state.forecast.history, state.pattern.history, state.longPattern?.history ?? []];
    const carried = [prior.forecast.history, ...prior.patterns.map((p) => p.calibration.history)];
    for (const [i, full] of own.entries()) {
      const sent = carried[i] ?? [];
      const every = Math.ceil(full.length / PRIOR_HISTORY_MAX);
      expect(full.length).toBeGreaterThan(PRIOR_HISTORY_MAX);
      expect(sent.length).toBeLessThanOrEqual(PRIOR_HISTORY_MAX);
      // Newest kept, every `every`-th before it, back to the oldest stretch of the peer's history.
      expect(sent).toEqual(full.filter((_, k) => (full.length - 1 - k) % every === 0).map((x) => Number(x.toPrecision(7))));
      expect(sent.length).toBe(Math.ceil(full.length / every));
    }
    expect(priorHistory([1, 2, 3])).toEqual([1, 2, 3]);
    expect(priorHistory(Array.from({ length: 2 * PRIOR_HISTORY_MAX }, (_, k) => k))).toEqual(Array.from({ length: PRIOR_HISTORY_MAX }, (_, k) => 2 * k + 1));
  }, 60_000);

  it('a detector from a prior scores without a learning period and matches the trained detector', async () => {
    const peer = await trained();
    const prior = readPrior(encodePrior(await exportPrior(peer)));
    // A new point on the same equipment: same shape, its own noise.
    const next = dailySeries(250, 12);
    const fresh = await run(new PointDetector(FAST), next, 1500);
    const primed = detectorFromPrior(prior, FAST, 'new');
    const own = await run(primed, next, 1500);
    const reference = await run(peer, next, 1500);
    const lags = 12;
    // Scoring after the network's inputs are its own readings, where a fresh detector is still learning.
    expect(own[lags]?.phase).toBe('scoring');
    // A unit at the prior's level is not moved (more than a fraction of the noise, sd 1).
    expect(Math.abs(primed.levelShift ?? NaN)).toBeLessThan(0.5);
    // Its pattern novelty judges from the start: the prior's calibration has watched its points' days.
    expect(own.slice(lags, 60).some((r) => r.noveltyP < 1)).toBe(true);
    expect(fresh.every((r) => r.noveltyP === 1)).toBe(true);
    expect(fresh[lags]?.phase).toBe('learning');
    expect(fresh.filter((r) => r.phase === 'learning').length).toBeGreaterThan(100);
    // Same network (weights rounded to 7 digits), but until a day of its own readings the seasonal
    // inputs fall back to the latest reading: forecasts about as good as the trained detector's.
    const mae = (rs: typeof own): number => rs.slice(lags).reduce((a, r, k) => a + Math.abs(r.prediction - (next[k + lags] ?? 0)), 0) / (rs.length - lags);
    expect(mae(own)).toBeLessThan(2 * mae(reference));
    // And scores on normal data as low as the trained detector's.
    const tail = (rs: typeof own): number[] => rs.slice(100).map((r) => r.score);
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(Math.abs(mean(tail(own)) - mean(tail(reference)))).toBeLessThan(0.05);
    expect(Math.max(...tail(own))).toBeLessThan(0.5);
    // A fault on the new point is seen from the prior's first day.
    const spiked = detectorFromPrior(prior, FAST, 'spiked');
    const faulty = dailySeries(60, 13);
    faulty[40] = 120;
    const s = await run(spiked, faulty, 1500);
    expect(s[40]?.score).toBeGreaterThanOrEqual(0.5);
    // It keeps learning its own: its first training starts from the prior's weights.
    await run(primed, dailySeries(200, 14), 1750);
    await primed.idle();
    const state = await primed.state();
    expect(state.trainings).toBe(1);
  }, 120_000);

  it('refuses a malformed prior with the field named', async () => {
    const prior = await exportPrior(await trained());
    const broken = { ...prior, model: { ...prior.model, std: -1 } };
    expect(() => readPrior(JSON.stringify(broken))).toThrowError(/\/model\/std/);
    const noRange = { ...prior, range: 'wide' };
    expect(() => readPrior(JSON.stringify(noRange))).toThrowError(/\/range/);
    try {
      readPrior(JSON.stringify({ ...prior, version: 2 }));
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(SwarmgateError);
      expect((err as SwarmgateError).code).toBe('SWG_ERR_PRIOR_INVALID');
      expect(String(err)).toMatch(/\/version/);
    }
    // Well-formed but for another forecaster: refused by the detector, field named.
    expect(() => detectorFromPrior(prior, { ...FAST, forecaster: { ...FAST.forecaster, lags: 6 } })).toThrowError(/\/model\/inputSize/);
    expect(() => detectorFromPrior(prior, { ...FAST, longPattern: 12 })).toThrowError(/\/patterns\/1/);
    // Nothing learned yet: nothing to export.
    await expect(exportPrior(new PointDetector(FAST))).rejects.toThrowError(/still learning/);
  }, 60_000);

  it('a prior from a unit in a milder climate fits a colder unit: no alarm on its lower level, a drift still seen', async () => {
    // The peer: three days at 10 °C mean outdoors, the gateway's default detector.
    const peerDays = returnAir(1101, 10, 3);
    const peer = new PointDetector({}, 'peer');
    for (let i = 0; i < peerDays.values.length; i++) await peer.score(peerDays.ts[i] ?? 0, peerDays.values[i] ?? 0);
    await peer.idle();
    const prior = readPrior(encodePrior(await exportPrior(peer)));
    // The newcomer: the same AHU model at 4 °C, its return air about half a kelvin lower, below
    // most of what the peer ever read; its first day clean, then with a 3 K/h drift from hour 12.
    const { ts, values } = returnAir(1204, 4, 1);
    const scores = async (vs: readonly number[]): Promise<{ scores: number[]; shift: number | undefined }> => {
      const det = detectorFromPrior(prior, {}, 'new');
      const out: number[] = [];
      for (let i = 0; i < vs.length; i++) out.push(await det.score(ts[i] ?? 0, vs[i] ?? 0));
      return { scores: out, shift: det.levelShift };
    };
    const clean = await scores(values);
    expect(Math.max(...clean.scores)).toBeLessThan(0.5);
    // Because the prior was moved to the unit's own level: by about the offset the climate makes.
    expect(clean.shift).toBeLessThan(-0.2);
    expect(clean.shift).toBeGreaterThan(-1.2);
    const from = 144;
    const drifted = values.map((v, i) => (i < from ? v : Math.fround(v + (3 * (i - from)) / 12)));
    const d = await scores(drifted);
    const seen = d.scores.findIndex((s, i) => i >= from && s >= 0.5);
    expect(seen).toBeGreaterThanOrEqual(from);
    // Within an hour of its start (a drift of 3 K/h is well out of the range by then).
    expect(seen - from).toBeLessThanOrEqual(12);
  }, 120_000);

  it('a prior from a unit reading 5 K high: moved before the first score, no alarm on the offset', async () => {
    const peerDays = returnAir(1104, 10, 3, 5);
    const peer = new PointDetector({}, 'peer');
    for (let i = 0; i < peerDays.values.length; i++) await peer.score(peerDays.ts[i] ?? 0, peerDays.values[i] ?? 0);
    await peer.idle();
    const prior = await exportPrior(peer);
    const { ts, values } = returnAir(1201, 10, 1);
    // Every reading of the newcomer lies below the lowest the peer ever read.
    expect(Math.max(...values)).toBeLessThan(prior.range[0]);
    const det = detectorFromPrior(prior, {}, 'new');
    const scores: number[] = [];
    const predictions: number[] = [];
    for (let i = 0; i < values.length; i++) {
      scores.push(await det.score(ts[i] ?? 0, values[i] ?? 0));
      predictions.push(det.detail.prediction);
    }
    // From its first score (after the 12 readings its forecaster needs), the prior sits at the unit's level.
    expect(det.detail.phase).toBe('scoring');
    expect(det.levelShift).toBeLessThan(-4);
    expect(det.levelShift).toBeGreaterThan(-6);
    expect(Math.abs((predictions[12] ?? 0) - (values[12] ?? 0))).toBeLessThan(0.5);
    expect(Math.max(...scores)).toBeLessThan(0.5);
    // However short the configured warm-up, it scores only once the offset can be estimated (two blocks).
    const eager = detectorFromPrior(prior, { warmup: 1 }, 'eager');
    const early: number[] = [];
    for (let i = 0; i < 60; i++) early.push(await eager.score(ts[i] ?? 0, values[i] ?? 0));
    expect(eager.options.warmup).toBe(8);
    expect(Math.max(...early)).toBeLessThan(0.5);
  }, 120_000);

  it("carries its reading rate and its shapes' span: a newcomer read every 30 s waits out the rest of a day before judging novelty", async () => {
    const peerDays = returnAir(1101, 10, 3, 0, 30);
    const peer = new PointDetector({}, 'peer');
    for (let i = 0; i < peerDays.values.length; i++) await peer.score(peerDays.ts[i] ?? 0, peerDays.values[i] ?? 0);
    await peer.idle();
    const prior = readPrior(encodePrior(await exportPrior(peer)));
    expect(prior.intervalMs).toBe(30_000);
    // 250 shapes of 12 blocks of 4 readings: (250 + 11) x 4 readings of 30 s, 8.7 h.
    expect(prior.spanMs).toBe((250 + 11) * 4 * 30_000);
    const det = detectorFromPrior(prior, {}, 'new');
    expect(det.options.noveltyLearnMs).toBe(86_400_000 - (prior.spanMs ?? 0));
    const { ts, values } = returnAir(1204, 10, 1, 0, 30);
    let max = 0;
    for (let i = 0; i < values.length; i++) max = Math.max(max, await det.score(ts[i] ?? 0, values[i] ?? 0));
    // Judging at once against 8.7 h of shapes, the same clean day scored 0.88.
    expect(max).toBeLessThan(0.5);
    // A prior from 5-min readings covers 3.6 days of shapes: novelty judges at once.
    const slow = await trained();
    const slowPrior = await exportPrior(slow);
    expect(slowPrior.intervalMs).toBe(STEP_MS);
    expect(detectorFromPrior(slowPrior, FAST, 'x').options.noveltyLearnMs).toBe(0);
  }, 120_000);

  it('saved between its two re-centrings and loaded again, it continues exactly as if it had not stopped', async () => {
    const peerDays = returnAir(1104, 10, 3, 5);
    const peer = new PointDetector({}, 'peer');
    for (let i = 0; i < peerDays.values.length; i++) await peer.score(peerDays.ts[i] ?? 0, peerDays.values[i] ?? 0);
    await peer.idle();
    const prior = await exportPrior(peer);
    const { ts, values } = returnAir(1202, 4, 1);
    const straight = detectorFromPrior(prior, {}, 'new');
    const expected: number[] = [];
    for (let i = 0; i < 120; i++) expected.push(await straight.score(ts[i] ?? 0, values[i] ?? 0));
    const dir = mkdtempSync(join(tmpdir(), 'swarmgate-prior-'));
    try {
      const first = detectorFromPrior(prior, {}, 'new');
      const got: number[] = [];
      for (let i = 0; i < 20; i++) got.push(await first.score(ts[i] ?? 0, values[i] ?? 0));
      // Moved once (before its first score), the second move (at 47 readings) still due.
      expect(first.levelShift).toBeLessThan(-4);
      await first.save(dir);
      const again = await loadDetector(dir, 'new');
      const plain = await PointDetector.load(dir, 'new');
      const unmoved: number[] = [...got];
      for (let i = 20; i < 120; i++) {
        got.push(await again.score(ts[i] ?? 0, values[i] ?? 0));
        unmoved.push(await plain.score(ts[i] ?? 0, values[i] ?? 0));
      }
      expect(got).toEqual(expected);
      // Loaded as a plain detector's state alone, it would have missed the second move.
      expect(unmoved).not.toEqual(expected);
      // Both moves done: nothing is left pending beside a later save.
      await again.save(dir);
      expect(existsSync(join(dir, 'prior-pending.json'))).toBe(false);
      // A damaged pending file is dropped with its path and field logged, and the saved state loads as it is.
      const pendingFile = join(dir, 'prior-pending.json');
      const captured = capturedLog<{ problem?: string }>('warn');
      await first.save(dir);
      expect(existsSync(pendingFile)).toBe(true);
      writeFileSync(pendingFile, JSON.stringify({ readings: first.readings, alignAt: ['soon'], prior }));
      const kept = await loadDetector(dir, 'new', captured.log);
      expect(kept.readings).toBe(20);
      expect(existsSync(pendingFile)).toBe(false);
      expect(captured.lines.at(-1)?.problem).toMatch(/prior-pending\.json.*alignAt/);
      // A pending file of another state (a crash between its write and the state's; a state saved
      // by a detector without one) is dropped too: a re-centring is never applied twice.
      await first.save(dir);
      await plain.save(dir);
      const later = await loadDetector(dir, 'new', captured.log);
      expect(later.readings).toBe(120);
      expect(later).not.toHaveProperty('levelShift');
      expect(existsSync(pendingFile)).toBe(false);
      expect(captured.lines.at(-1)?.problem).toMatch(/for a state at 20 readings, the saved one is at 120/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
