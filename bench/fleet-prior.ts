/**
 * Fleet learning on the simulator: does a new gateway on equipment its peers already know score
 * sooner, and with no more false alarms, when its detectors start from the peers' priors?
 *
 * Several simulated facilities (devices/physics, one per gateway, own seed: the same AHU model,
 * its own weather, occupancy and noise) are read every 5 simulated minutes on three AHU
 * temperatures, as float32 registers. Peers run three days with the gateway's default detector
 * and export a prior per point (edge/analytics/prior.ts, through the wire encoding and its schema
 * check); the fleet prior of a point is the latest a peer published. Each newcomer then runs its
 * first days twice per point, from nothing and from the fleet prior, on clean data and on the same
 * data with a sensor drift (3 K/h on the return air temperature from hour 12).
 * Figures: readings until the detector's phase is 'scoring' (its own statement that its scores
 * mean something) in simulated minutes; false alarms on the clean first day (scores at the
 * detector's alert level 0.5 and at the gateway's default event threshold 0.9); whether and how
 * soon the drift is seen on the first day.
 *
 *   npx tsx bench/fleet-prior.ts
 */
import { pathToFileURL } from 'node:url';
import { FacilityModel } from '../devices/physics/model.js';
import { PointDetector } from '../edge/analytics/detector.js';
import { detectorFromPrior, encodePrior, exportPrior, readPrior } from '../edge/analytics/prior.js';
import type { DetectorPrior } from '../shared/wire/detector-prior.js';
import type { BenchEntry } from './results.js';

const STEP_S = 300;
const DAY = 86_400 / STEP_S;
const START = Date.UTC(2024, 10, 25);
const ALERT = 0.5;
const EVENT = 0.9;
const DRIFT_K_PER_H = 3;
const DRIFT_FROM = DAY / 2;

const POINTS: Readonly<Record<string, (m: FacilityModel) => number>> = {
  supply_air_temp: (m) => m.ahu.supplyAirC,
  return_air_temp: (m) => m.ahu.returnAirC,
  mixed_air_temp: (m) => m.ahu.mixedAirC,
};
const DRIFTING = 'return_air_temp';

export interface FleetPriorOptions {
  readonly peers?: number;
  readonly newcomers?: number;
  readonly peerDays?: number;
  readonly seed?: number;
  /** Mean outdoor temperature of the newcomers' sites (the peers' is 10 °C): a climate the prior has not seen. */
  readonly newcomerOutdoorMeanC?: number;
}

interface Arm {
  /** Readings until phase 'scoring' (Infinity if not within the run). */
  firstScoring: number[];
  falseAlerts: number;
  falseEvents: number;
  /** Readings from the drift's start to the first score >= ALERT (Infinity if not on day one). */
  driftDelay: number[];
}

export interface FleetPriorResult {
  readonly withPrior: Arm;
  readonly withoutPrior: Arm;
  readonly priorBytes: number;
  readonly detectors: number;
  readonly seconds: number;
}

/** `days` of readings per point from a facility of this seed (after a day of running in). */
function series(seed: number, days: number, outdoorMeanC = 10): { ts: number[]; values: Record<string, number[]> } {
  const model = new FacilityModel({ seed, startTime: START, outdoorMeanC });
  model.setFanCommand(true);
  model.step(86_400);
  const ts: number[] = [];
  const values: Record<string, number[]> = Object.fromEntries(Object.keys(POINTS).map((p) => [p, []]));
  for (let i = 0; i < days * DAY; i++) {
    model.step(STEP_S);
    ts.push(model.now());
    for (const [p, read] of Object.entries(POINTS)) values[p]?.push(Math.fround(read(model)));
  }
  return { ts, values };
}

async function replay(det: PointDetector, ts: readonly number[], values: readonly number[]): Promise<{ scores: number[]; firstScoring: number }> {
  const scores: number[] = [];
  let firstScoring = Infinity;
  for (let i = 0; i < values.length; i++) {
    scores.push(await det.score(ts[i] ?? 0, values[i] ?? 0));
    if (firstScoring === Infinity && det.phase === 'scoring') firstScoring = i + 1;
  }
  return { scores, firstScoring };
}

export async function runFleetPrior(options: FleetPriorOptions = {}): Promise<FleetPriorResult> {
  const started = performance.now();
  const seed = options.seed ?? 1;
  const peers = options.peers ?? 3;
  const newcomers = options.newcomers ?? 4;
  const peerDays = options.peerDays ?? 3;
  // The fleet prior of each point: the latest a peer published, as the hub would serve it back.
  const fleet = new Map<string, DetectorPrior>();
  let priorBytes = 0;
  for (let g = 1; g <= peers; g++) {
    const { ts, values } = series(seed * 1000 + 100 + g, peerDays);
    for (const point of Object.keys(POINTS)) {
      const det = new PointDetector({}, point);
      await replay(det, ts, values[point] ?? []);
      await det.idle();
      const bytes = encodePrior(await exportPrior(det, START));
      priorBytes = Math.max(priorBytes, bytes.byteLength);
      fleet.set(point, readPrior(bytes, `prior of ${point}`));
    }
  }
  const arm = (): Arm => ({ firstScoring: [], falseAlerts: 0, falseEvents: 0, driftDelay: [] });
  const withPrior = arm();
  const withoutPrior = arm();
  let detectors = 0;
  for (let g = 1; g <= newcomers; g++) {
    // Two days: a detector without a prior may need more than one to start scoring.
    const { ts, values } = series(seed * 1000 + 200 + g, 2, options.newcomerOutdoorMeanC);
    for (const point of Object.keys(POINTS)) {
      const clean = values[point] ?? [];
      const prior = fleet.get(point);
      if (!prior) throw new Error(`no fleet prior for ${point}`);
      for (const [result, make] of [
        [withoutPrior, () => new PointDetector({}, point)],
        [withPrior, () => detectorFromPrior(prior, {}, point)],
      ] as const) {
        detectors++;
        const run = await replay(make(), ts, clean);
        result.firstScoring.push(run.firstScoring);
        const day1 = run.scores.slice(0, DAY);
        result.falseAlerts += day1.filter((s) => s >= ALERT).length;
        result.falseEvents += day1.filter((s) => s >= EVENT).length;
        if (point === DRIFTING) {
          const drifted = clean.slice(0, DAY).map((v, i) => (i < DRIFT_FROM ? v : Math.fround(v + (DRIFT_K_PER_H * (i - DRIFT_FROM) * STEP_S) / 3600)));
          const d = await replay(make(), ts, drifted);
          const hit = d.scores.findIndex((s, i) => i >= DRIFT_FROM && s >= ALERT);
          result.driftDelay.push(hit < 0 ? Infinity : hit - DRIFT_FROM);
        }
      }
    }
  }
  return { withPrior, withoutPrior, priorBytes, detectors, seconds: Number(((performance.now() - started) / 1000).toFixed(1)) };
}

const minutes = (readings: number): number => (readings * STEP_S) / 60;
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] ?? Infinity;
};
const finiteOr = (x: number, dflt: number): number => (Number.isFinite(x) ? x : dflt);

export async function benchFleetPrior(): Promise<BenchEntry[]> {
  const r = await runFleetPrior();
  const n = r.withPrior.firstScoring.length;
  const note = `${n} points on new gateways (3 AHU temperatures × newcomers), 5-min readings, fleet prior from 3 peers × 3 days; ${r.seconds} s`;
  const entries: BenchEntry[] = [];
  for (const [arm, a] of [
    ['prior', r.withPrior],
    ['no_prior', r.withoutPrior],
  ] as const) {
    entries.push(
      { name: `fleet_${arm}_first_score_minutes`, value: minutes(median(a.firstScoring)), unit: 'min', notes: `median simulated time until the detector scores (phase 'scoring'; worst ${minutes(Math.max(...a.firstScoring))} min); ${note}` },
      { name: `fleet_${arm}_false_alerts_day1`, value: a.falseAlerts, unit: 'readings', notes: `clean first day, scores >= ${ALERT} (detector alert level), over all points; ${note}` },
      { name: `fleet_${arm}_false_events_day1`, value: a.falseEvents, unit: 'readings', notes: `clean first day, scores >= ${EVENT} (gateway default analytics.threshold); ${note}` },
      {
        name: `fleet_${arm}_drift_seen_day1`,
        value: a.driftDelay.filter(Number.isFinite).length / Math.max(1, a.driftDelay.length),
        unit: 'fraction',
        notes: `${DRIFT_K_PER_H} K/h drift of the return air from hour 12; median delay ${finiteOr(minutes(median(a.driftDelay)), -1)} min (-1: not seen)`,
      },
    );
  }
  // The same newcomers in a colder climate (4 °C mean outdoors, the peers' 10 °C): a prior is the
  // fleet's idea of normal, and a site unlike the fleet's sees more of its readings as new at first.
  const cold = await runFleetPrior({ newcomerOutdoorMeanC: 4 });
  for (const [arm, a] of [
    ['prior', cold.withPrior],
    ['no_prior', cold.withoutPrior],
  ] as const) {
    entries.push(
      { name: `fleet_${arm}_false_alerts_day1_colder_site`, value: a.falseAlerts, unit: 'readings', notes: `as fleet_${arm}_false_alerts_day1, newcomers at 4 °C mean outdoors (peers 10 °C); >= ${EVENT}: ${a.falseEvents}` },
      { name: `fleet_${arm}_drift_seen_day1_colder_site`, value: a.driftDelay.filter(Number.isFinite).length / Math.max(1, a.driftDelay.length), unit: 'fraction', notes: `as fleet_${arm}_drift_seen_day1, newcomers at 4 °C mean outdoors` },
    );
  }
  entries.push({ name: 'fleet_prior_bytes', value: r.priorBytes, unit: 'bytes', notes: 'largest encoded prior (limit 262144)' });
  return entries;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf('--newcomer-outdoor');
  const r = await runFleetPrior(i > 0 ? { newcomerOutdoorMeanC: Number(process.argv[i + 1]) } : {});
  process.stdout.write(`${JSON.stringify(r, (_k, v: unknown) => (v === Infinity ? 'Infinity' : v), 2)}\n`);
}
