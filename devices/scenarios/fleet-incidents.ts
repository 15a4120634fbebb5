/**
 * Labelled fleet scenarios for the hub's emergence monitor: a fleet of simulated gateways over
 * several sites (the demo equipment: AHU, energy meter, cold room, with their profiles' units and
 * Haystack markers) and a day of anomaly alarms, each labelled with its true cause:
 *
 * - fleet causes, many gateways at once: a heat wave on one site (its outside-air sensors, then
 *   mixed air within minutes and return air 40 min to 3 h later, each building its own lag), a grid
 *   event on every meter of every site (voltage, and power on part of them), a bad release on the
 *   gateways it reached (a scaling bug in the supply-air temperature, right after each update);
 * - equipment causes, one gateway deviating from identical peers: a clogging filter, a failing
 *   cold-room compressor, a stuck sensor, a drifting outside-air sensor during the heat wave on a
 *   site the heat wave does not reach, a failing discharge-air sensor on one of the heat wave's
 *   own AHUs while it lasts (one or several alarms on one device);
 * - background noise: false alarms on random points at random times, each its own cause.
 *
 * Deterministic for a seed. The scenario describes alarms in the simulator's own terms (no wire
 * types: devices/ shares nothing with edge/ or hub/); the bench and the tests turn them into
 * births and gateway events.
 */
import { createPrng, type Prng } from '../physics/prng.js';
import { DEMO_TAGS } from '../profiles/tags.js';

export interface ScenarioPoint {
  readonly name: string;
  readonly unit?: string;
  readonly tags: readonly string[];
}

export interface ScenarioDevice {
  readonly id: string;
  readonly profile: string;
  readonly points: readonly ScenarioPoint[];
}

export interface ScenarioGateway {
  readonly site: string;
  readonly gateway: string;
  /** Software version at the start (a bad release changes it for the gateways it reaches). */
  readonly version: string;
  readonly devices: readonly ScenarioDevice[];
}

export type CauseKind = 'fleet' | 'equipment' | 'noise';

export interface ScenarioCause {
  readonly id: string;
  readonly kind: CauseKind;
  readonly description: string;
}

export interface ScenarioAlarm {
  /** Unique per alarm (an anomaly event's id). */
  readonly id: string;
  readonly ts: number;
  readonly site: string;
  readonly gateway: string;
  readonly device: string;
  readonly point: string;
  /** The true cause (ScenarioCause.id): alarms with one cause belong in one incident. */
  readonly cause: string;
}

export interface FleetScenario {
  readonly seed: number;
  readonly start: number;
  readonly gateways: readonly ScenarioGateway[];
  readonly causes: readonly ScenarioCause[];
  /** Sorted by ts. */
  readonly alarms: readonly ScenarioAlarm[];
  /** Gateways the bad release reached, with the version they run from then on. */
  readonly release: { readonly version: string; readonly at: number; readonly gateways: readonly string[] };
}

export interface FleetScenarioOptions {
  readonly seed?: number;
  readonly sites?: number;
  readonly gatewaysPerSite?: number;
  /** Default 2024-11-25 00:00 UTC (the facility model's Monday). */
  readonly start?: number;
  /** Background false alarms per gateway per day (default 1). */
  readonly noisePerGatewayDay?: number;
  /** Single-equipment faults (default 6). */
  readonly equipmentFaults?: number;
  /**
   * Minutes over which the heat wave's first alarms at the site's gateways are spread (default 20).
   * Each building's detector trips at its own time on a weather-driven point (its sensor's
   * placement, its learned range, its sensitivity): a gateway that trips late raises its mixed and
   * return air that much later too. 60 is the field's worst case (the `spread` variant).
   */
  readonly heatSpreadMin?: number;
}

const UNITS: Readonly<Record<string, string>> = {
  supply_air_temp: 'degC',
  return_air_temp: 'degC',
  outdoor_air_temp: 'degC',
  mixed_air_temp: 'degC',
  filter_dp: 'Pa',
  fan_speed_feedback: '%',
  voltage: 'V',
  current: 'A',
  active_power: 'kW',
  frequency: 'Hz',
  temperature: 'degC',
};

const DEVICES: readonly { id: string; profile: string; points: readonly string[]; every?: number }[] = [
  { id: 'ahu1', profile: 'ahu-modbus.yaml', points: ['supply_air_temp', 'return_air_temp', 'outdoor_air_temp', 'mixed_air_temp', 'filter_dp', 'fan_speed_feedback'] },
  { id: 'meter1', profile: 'energy-meter-modbus.yaml', points: ['voltage', 'current', 'active_power', 'frequency'] },
  { id: 'freezer', profile: 'cold-room-opcua.yaml', points: ['temperature'], every: 2 },
];

const MIN = 60_000;
const HOUR = 3_600_000;
const BASE_VERSION = '2.0.3';
const BAD_VERSION = '2.1.0';

function pointOf(profile: string, name: string): ScenarioPoint {
  const tags = (DEMO_TAGS[profile]?.[name] ?? '').split(' ').filter((t) => t !== '');
  const unit = UNITS[name];
  return { name, tags, ...(unit === undefined ? {} : { unit }) };
}

function pick<T>(prng: Prng, items: readonly T[]): T {
  const item = items[Math.floor(prng.next() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

export function fleetScenario(options: FleetScenarioOptions = {}): FleetScenario {
  const seed = options.seed ?? 1;
  const prng = createPrng(seed);
  const start = options.start ?? Date.UTC(2024, 10, 25);
  const sites = Array.from({ length: options.sites ?? 3 }, (_, i) => `site-${i + 1}`);
  const perSite = options.gatewaysPerSite ?? 10;
  const gateways: ScenarioGateway[] = [];
  for (const site of sites) {
    for (let g = 1; g <= perSite; g++) {
      const devices = DEVICES.filter((d) => d.every === undefined || g % d.every === 0).map((d) => ({ id: d.id, profile: d.profile, points: d.points.map((p) => pointOf(d.profile, p)) }));
      gateways.push({ site, gateway: `gw-${site.slice(5)}-${String(g).padStart(2, '0')}`, version: BASE_VERSION, devices });
    }
  }
  const causes: ScenarioCause[] = [];
  const alarms: ScenarioAlarm[] = [];
  let n = 0;
  const alarm = (ts: number, gw: ScenarioGateway, device: string, point: string, cause: string): void => {
    alarms.push({ id: `${seed}-${String(++n).padStart(5, '0')}`, ts: Math.round(ts), site: gw.site, gateway: gw.gateway, device, point, cause });
  };
  const jitter = (spreadMs: number): number => prng.next() * spreadMs;

  // A heat wave on one site: its outside-air sensors leave their learned range within 20 min (or
  // heatSpreadMin). The same draws for every spread, so a seed's other alarms stay what they were.
  const hot = pick(prng, sites);
  const heatAt = start + 14 * HOUR;
  const spreadMs = (options.heatSpreadMin ?? 20) * MIN;
  /** How much later than with the default spread each hot gateway trips (its detector's own lag). */
  const lateBy = new Map<string, number>();
  causes.push({ id: 'heat-wave', kind: 'fleet', description: `heat wave at ${hot}: outside-air temperature on every AHU of the site` });
  for (const gw of gateways) {
    if (gw.site !== hot || prng.next() >= 0.9) continue;
    const share = prng.next();
    lateBy.set(gw.gateway, share * (spreadMs - 20 * MIN));
    alarm(heatAt + share * spreadMs, gw, 'ahu1', 'outdoor_air_temp', 'heat-wave');
  }

  // A grid event: voltage on every meter of every site within 3 min, active power on some.
  const gridAt = start + 9 * HOUR + jitter(HOUR);
  causes.push({ id: 'grid-event', kind: 'fleet', description: 'grid voltage dip: every meter of every site' });
  for (const gw of gateways) {
    if (prng.next() < 0.95) alarm(gridAt + jitter(3 * MIN), gw, 'meter1', 'voltage', 'grid-event');
    if (prng.next() < 0.5) alarm(gridAt + jitter(4 * MIN), gw, 'meter1', 'active_power', 'grid-event');
  }

  // A bad release: deployed in a wave of 40 % of the fleet over 15 min; a scaling bug in the
  // supply-air temperature alarms a few minutes after each update.
  const releaseAt = start + 3 * HOUR;
  const reached = gateways.filter(() => prng.next() < 0.4);
  causes.push({ id: 'bad-release', kind: 'fleet', description: `release ${BAD_VERSION}: supply-air temperature misread on the gateways it reached` });
  for (const gw of reached) alarm(releaseAt + jitter(15 * MIN) + 2 * MIN, gw, 'ahu1', 'supply_air_temp', 'bad-release');

  // Single-equipment faults, one or several alarms on one device.
  const faults: readonly { name: string; device: string; points: readonly string[] }[] = [
    { name: 'filter clogging', device: 'ahu1', points: ['filter_dp', 'fan_speed_feedback'] },
    { name: 'compressor failing', device: 'freezer', points: ['temperature'] },
    { name: 'stuck sensor', device: 'ahu1', points: ['mixed_air_temp'] },
    { name: 'return-air sensor drift', device: 'ahu1', points: ['return_air_temp', 'mixed_air_temp'] },
    { name: 'current transformer fault', device: 'meter1', points: ['current', 'active_power'] },
  ];
  const count = options.equipmentFaults ?? 6;
  for (let f = 0; f < count; f++) {
    const fault = faults[f % faults.length]!;
    const gw = pick(prng, gateways.filter((g) => g.devices.some((d) => d.id === fault.device)));
    const at = start + jitter(22 * HOUR) + HOUR;
    const id = `equipment-${f + 1}`;
    causes.push({ id, kind: 'equipment', description: `${fault.name} on ${gw.gateway}/${fault.device}` });
    fault.points.forEach((point, k) => alarm(at + k * jitter(8 * MIN), gw, fault.device, point, id));
  }
  // An outside-air sensor drifting on another site while the heat wave is on: equipment, not weather.
  const elsewhere = gateways.filter((g) => g.site !== hot);
  const drifting = pick(prng, elsewhere);
  causes.push({ id: 'oat-drift', kind: 'equipment', description: `outside-air sensor drifting on ${drifting.gateway} (another site than the heat wave)` });
  alarm(heatAt + jitter(spreadMs), drifting, 'ahu1', 'outdoor_air_temp', 'oat-drift');

  // Background noise: false alarms, each its own cause.
  const noise = Math.round((options.noisePerGatewayDay ?? 1) * gateways.length);
  for (let k = 0; k < noise; k++) {
    const gw = pick(prng, gateways);
    const device = pick(prng, gw.devices);
    const point = pick(prng, device.points);
    const id = `noise-${k + 1}`;
    causes.push({ id, kind: 'noise', description: `false alarm on ${gw.gateway}/${device.id}/${point.name}` });
    alarm(start + jitter(24 * HOUR), gw, device.id, point.name, id);
  }

  // Drawn last, so the alarms above stay what they were for a seed. The heat wave reaches further
  // points of the site's AHUs: mixed air minutes after outside air, return air through each
  // building's thermal mass 40 min to 3 h later (its own lag per building), each as late as the
  // building's outside-air alarm was.
  const hotGateways = [...new Set(alarms.filter((a) => a.cause === 'heat-wave').map((a) => a.gateway))];
  for (const gw of gateways) {
    if (!hotGateways.includes(gw.gateway)) continue;
    const late = heatAt + (lateBy.get(gw.gateway) ?? 0);
    const lag = 40 * MIN + jitter(140 * MIN);
    if (prng.next() < 0.7) alarm(late + 5 * MIN + jitter(25 * MIN), gw, 'ahu1', 'mixed_air_temp', 'heat-wave');
    if (prng.next() < 0.6) alarm(late + lag, gw, 'ahu1', 'return_air_temp', 'heat-wave');
  }
  // And while it lasts, one of those AHUs fails on its own: the discharge-air sensor (held at its
  // set point, the weather does not move it) misreads, once or twice.
  const failing = pick(prng, gateways.filter((g) => hotGateways.includes(g.gateway)));
  const failAt = heatAt + 30 * MIN + jitter(150 * MIN);
  causes.push({ id: 'hot-site-equipment', kind: 'equipment', description: `discharge-air sensor failing on ${failing.gateway} (on the heat wave's site, while it lasts)` });
  alarm(failAt, failing, 'ahu1', 'supply_air_temp', 'hot-site-equipment');
  if (prng.next() < 0.5) alarm(failAt + jitter(8 * MIN), failing, 'ahu1', 'supply_air_temp', 'hot-site-equipment');

  alarms.sort((a, b) => a.ts - b.ts || a.id.localeCompare(b.id));
  return { seed, start, gateways, causes, alarms, release: { version: BAD_VERSION, at: releaseAt, gateways: reached.map((g) => g.gateway) } };
}
