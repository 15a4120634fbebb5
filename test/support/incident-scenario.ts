/**
 * The labelled fleet scenarios of devices/scenarios/fleet-incidents.ts in the hub's terms (births
 * with units and markers, anomaly events), and how well a grouping of their alarms matches the
 * labels: pairwise precision and recall (over every pair of alarms: same true cause vs same
 * incident) and incident-level figures (each fleet cause recovered as one fleet incident, alarms of
 * single-equipment causes kept out of fleet incidents).
 */
import { createHash } from 'node:crypto';
import type { FleetScenario, ScenarioAlarm, ScenarioGateway } from '../../devices/scenarios/fleet-incidents.js';
import { Correlator, signatureOf, type CorrelatorOptions } from '../../hub/incidents/correlate.js';
import type { GatewayEvent, GatewayState } from '../../shared/wire/messages.js';

type DeviceStatus = NonNullable<GatewayState['devices']>[number];

/** A UUID derived from a scenario alarm id (event ids on the wire are UUIDs). */
export function eventId(alarm: Pick<ScenarioAlarm, 'id'>, salt = ''): string {
  const h = createHash('sha256').update(`${salt}${alarm.id}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export function devicesOf(gw: ScenarioGateway): DeviceStatus[] {
  return gw.devices.map((d) => ({
    id: d.id,
    protocol: d.profile.includes('opcua') ? 'opcua' : 'modbus-tcp',
    state: 'up' as const,
    units: Object.fromEntries(d.points.filter((p) => p.unit !== undefined).map((p) => [p.name, p.unit as string])),
    tags: Object.fromEntries(d.points.filter((p) => p.tags.length > 0).map((p) => [p.name, [...p.tags]])),
  }));
}

export function birthOf(gw: ScenarioGateway, ts: number, version = gw.version): GatewayState {
  return { v: 1, gateway: gw.gateway, site: gw.site, status: 'online', ts, version, devices: devicesOf(gw) };
}

export function eventOf(alarm: ScenarioAlarm, ts = alarm.ts, salt = ''): GatewayEvent {
  return { v: 1, id: eventId(alarm, salt), gateway: alarm.gateway, ts, kind: 'anomaly', severity: 'warning', device: alarm.device, point: alarm.point, message: `anomaly on ${alarm.device}.${alarm.point}`, data: { scenario: alarm.cause } };
}

/** The version a gateway runs at a time (the bad release from its deployment on). */
export function versionAt(scenario: FleetScenario, gateway: string, ts: number): string {
  const gw = scenario.gateways.find((g) => g.gateway === gateway);
  return scenario.release.gateways.includes(gateway) && ts >= scenario.release.at ? scenario.release.version : (gw?.version ?? '?');
}

/**
 * A scenario's alarms through the correlator alone, in time order (no store, no point index: the
 * population per site and the fleet's versions come from the scenario itself, as the service
 * would look them up from the births). Alarm id -> the incident it ended in.
 */
export function correlateScenario(scenario: FleetScenario, options: CorrelatorOptions = {}): Map<string, { id: string; kind: 'fleet' | 'equipment' }> {
  const pointOf = (gateway: string, device: string, point: string) => scenario.gateways.find((g) => g.gateway === gateway)?.devices.find((d) => d.id === device)?.points.find((p) => p.name === point);
  const perSite = new Map<string, Map<string, Set<string>>>();
  for (const gw of scenario.gateways) {
    for (const p of gw.devices.flatMap((d) => d.points)) {
      const signature = signatureOf({ tags: p.tags, point: p.name, ...(p.unit === undefined ? {} : { unit: p.unit }) });
      const sites = perSite.get(signature) ?? new Map<string, Set<string>>();
      sites.set(gw.site, (sites.get(gw.site) ?? new Set()).add(gw.gateway));
      perSite.set(signature, sites);
    }
  }
  const correlator = new Correlator(options);
  for (const a of scenario.alarms) {
    const point = pointOf(a.gateway, a.device, a.point);
    const tags = point?.tags ?? [];
    const unit = point?.unit;
    const signature = signatureOf({ tags, point: a.point, ...(unit === undefined ? {} : { unit }) });
    const population = new Map([...(perSite.get(signature) ?? new Map<string, Set<string>>()).entries()].map(([site, gws]) => [site, gws.size]));
    const version = versionAt(scenario, a.gateway, a.ts);
    const share = scenario.gateways.filter((g) => versionAt(scenario, g.gateway, a.ts) === version).length / scenario.gateways.length;
    correlator.add({ eventId: a.id, ts: a.ts, site: a.site, gateway: a.gateway, device: a.device, point: a.point, tags, ...(unit === undefined ? {} : { unit }), severity: 'warning', version }, population, share);
  }
  correlator.closeQuiet(Number.MAX_SAFE_INTEGER);
  const incidentOf = new Map<string, { id: string; kind: 'fleet' | 'equipment' }>();
  const { members, incidents } = correlator.drain();
  const kindOf = new Map(incidents.map((i) => [i.id, i.kind]));
  for (const { member, incident } of members) incidentOf.set(member.eventId, { id: incident, kind: kindOf.get(incident) ?? 'equipment' });
  return incidentOf;
}

export interface GroupingScore {
  readonly alarms: number;
  readonly incidents: number;
  readonly pairwisePrecision: number;
  readonly pairwiseRecall: number;
  /** Fleet causes whose alarms are (at least 80 %) in one fleet incident holding (at least 80 %) only them. */
  readonly fleetCausesRecovered: number;
  readonly fleetCauses: number;
  /** Alarms of equipment and noise causes that ended in a fleet incident. */
  readonly equipmentAlarmsInFleet: number;
  readonly equipmentAlarms: number;
  /** Equipment causes whose alarms all ended in one equipment incident. */
  readonly equipmentCausesRecovered: number;
  readonly equipmentCauses: number;
}

/** `incidentOf`: alarm id -> (incident id, kind). */
export function scoreGrouping(scenario: FleetScenario, incidentOf: ReadonlyMap<string, { id: string; kind: 'fleet' | 'equipment' }>): GroupingScore {
  const alarms = scenario.alarms;
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < alarms.length; i++) {
    for (let j = i + 1; j < alarms.length; j++) {
      const a = alarms[i]!;
      const b = alarms[j]!;
      const truth = a.cause === b.cause;
      const predicted = incidentOf.get(a.id)?.id !== undefined && incidentOf.get(a.id)?.id === incidentOf.get(b.id)?.id;
      if (truth && predicted) tp++;
      else if (predicted) fp++;
      else if (truth) fn++;
    }
  }
  const kindOf = new Map(scenario.causes.map((c) => [c.id, c.kind]));
  const byIncident = new Map<string, ScenarioAlarm[]>();
  for (const a of alarms) {
    const inc = incidentOf.get(a.id);
    if (inc) byIncident.set(inc.id, [...(byIncident.get(inc.id) ?? []), a]);
  }
  let fleetCausesRecovered = 0;
  let equipmentCausesRecovered = 0;
  const fleetCauses = scenario.causes.filter((c) => c.kind === 'fleet');
  const equipmentCauses = scenario.causes.filter((c) => c.kind === 'equipment');
  for (const cause of fleetCauses) {
    const mine = alarms.filter((a) => a.cause === cause.id);
    const counts = new Map<string, number>();
    for (const a of mine) {
      const inc = incidentOf.get(a.id);
      if (inc?.kind === 'fleet') counts.set(inc.id, (counts.get(inc.id) ?? 0) + 1);
    }
    const best = [...counts.entries()].sort((x, y) => y[1] - x[1])[0];
    if (best && best[1] >= 0.8 * mine.length && best[1] >= 0.8 * (byIncident.get(best[0])?.length ?? Infinity)) fleetCausesRecovered++;
  }
  for (const cause of equipmentCauses) {
    const mine = alarms.filter((a) => a.cause === cause.id).map((a) => incidentOf.get(a.id));
    if (new Set(mine.map((x) => x?.id)).size === 1 && mine[0]?.kind === 'equipment') equipmentCausesRecovered++;
  }
  const single = alarms.filter((a) => kindOf.get(a.cause) !== 'fleet');
  return {
    alarms: alarms.length,
    incidents: new Set([...incidentOf.values()].map((x) => x.id)).size,
    pairwisePrecision: tp + fp === 0 ? 1 : tp / (tp + fp),
    pairwiseRecall: tp + fn === 0 ? 1 : tp / (tp + fn),
    fleetCausesRecovered,
    fleetCauses: fleetCauses.length,
    equipmentAlarmsInFleet: single.filter((a) => incidentOf.get(a.id)?.kind === 'fleet').length,
    equipmentAlarms: single.length,
    equipmentCausesRecovered,
    equipmentCauses: equipmentCauses.length,
  };
}
