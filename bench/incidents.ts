/**
 * The emergence monitor's grouping on labelled fleet scenarios (devices/scenarios/fleet-incidents.ts:
 * 30 gateways on 3 sites, a heat wave on one site reaching return air hours later, a grid event
 * on every meter, a bad release on 40 % of the fleet, single-equipment faults (one on a heat-wave
 * AHU while it lasts) and background false alarms), fed through the real
 * IncidentService on SQLite with the real point index filled from the gateways' births; and the
 * same seeds with the heat wave's first alarms spread over an hour (`spread_*`: each building's
 * detector trips at its own time).
 * Reported: pairwise precision and recall of the grouping (every pair of alarms: same true cause
 * vs same incident), fleet causes recovered as one fleet incident, alarms of single-equipment
 * causes wrongly put into fleet incidents, incidents per alarm, and the cost per event.
 */
import { join } from 'node:path';
import { sqlFor } from '../hub/db/sql.js';
import { featureMigrations } from '../hub/features.js';
import { IncidentService } from '../hub/incidents/service.js';
import { PointIndex } from '../hub/registry/points.js';
import { SqliteStore } from '../hub/store/index.js';
import { fleetScenario, type FleetScenario, type FleetScenarioOptions } from '../devices/scenarios/fleet-incidents.js';
import { birthOf, eventOf, scoreGrouping, versionAt, type GroupingScore } from '../test/support/incident-scenario.js';
import { tempDir } from '../test/support/tmp.js';
import { atLeast, atMost, progress, type BenchEntry } from './results.js';

export interface ScenarioRun {
  readonly scenario: FleetScenario;
  readonly score: GroupingScore;
  readonly usPerEvent: number;
  /** Alarm id -> the incident it ended in. */
  readonly incidentOf: ReadonlyMap<string, { id: string; kind: 'fleet' | 'equipment' }>;
}

/** One scenario through a fresh store and service. */
export async function runIncidentScenario(seed: number, options: Omit<FleetScenarioOptions, 'seed'> = {}): Promise<ScenarioRun> {
  const scenario = fleetScenario({ ...options, seed });
  const dir = tempDir('swarmgate-bench-incidents-');
  const store = await SqliteStore.open({ path: join(dir.path, 'hub.db'), migrations: featureMigrations('sqlite') });
  try {
    const sql = sqlFor(store);
    const points = new PointIndex(sql);
    for (const gw of scenario.gateways) await points.applyBirth(gw.site, gw.gateway, birthOf(gw, scenario.start).devices ?? [], scenario.start);
    let now = scenario.start;
    const service = await IncidentService.open({ sql, points, sweepEveryMs: 0, clock: () => now, gatewayVersion: async (gw) => versionAt(scenario, gw, now),
      fleetVersions: async () => {
        const counts = new Map<string, number>();
        for (const g of scenario.gateways) counts.set(versionAt(scenario, g.gateway, now), (counts.get(versionAt(scenario, g.gateway, now)) ?? 0) + 1);
        return counts;
      },
    });
    const t0 = performance.now();
    for (const alarm of scenario.alarms) {
      now = alarm.ts;
      await service.record(alarm.site, alarm.gateway, eventOf(alarm));
    }
    const us = ((performance.now() - t0) * 1000) / scenario.alarms.length;
    await service.sweep(scenario.start + 48 * 3_600_000);
    await service.stop();
    const rows = await sql.all('SELECT m.event_id, m.incident_id, i.kind FROM incident_members m JOIN incidents i ON i.id = m.incident_id');
    const byEvent = new Map(rows.map((r) => [String(r.event_id), { id: String(r.incident_id), kind: r.kind === 'fleet' ? ('fleet' as const) : ('equipment' as const) }]));
    const incidentOf = new Map(scenario.alarms.flatMap((a) => {
      const inc = byEvent.get(eventOf(a).id);
      return inc ? [[a.id, inc] as const] : [];
    }));
    return { scenario, score: scoreGrouping(scenario, incidentOf), usPerEvent: us, incidentOf };
  } finally {
    await store.close();
    dir.remove();
  }
}

/**
 * Seeds 1-10 were looked at while the rules were written; seeds 11-40 were not (the held-out
 * figures are the ones that count; both are reported).
 */
export async function benchIncidents(): Promise<BenchEntry[]> {
  const dev = await benchSeeds(1, 10, 'dev');
  const heldOut = await benchSeeds(11, 40, 'held_out');
  // Each building's detector trips at its own time: the heat wave's first alarms over an hour.
  const spreadDev = await benchSeeds(1, 10, 'spread_dev', { heatSpreadMin: 60 });
  const spreadHeldOut = await benchSeeds(11, 40, 'spread_held_out', { heatSpreadMin: 60 });
  return [...heldOut, ...dev, ...spreadHeldOut, ...spreadDev, ...(await benchSimulated())];
}

/**
 * Alarms raised by the real anomaly monitors on simulated facilities (bench/incidents-sim.ts):
 * 2 sites x 4 gateways, heat-wave fault on site-1, sensor drift on one gateway of site-2. Seed 1
 * was looked at while choosing the quiet period (60 min) and joining while open; seed 2 (return
 * air past the quiet period) while writing the propagation rule (propagationMs, a fleetFraction
 * share of the incident's gateways), whose 3 h come from buildings' thermal lag, not from the
 * seeds. Then again with one site-1 AHU's discharge-air sensor drifting an hour into the heat
 * wave: it must stay an equipment incident.
 */
async function benchSimulated(): Promise<BenchEntry[]> {
  const { runSimulatedFleet } = await import('./incidents-sim.js');
  const out: BenchEntry[] = [];
  const runs: Awaited<ReturnType<typeof runSimulatedFleet>>[] = [];
  for (const seed of [1, 2, 3]) {
    const r = await runSimulatedFleet({ seed });
    const s = r.score;
    progress(`incidents sim seed ${seed}: ${s.alarms} detector alarms -> ${s.incidents} incidents, pairwise P ${s.pairwisePrecision.toFixed(3)} R ${s.pairwiseRecall.toFixed(3)}, heat wave one fleet incident: ${s.fleetCausesRecovered === 1}, drift kept as equipment: ${s.equipmentCausesRecovered === 1} (${r.seconds.toFixed(0)} s)`);
    runs.push(r);
  }
  const mean = (f: (s: GroupingScore) => number): number => Number((runs.reduce((a, r) => a + f(r.score), 0) / runs.length).toFixed(3));
  const faulty: Awaited<ReturnType<typeof runSimulatedFleet>>[] = [];
  for (const seed of [1, 2, 3]) {
    const r = await runSimulatedFleet({ seed, hotSiteFaultAfterMin: 60 });
    const own = r.alarms.filter((a) => a.cause === 'hot-site-drift');
    progress(`incidents sim seed ${seed} + discharge-air drift on a heat-wave AHU: pairwise P ${r.score.pairwisePrecision.toFixed(3)} R ${r.score.pairwiseRecall.toFixed(3)}, its ${own.length} alarm(s) in ${own.map((a) => r.incidentOf.get(a.id)?.kind ?? '?').join(', ')} incidents`);
    faulty.push(r);
  }
  const note = 'real AnomalyMonitor per simulated facility (4 AHU temperatures, learned day), heat-wave fault +14 K on site-1 of 2x4 gateways, return-air drift on one site-2 gateway; seeds 1-3 (1 and 2 seen while tuning)';
  out.push(
    { name: 'incidents_sim_pairwise_precision', value: mean((s) => s.pairwisePrecision), unit: 'ratio', notes: `mean over seeds; per seed ${runs.map((r) => r.score.pairwisePrecision.toFixed(3)).join(', ')}. ${note}` },
    { name: 'incidents_sim_pairwise_recall', value: mean((s) => s.pairwiseRecall), unit: 'ratio', notes: `mean over seeds; per seed ${runs.map((r) => r.score.pairwiseRecall.toFixed(3)).join(', ')}; return-air alarms trailing the outside/mixed-air ones past the quiet period join (reopen) the heat wave. ${note}` },
    {
      name: 'incidents_sim_hot_site_fault_kept_apart',
      value: Number((faulty.filter((r) => r.score.equipmentCausesRecovered === r.score.equipmentCauses && r.alarms.some((a) => a.cause === 'hot-site-drift')).length / faulty.length).toFixed(3)),
      unit: 'ratio',
      notes: `runs (seeds 1-3) where a site-1 AHU's discharge-air sensor drifting 60 min into the heat wave was alarmed and stayed its own equipment incident (and the return-air drift too); pairwise P ${faulty.map((r) => r.score.pairwisePrecision.toFixed(3)).join(', ')}, R ${faulty.map((r) => r.score.pairwiseRecall.toFixed(3)).join(', ')}. ${note}`,
    },
    { name: 'incidents_sim_alarms_per_incident', value: Number((runs.reduce((a, r) => a + r.score.alarms, 0) / runs.reduce((a, r) => a + r.score.incidents, 0)).toFixed(2)), unit: 'alarms', notes: note },
  );
  return out;
}

async function benchSeeds(from: number, to: number, label: string, options: Omit<FleetScenarioOptions, 'seed'> = {}): Promise<BenchEntry[]> {
  const seeds = to - from + 1;
  const runs: ScenarioRun[] = [];
  for (let seed = from; seed <= to; seed++) {
    const run = await runIncidentScenario(seed, options);
    const s = run.score;
    progress(`incidents ${label} seed ${seed}: ${s.alarms} alarms -> ${s.incidents} incidents, pairwise P ${s.pairwisePrecision.toFixed(3)} R ${s.pairwiseRecall.toFixed(3)}, fleet causes ${s.fleetCausesRecovered}/${s.fleetCauses}, equipment causes ${s.equipmentCausesRecovered}/${s.equipmentCauses}, single-cause alarms in fleet incidents ${s.equipmentAlarmsInFleet}/${s.equipmentAlarms}`);
    runs.push(run);
  }
  const mean = (f: (s: GroupingScore) => number): number => runs.reduce((a, r) => a + f(r.score), 0) / runs.length;
  const total = (f: (s: GroupingScore) => number): number => runs.reduce((a, r) => a + f(r.score), 0);
  const spread = options.heatSpreadMin ?? 20;
  const note = `${from <= 10 ? 'seeds seen while tuning' : 'held-out seeds'}: ${seeds} labelled scenarios (seeds ${from}-${to}): 30 gateways on 3 sites, heat wave on one site (each gateway's first alarm within ${spread} min${spread > 20 ? ', each building as late with mixed and return air' : ''}; outside, mixed, then return air 40 min-3 h later), grid event on every meter, bad release on ~40 %, 8 single-equipment causes (one a discharge-air sensor on a heat-wave AHU while it lasts), ~30 false alarms; real IncidentService on SQLite`;
  return [
    atLeast(`incidents_${label}_pairwise_precision`, Number(mean((s) => s.pairwisePrecision).toFixed(3)), 'ratio', 0.9, `mean over scenarios; pairs of alarms grouped together that share a true cause. ${note}`),
    atLeast(`incidents_${label}_pairwise_recall`, Number(mean((s) => s.pairwiseRecall).toFixed(3)), 'ratio', 0.9, `mean over scenarios; pairs of alarms with one true cause that were grouped together. ${note}`),
    atLeast(`incidents_${label}_fleet_causes_recovered`, Number((total((s) => s.fleetCausesRecovered) / total((s) => s.fleetCauses)).toFixed(3)), 'ratio', 0.9, 'fleet causes whose alarms (>= 80 %) are one fleet incident made (>= 80 %) of them'),
    atLeast(`incidents_${label}_equipment_causes_recovered`, Number((total((s) => s.equipmentCausesRecovered) / total((s) => s.equipmentCauses)).toFixed(3)), 'ratio', 0.9, 'single-equipment causes whose alarms all are one equipment incident'),
    atMost(`incidents_${label}_single_cause_alarms_in_fleet`, Number((total((s) => s.equipmentAlarmsInFleet) / total((s) => s.equipmentAlarms)).toFixed(3)), 'ratio', 0.05, 'alarms of equipment faults and false alarms wrongly absorbed by a fleet incident'),
    { name: `incidents_${label}_per_alarm`, value: Number((total((s) => s.incidents) / total((s) => s.alarms)).toFixed(3)), unit: 'ratio', notes: 'work items a technician sees per alarm (1.0 would be one per alarm)' },
    { name: `incidents_${label}_cost_per_event`, value: Number((runs.reduce((a, r) => a + r.usPerEvent, 0) / runs.length).toFixed(0)), unit: 'us', notes: 'grouping and writing one anomaly event (SQLite, point lookups cached)' },
  ];
}
