/**
 * Fleet learning on the simulator: does a new gateway on equipment its peers already know score
 * sooner, and with no more false alarms, when its detectors start from the peers' priors?
 *
 * Several simulated facilities (devices/physics, one per gateway, own seed: the same AHU model,
 * its own weather, occupancy and noise) are read every 5 simulated minutes on three AHU
 * temperatures, as float32 registers. Peers run three days with the gateway's default detector
 * and publish a prior per point to the hub's PriorService (hub/priors: a real SQLite hub store,
 * the wire schema and size checks, versioning, and the fleet prior chosen per key by
 * hub/priors/fleet.ts). One peer (the last to publish) reads 5 K high on every point, a
 * miscalibrated unit. Each newcomer then runs its first three days per point from nothing, from
 * the prior the last peer published ("latest", what the hub served before the merge) and from the
 * fleet prior the hub serves ("fleet"), on clean data and on the same data with a sensor drift
 * (3 K/h on the return air temperature from hour 12).
 * Figures: readings until the detector's phase is 'scoring' (its own statement that its scores
 * mean something) in simulated minutes; until a trustworthy score, i.e. one the gateway raises an
 * event on (edge/decisions/anomaly-monitor.ts: a detector started from a fleet prior once it
 * scores; otherwise once it scores and analytics.learningHours, 24 h, have passed); false alarms
 * on the clean first day (scores at the detector's alert level 0.5; at the gateway's default event
 * threshold 0.9 once trustworthy) and on the first trustworthy day; whether and how soon the drift
 * is seen on the first day.
 *
 *   npx tsx bench/fleet-prior.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FacilityModel } from '../devices/physics/model.js';
import { PointDetector } from '../edge/analytics/detector.js';
import { detectorFromPrior, encodePrior, exportPrior } from '../edge/analytics/prior.js';
import { sqlFor } from '../hub/db/sql.js';
import { openHubStore } from '../hub/features.js';
import { PriorService } from '../hub/priors/service.js';
import { priorKey, type DetectorPrior } from '../shared/wire/detector-prior.js';
import type { BenchEntry } from './results.js';

const STEP_S = 300;
const DAY = 86_400 / STEP_S;
const START = Date.UTC(2024, 10, 25);
const ALERT = 0.5;
const EVENT = 0.9;
const DRIFT_K_PER_H = 3;
const DRIFT_FROM = DAY / 2;
/** analytics.learningHours (default 24 h): no event from a detector that learned alone before. */
const LEARNING = DAY;
/** The miscalibrated peer's offset on every point. */
const FAULTY_OFFSET_K = 5;

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
  /** The last peer to publish reads FAULTY_OFFSET_K high (default true). */
  readonly faultyPeer?: boolean;
}

interface Arm {
  /** Readings until phase 'scoring' (Infinity if not within the run). */
  firstScoring: number[];
  /** Readings until the gateway would raise an event on the score (trustworthy). */
  firstTrusted: number[];
  falseAlerts: number;
  /** Clean first day: scores >= EVENT once trustworthy. */
  falseEvents: number;
  /** The first day of trustworthy scores (DAY readings from firstTrusted): scores >= EVENT. */
  falseEventsTrustedDay: number;
  /** Readings from the drift's start to the first score >= ALERT (Infinity if not on day one). */
  driftDelay: number[];
}

const ARMS = ['no_prior', 'latest', 'fleet'] as const;
type ArmName = (typeof ARMS)[number];

export interface FleetPriorResult {
  readonly arms: Readonly<Record<ArmName, Arm>>;
  /** Per point: the fleet prior's source and each member's verdict (hub/priors/fleet.ts). */
  readonly choices: Readonly<Record<string, { readonly source: string; readonly verdicts: readonly string[] }>>;
  readonly priorBytes: number;
  readonly detectors: number;
  readonly seconds: number;
}

/** `days` of readings per point from a facility of this seed (after a day of running in). */
function series(seed: number, days: number, outdoorMeanC = 10, offset = 0): { ts: number[]; values: Record<string, number[]> } {
  const model = new FacilityModel({ seed, startTime: START, outdoorMeanC });
  model.setFanCommand(true);
  model.step(86_400);
  const ts: number[] = [];
  const values: Record<string, number[]> = Object.fromEntries(Object.keys(POINTS).map((p) => [p, []]));
  for (let i = 0; i < days * DAY; i++) {
    model.step(STEP_S);
    ts.push(model.now());
    for (const [p, read] of Object.entries(POINTS)) values[p]?.push(Math.fround(read(model) + offset));
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
  const peers = options.peers ?? 4;
  const newcomers = options.newcomers ?? 4;
  const peerDays = options.peerDays ?? 3;
  const faulty = options.faultyPeer ?? true;
  // The hub's side, for real: its store (SQLite, the migrations of every feature) and PriorService.
  const dir = mkdtempSync(join(tmpdir(), 'swarmgate-bench-fleet-'));
  const store = await openHubStore({ kind: 'sqlite', path: join(dir, 'hub.db') });
  const latest = new Map<string, DetectorPrior>();
  const fleet = new Map<string, DetectorPrior>();
  const choices: Record<string, { source: string; verdicts: string[] }> = {};
  let priorBytes = 0;
  try {
    const hub = new PriorService(sqlFor(store));
    for (let g = 1; g <= peers; g++) {
      const { ts, values } = series(seed * 1000 + 100 + g, peerDays, 10, faulty && g === peers ? FAULTY_OFFSET_K : 0);
      for (const point of Object.keys(POINTS)) {
        const det = new PointDetector({}, point);
        await replay(det, ts, values[point] ?? []);
        await det.idle();
        const bytes = encodePrior(await exportPrior(det, START + g));
        priorBytes = Math.max(priorBytes, bytes.byteLength);
        // As ingest hands it over: the JSON bytes, checked against the schema and the size bound again.
        const key = priorKey({ profile: 'ahu-modbus', point });
        await hub.publish({ key, site: 'bench', gateway: `peer-${g}`, device: 'ahu1', point, prior: bytes });
      }
    }
    await hub.idle(); // fleet priors are chosen in the background
    for (const point of Object.keys(POINTS)) {
      const key = priorKey({ profile: 'ahu-modbus', point });
      latest.set(point, (await hub.get(key)).prior);
      const f = await hub.getFleet(key);
      fleet.set(point, f.prior);
      choices[point] = { source: f.summary.source, verdicts: f.summary.verdicts.map((v) => `${v.ref}: ${v.role}${v.role === 'chosen' ? '' : ` (${v.reason})`}`) };
    }
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }

  const arm = (): Arm => ({ firstScoring: [], firstTrusted: [], falseAlerts: 0, falseEvents: 0, falseEventsTrustedDay: 0, driftDelay: [] });
  const arms: Record<ArmName, Arm> = { no_prior: arm(), latest: arm(), fleet: arm() };
  let detectors = 0;
  for (let g = 1; g <= newcomers; g++) {
    // Three days: a detector without a prior needs more than one to start scoring, and a trusted day after that.
    const { ts, values } = series(seed * 1000 + 200 + g, 3, options.newcomerOutdoorMeanC);
    for (const point of Object.keys(POINTS)) {
      const clean = values[point] ?? [];
      const makers: Record<ArmName, () => PointDetector> = {
        no_prior: () => new PointDetector({}, point),
        latest: () => detectorFromPrior(latest.get(point) as DetectorPrior, {}, point),
        fleet: () => detectorFromPrior(fleet.get(point) as DetectorPrior, {}, point),
      };
      for (const name of ARMS) {
        const result = arms[name];
        const make = makers[name];
        detectors++;
        const run = await replay(make(), ts, clean);
        const trusted = name === 'no_prior' ? Math.max(run.firstScoring, LEARNING) : run.firstScoring;
        result.firstScoring.push(run.firstScoring);
        result.firstTrusted.push(trusted);
        const day1 = run.scores.slice(0, DAY);
        result.falseAlerts += day1.filter((s) => s >= ALERT).length;
        result.falseEvents += day1.filter((s, i) => i + 1 >= trusted && s >= EVENT).length;
        result.falseEventsTrustedDay += Number.isFinite(trusted) ? run.scores.slice(trusted, trusted + DAY).filter((s) => s >= EVENT).length : 0;
        if (point === DRIFTING) {
          const drifted = clean.slice(0, DAY).map((v, i) => (i < DRIFT_FROM ? v : Math.fround(v + (DRIFT_K_PER_H * (i - DRIFT_FROM) * STEP_S) / 3600)));
          const d = await replay(make(), ts, drifted);
          const hit = d.scores.findIndex((s, i) => i >= DRIFT_FROM && s >= ALERT);
          result.driftDelay.push(hit < 0 ? Infinity : hit - DRIFT_FROM);
        }
      }
    }
  }
  return { arms, choices, priorBytes, detectors, seconds: Number(((performance.now() - started) / 1000).toFixed(1)) };
}

const minutes = (readings: number): number => (readings * STEP_S) / 60;
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] ?? Infinity;
};
const finiteOr = (x: number, dflt: number): number => (Number.isFinite(x) ? x : dflt);
const seenShare = (a: Arm): number => a.driftDelay.filter(Number.isFinite).length / Math.max(1, a.driftDelay.length);

export async function benchFleetPrior(): Promise<BenchEntry[]> {
  const r = await runFleetPrior();
  const n = r.arms.fleet.firstScoring.length;
  const note = `${n} points on new gateways (3 AHU temperatures × 4 newcomers), 5-min readings; priors of 4 peers × 3 days through the hub's PriorService, the last peer miscalibrated by +${FAULTY_OFFSET_K} K; ${r.seconds} s`;
  const entries: BenchEntry[] = [];
  for (const name of ARMS) {
    const a = r.arms[name];
    const what = name === 'no_prior' ? 'from nothing' : name === 'latest' ? 'from the prior the last peer published' : 'from the fleet prior the hub chose';
    entries.push(
      { name: `fleet_${name}_first_score_minutes`, value: minutes(median(a.firstScoring)), unit: 'min', notes: `${what}: median simulated time until the detector scores (phase 'scoring'; worst ${minutes(Math.max(...a.firstScoring))} min); ${note}` },
      { name: `fleet_${name}_trusted_score_minutes`, value: minutes(median(a.firstTrusted)), unit: 'min', notes: `${what}: median simulated time until the gateway raises events on the score (started from a prior: once it scores; alone: once it scores and learningHours 24 h passed)` },
      { name: `fleet_${name}_false_alerts_day1`, value: a.falseAlerts, unit: 'readings', notes: `${what}: clean first day, scores >= ${ALERT} (detector alert level), over all points` },
      { name: `fleet_${name}_false_events_day1`, value: a.falseEvents, unit: 'readings', notes: `${what}: clean first day, scores >= ${EVENT} (default analytics.threshold) once trustworthy` },
      { name: `fleet_${name}_false_events_first_trusted_day`, value: a.falseEventsTrustedDay, unit: 'readings', notes: `${what}: clean data, the first day of trustworthy scores, scores >= ${EVENT}` },
      { name: `fleet_${name}_drift_seen_day1`, value: seenShare(a), unit: 'fraction', notes: `${what}: ${DRIFT_K_PER_H} K/h drift of the return air from hour 12; median delay ${finiteOr(minutes(median(a.driftDelay)), -1)} min (-1: not seen)` },
    );
  }
  const base = r.arms.no_prior;
  const fl = r.arms.fleet;
  entries.push({
    name: 'fleet_trusted_score_speedup',
    value: Number((median(base.firstTrusted) / median(fl.firstTrusted)).toFixed(1)),
    unit: 'x',
    baseline: { name: 'fleet_no_prior_trusted_score_minutes', value: minutes(median(base.firstTrusted)), unit: 'min' },
    ratio: Number((median(base.firstTrusted) / median(fl.firstTrusted)).toFixed(1)),
    notes: 'time to the first trustworthy score, from nothing / from the fleet prior, same newcomers in the same run',
  });
  const excluded = Object.values(r.choices).flatMap((c) => c.verdicts.filter((v) => v.includes(': excluded')));
  entries.push({
    name: 'fleet_faulty_peer_excluded',
    value: excluded.filter((v) => v.includes(`peer-4/`)).length / Object.keys(r.choices).length,
    unit: 'fraction',
    notes: `points whose fleet prior left out the miscalibrated peer; choices: ${Object.entries(r.choices).map(([p, c]) => `${p} <- ${c.source}`).join(', ')}; left out: ${excluded.join('; ')}`,
  });
  // The same newcomers in a colder climate (4 °C mean outdoors, the peers' 10 °C): their readings
  // sit lower than any peer's; a detector started from a prior re-centres it on its own level
  // (edge/analytics/prior.ts) before its first own pattern is compared with the remembered ones.
  const cold = await runFleetPrior({ newcomerOutdoorMeanC: 4 });
  for (const name of ARMS) {
    const a = cold.arms[name];
    entries.push(
      { name: `fleet_${name}_false_alerts_day1_colder_site`, value: a.falseAlerts, unit: 'readings', notes: `as fleet_${name}_false_alerts_day1, newcomers at 4 °C mean outdoors (peers 10 °C); >= ${EVENT} once trustworthy: ${a.falseEvents}; first trusted day >= ${EVENT}: ${a.falseEventsTrustedDay}` },
      { name: `fleet_${name}_drift_seen_day1_colder_site`, value: seenShare(a), unit: 'fraction', notes: `as fleet_${name}_drift_seen_day1, newcomers at 4 °C mean outdoors` },
    );
  }
  entries.push({ name: 'fleet_prior_bytes', value: r.priorBytes, unit: 'bytes', notes: 'largest encoded prior (limit 245760)' });
  return entries;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf('--newcomer-outdoor');
  const r = await runFleetPrior({ ...(i > 0 ? { newcomerOutdoorMeanC: Number(process.argv[i + 1]) } : {}), faultyPeer: !process.argv.includes('--no-faulty-peer') });
  process.stdout.write(`${JSON.stringify(r, (_k, v: unknown) => (v === Infinity ? 'Infinity' : v), 2)}\n`);
}
