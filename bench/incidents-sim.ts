/**
 * The emergence monitor on alarms the real detectors raise in the simulator: a fleet of simulated
 * facilities (devices/physics, one per gateway, own seed), each read through its fault registry
 * as the protocol servers read it, one sample per simulated minute, into the gateway's real
 * AnomalyMonitor on four AHU temperatures. After a learned day and some quiet hours, a heat-wave
 * fault (weather, +offsetK over 30 min) is injected into every facility of one site and a sensor
 * drift into one gateway of another site; every anomaly event the monitors raise is then grouped
 * by the hub's real IncidentService (SQLite, point index filled from births with the profile's
 * units and markers). Labels: site-1's alarms after the heat wave are one cause, the drifting
 * gateway's are another, every other alarm (a false alarm) is its own. Optionally one site-1 AHU's
 * discharge-air sensor drifts too while the heat wave lasts: its alarms are a cause of their own.
 */
import { join } from 'node:path';
import { wirePhysicalFaults } from '../devices/context.js';
import { FaultRegistry } from '../devices/faults/registry.js';
import type { SensorTarget } from '../devices/faults/types.js';
import { FacilityModel } from '../devices/physics/model.js';
import type { FleetScenario, ScenarioAlarm, ScenarioCause, ScenarioGateway } from '../devices/scenarios/fleet-incidents.js';
import { DEMO_TAGS } from '../devices/profiles/tags.js';
import type { AnalyticsConfig } from '../edge/analytics/schema.js';
import { AnomalyMonitor } from '../edge/decisions/anomaly-monitor.js';
import { MemoryReporter } from '../edge/decisions/rules/reporter.js';
import { sqlFor } from '../hub/db/sql.js';
import { featureMigrations } from '../hub/features.js';
import { IncidentService, type IncidentView } from '../hub/incidents/service.js';
import { PointIndex } from '../hub/registry/points.js';
import { SqliteStore } from '../hub/store/index.js';
import { createLogger } from '../shared/kit/log.js';
import type { GatewayEvent } from '../shared/wire/messages.js';
import { birthOf, scoreGrouping, type GroupingScore } from '../test/support/incident-scenario.js';
import { tempDir } from '../test/support/tmp.js';

const STEP_S = 60;
const DAY = 86_400 / STEP_S;
const START = Date.UTC(2024, 10, 25);

const POINTS: Readonly<Record<string, { target: SensorTarget; read: (m: FacilityModel) => number }>> = {
  outdoor_air_temp: { target: 'ahu.outdoor_air_temp', read: (m) => m.outdoorC },
  mixed_air_temp: { target: 'ahu.mixed_air_temp', read: (m) => m.ahu.mixedAirC },
  supply_air_temp: { target: 'ahu.supply_air_temp', read: (m) => m.ahu.supplyAirC },
  return_air_temp: { target: 'ahu.return_air_temp', read: (m) => m.ahu.returnAirC },
};

export interface SimulatedFleetOptions {
  readonly sites?: number;
  readonly perSite?: number;
  readonly seed?: number;
  /** Quiet hours after the learned day, before the faults (false alarms only). Default 6. */
  readonly quietHours?: number;
  /** Hours after the faults. Default 3. */
  readonly afterHours?: number;
  readonly heatWaveK?: number;
  /**
   * Minutes after the heat wave at which one site-1 AHU's discharge-air sensor starts drifting
   * (an equipment fault on a heat-wave gateway, on a point sharing markers with it). Default none.
   */
  readonly hotSiteFaultAfterMin?: number;
}

export interface SimulatedFleetResult {
  readonly score: GroupingScore;
  readonly alarms: readonly (ScenarioAlarm & { readonly message: string })[];
  readonly incidents: readonly IncidentView[];
  /** Alarm id -> its incident. */
  readonly incidentOf: ReadonlyMap<string, { id: string; kind: 'fleet' | 'equipment' }>;
  readonly seconds: number;
}

interface SimGateway {
  readonly info: ScenarioGateway;
  readonly model: FacilityModel;
  readonly faults: FaultRegistry;
  readonly reporter: MemoryReporter;
  monitor: AnomalyMonitor;
}

export async function runSimulatedFleet(options: SimulatedFleetOptions = {}): Promise<SimulatedFleetResult> {
  const started = performance.now();
  const sites = options.sites ?? 2;
  const perSite = options.perSite ?? 4;
  const seed = options.seed ?? 1;
  const log = createLogger('bench', 'silent');
  const dir = tempDir('swarmgate-sim-incidents-');
  const config: AnalyticsConfig = { threshold: 0.9, learningHours: 24, points: Object.keys(POINTS).map((point) => ({ point: `ahu1/${point}` })) };
  const fleet: SimGateway[] = [];
  try {
    for (let s = 1; s <= sites; s++) {
      for (let g = 1; g <= perSite; g++) {
        const gateway = `gw-${s}-${g}`;
        const model = new FacilityModel({ seed: seed * 1000 + s * 100 + g, startTime: START });
        const faults = new FaultRegistry({ now: () => model.now(), seed: seed * 1000 + s * 100 + g });
        wirePhysicalFaults(faults, model);
        model.setFanCommand(true);
        model.step(DAY * STEP_S); // running a day before the gateway was installed
        const reporter = new MemoryReporter();
        const monitor = await AnomalyMonitor.start({ gateway: { id: gateway, log, onSample: () => () => undefined, latest: () => undefined }, config, reporter, dataDir: join(dir.path, gateway), log });
        const points = Object.keys(POINTS).map((name) => ({ name, unit: 'degC', tags: (DEMO_TAGS['ahu-modbus.yaml']?.[name] ?? '').split(' ') }));
        fleet.push({ info: { site: `site-${s}`, gateway, version: '2.0.3', devices: [{ id: 'ahu1', profile: 'ahu-modbus.yaml', points }] }, model, faults, reporter, monitor });
      }
    }
    const run = async (samples: number): Promise<void> => {
      for (let i = 0; i < samples; i++) {
        for (const gw of fleet) {
          gw.model.step(STEP_S);
          for (const [point, p] of Object.entries(POINTS)) gw.monitor.ingest({ device: 'ahu1', point, value: gw.faults.sensor(p.target, p.read(gw.model)), quality: 'good', ts: gw.model.now() });
        }
        await Promise.all(fleet.map((gw) => gw.monitor.idle()));
      }
    };
    await run(DAY + 10);
    await run(((options.quietHours ?? 6) * 3600) / STEP_S);
    const injectedAt = fleet[0]?.model.now() ?? START;
    for (const gw of fleet) if (gw.info.site === 'site-1') gw.faults.inject({ kind: 'heat-wave', offsetK: options.heatWaveK ?? 14, rampMinutes: 30 });
    const drifting = fleet.find((gw) => gw.info.site === 'site-2') ?? fleet[fleet.length - 1];
    drifting?.faults.inject({ kind: 'drift', target: 'ahu.return_air_temp', ratePerHour: 3 });
    const after = ((options.afterHours ?? 3) * 3600) / STEP_S;
    const faultAfter = options.hotSiteFaultAfterMin === undefined ? after : Math.min(after, Math.round((options.hotSiteFaultAfterMin * 60) / STEP_S));
    await run(faultAfter);
    const failing = options.hotSiteFaultAfterMin === undefined ? undefined : fleet.find((gw) => gw.info.site === 'site-1' && gw.info.gateway.endsWith('-2'));
    const failingAt = fleet[0]?.model.now() ?? START;
    failing?.faults.inject({ kind: 'drift', target: 'ahu.supply_air_temp', ratePerHour: 3 });
    await run(after - faultAfter);
    for (const gw of fleet) await gw.monitor.stop();

    // The labels.
    const causes: ScenarioCause[] = [
      { id: 'heat-wave', kind: 'fleet', description: 'heat wave on site-1' },
      { id: 'drift', kind: 'equipment', description: `return-air sensor drift on ${drifting?.info.gateway ?? '?'}` },
      ...(failing ? [{ id: 'hot-site-drift', kind: 'equipment' as const, description: `discharge-air sensor drift on ${failing.info.gateway} during the heat wave` }] : []),
    ];
    const events: { site: string; event: GatewayEvent }[] = [];
    const alarms: (ScenarioAlarm & { message: string })[] = [];
    for (const gw of fleet) {
      for (const event of gw.reporter.events) {
        if (event.kind !== 'anomaly') continue;
        let cause: string;
        if (gw === failing && event.ts >= failingAt && event.point === 'supply_air_temp') cause = 'hot-site-drift';
        else if (event.ts >= injectedAt && gw.info.site === 'site-1') cause = 'heat-wave';
        else if (event.ts >= injectedAt && gw === drifting && event.point === 'return_air_temp') cause = 'drift';
        else {
          cause = `false-${alarms.length + 1}`;
          causes.push({ id: cause, kind: 'noise', description: `false alarm: ${event.message}` });
        }
        alarms.push({ id: event.id, ts: event.ts, site: gw.info.site, gateway: gw.info.gateway, device: event.device ?? '', point: event.point ?? '', cause, message: event.message });
        events.push({ site: gw.info.site, event });
      }
    }
    events.sort((a, b) => a.event.ts - b.event.ts);
    alarms.sort((a, b) => a.ts - b.ts);

    // The hub.
    const store = await SqliteStore.open({ path: join(dir.path, 'hub.db'), migrations: featureMigrations('sqlite') });
    try {
      const sql = sqlFor(store);
      const points = new PointIndex(sql);
      for (const gw of fleet) await points.applyBirth(gw.info.site, gw.info.gateway, birthOf(gw.info, START).devices ?? [], START);
      let now = START;
      const service = await IncidentService.open({ sql, points, sweepEveryMs: 0, clock: () => now });
      for (const { site, event } of events) {
        now = event.ts;
        await service.record(site, event.gateway, event);
      }
      await service.stop();
      const incidents = await service.list({ limit: 1000 });
      const incidentOf = new Map<string, { id: string; kind: 'fleet' | 'equipment' }>();
      for (const i of incidents) for (const m of (await service.get(i.id)).members) incidentOf.set(m.eventId, { id: i.id, kind: i.kind });
      const scenario: FleetScenario = { seed, start: START, gateways: fleet.map((g) => g.info), causes, alarms, release: { version: '', at: Infinity, gateways: [] } };
      return { score: scoreGrouping(scenario, incidentOf), alarms, incidents, incidentOf, seconds: (performance.now() - started) / 1000 };
    } finally {
      await store.close();
    }
  } finally {
    dir.remove();
  }
}
