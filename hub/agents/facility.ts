/**
 * The facility model agents reason over: sites → zones → gateways with capabilities and points.
 * Points carry a role ("backup_compressor_relay", "zone_temp", ...) so agents find equipment by
 * what it does, never by device or point names, which stay configurable per site.
 */
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { SwarmgateError } from '../../shared/kit/errors.js';
import { TEMPERATURE_UNIT_NAMES, temperatureUnit, type TemperatureUnit } from './quantity.js';

const strict = { additionalProperties: false } as const;
const ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$';
const NAME_PATTERN = '^[a-z][a-z0-9_]{0,63}$';
const HHMM_PATTERN = '^([01][0-9]|2[0-3]):[0-5][0-9]$';
const Id = Type.String({ pattern: ID_PATTERN, description: 'identifier as on the wire' });
const PointName = Type.String({ pattern: NAME_PATTERN });
const Role = Type.String({ pattern: NAME_PATTERN, description: 'what the point does; see ROLES' });
const Hhmm = Type.String({ pattern: HHMM_PATTERN, description: 'local time HH:MM' });

/** What each pattern of the model allows, in words: for messages, instead of the regular expression. */
export const FACILITY_PATTERN_WORDS: ReadonlyMap<string, string> = new Map([
  [ID_PATTERN, 'an id: letters, digits, "_" and "-", starting with a letter or digit, at most 64 characters'],
  [NAME_PATTERN, 'a name: lower-case letters, digits and "_", starting with a letter, at most 64 characters'],
  [HHMM_PATTERN, 'a local time HH:MM with two-digit hours from 00:00 to 23:59, e.g. "07:00"'],
]);
const CompareOp = Type.Union((['eq', 'ne', 'gt', 'gte', 'lt', 'lte'] as const).map((o) => Type.Literal(o)));
const Scalar = Type.Union([Type.Number(), Type.Boolean(), Type.String({ maxLength: 1024 })]);

/** Roles the built-in specialists understand. Sites may add their own. */
export const ROLES = {
  zoneTemp: 'zone_temp',
  co2: 'co2',
  humidity: 'humidity',
  setpointHeat: 'setpoint_heat',
  setpointCool: 'setpoint_cool',
  heatingValve: 'heating_valve',
  coolingValve: 'cooling_valve',
  ventilation: 'ventilation',
  dehumidifier: 'dehumidifier',
  zonePower: 'power_kw',
  sitePower: 'site_power_kw',
  sheddableLoad: 'sheddable_load',
  lighting: 'lighting',
  coldRoomTemp: 'cold_room_temp',
  coldRoomSetpoint: 'cold_room_setpoint',
  compressorRunning: 'compressor_running',
  compressorStarts: 'compressor_starts',
  runtimeHours: 'runtime_hours',
  backupCompressorRelay: 'backup_compressor_relay',
} as const;

/**
 * Roles whose readings and written values are temperatures: the specialists reason in °C and
 * convert by the point's unit (degC, the default, degF or K); any other unit is refused at load.
 */
export const TEMPERATURE_ROLES: ReadonlySet<string> = new Set([ROLES.zoneTemp, ROLES.setpointHeat, ROLES.setpointCool, ROLES.coldRoomTemp, ROLES.coldRoomSetpoint]);

export const FacilityPointSchema = Type.Object(
  {
    device: Id,
    point: PointName,
    role: Role,
    unit: Type.Optional(
      Type.String({
        maxLength: 32,
        description: `engineering unit of the reading; a temperature role (${[...TEMPERATURE_ROLES].join(', ')}) takes ${TEMPERATURE_UNIT_NAMES.join(', ')} (none: degC) and the agents convert`,
      }),
    ),
    writable: Type.Optional(Type.Boolean({ default: false })),
    equipment: Type.Optional(Type.String({ maxLength: 128, description: 'name of the machine for work orders' })),
  },
  strict,
);

export const FacilityGatewaySchema = Type.Object(
  {
    id: Id,
    capabilities: Type.Array(Type.String({ maxLength: 64 }), { default: [], description: 'e.g. hvac, lighting, cold-room, sheddable-load' }),
    points: Type.Array(FacilityPointSchema, { default: [] }),
    baselineKw: Type.Optional(Type.Number({ minimum: 0, description: 'typical electrical load behind this gateway' })),
  },
  strict,
);

const BandSchema = Type.Object(
  {
    tempMin: Type.Number({ description: '°C, whatever the unit of the zone\'s points' }),
    tempMax: Type.Number({ description: '°C, whatever the unit of the zone\'s points' }),
    co2Max: Type.Optional(Type.Number({ minimum: 0 })),
    humidityMin: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
    humidityMax: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
  },
  strict,
);

export const ScheduleSchema = Type.Object(
  {
    occupied: Type.Array(
      Type.Object(
        { days: Type.Array(Type.Integer({ minimum: 0, maximum: 6 }), { description: '0 = Sunday' }), from: Hhmm, to: Hhmm },
        {
          ...strict,
          description:
            'from (inclusive) to (exclusive) on each of the days; from later than to wraps past midnight and belongs to the day it starts (days [1], 22:00-06:00: Monday 22:00 to Tuesday 06:00); from equal to to is refused',
        },
      ),
      { description: 'occupied periods in site-local time' },
    ),
  },
  strict,
);

export const ZoneSchema = Type.Object(
  {
    id: Id,
    name: Type.Optional(Type.String({ maxLength: 128 })),
    kind: Type.Union((['office', 'retail', 'warehouse', 'cold-room', 'plant', 'other'] as const).map((k) => Type.Literal(k))),
    gateways: Type.Array(FacilityGatewaySchema),
    schedule: Type.Optional(ScheduleSchema),
    comfort: Type.Optional(Type.Object({ occupied: BandSchema, unoccupied: BandSchema }, strict)),
    setback: Type.Optional(Type.Object({ heatC: Type.Number(), coolC: Type.Number() }, { ...strict, description: 'unoccupied setpoints, °C (written in the setpoint\'s unit)' })),
    coldChain: Type.Optional(
      Type.Object(
        {
          maxC: Type.Number({ default: -15, description: 'product is at risk above this temperature, °C (whatever the unit of the cold-room points)' }),
          maxMinutes: Type.Number({ minimum: 0, default: 10, description: 'how long above maxC before it is a breach' }),
        },
        strict,
      ),
    ),
  },
  strict,
);

export const InterlockSchema = Type.Object(
  {
    id: Id,
    description: Type.String({ maxLength: 500 }),
    gateway: Type.Optional(Id),
    device: Id,
    point: PointName,
    forbid: Type.Object({ op: CompareOp, value: Scalar }, { ...strict, description: 'writes matching this are refused' }),
    when: Type.Optional(
      Type.Object({ gateway: Type.Optional(Id), device: Id, point: PointName, op: CompareOp, value: Scalar }, { ...strict, description: 'only while this reading holds' }),
    ),
  },
  strict,
);

export const SiteSchema = Type.Object(
  {
    id: Id,
    name: Type.Optional(Type.String({ maxLength: 128 })),
    utcOffsetMin: Type.Integer({ minimum: -840, maximum: 840, default: 0, description: 'site-local time = UTC + this' }),
    peakLimitKw: Type.Optional(Type.Number({ minimum: 0, description: 'demand limit for peak shaving' })),
    serviceIntervalH: Type.Number({ minimum: 1, default: 2000, description: 'runtime hours between services' }),
    maxStartsPerHour: Type.Number({ minimum: 1, default: 6, description: 'more compressor starts than this is short-cycling' }),
    zones: Type.Array(ZoneSchema),
    interlocks: Type.Array(InterlockSchema, { default: [] }),
  },
  strict,
);

export const FacilityModelSchema = Type.Object({ v: Type.Literal(1), sites: Type.Array(SiteSchema) }, strict);

export type FacilityPoint = Static<typeof FacilityPointSchema>;
export type FacilityGateway = Static<typeof FacilityGatewaySchema>;
export type Zone = Static<typeof ZoneSchema>;
export type Site = Static<typeof SiteSchema>;
export type Interlock = Static<typeof InterlockSchema>;
export type FacilityModel = Static<typeof FacilityModelSchema>;
export type CompareOperator = Static<typeof CompareOp>;

/** A point with where it lives. `key` identifies it in snapshots: gateway/device/point. */
export interface BoundPoint {
  readonly site: string;
  readonly zone: string;
  readonly gateway: string;
  readonly device: string;
  readonly point: string;
  readonly role: string;
  readonly unit?: string;
  /** A point of a temperature role (TEMPERATURE_ROLES): the unit its readings and writes are in. */
  readonly temperature?: TemperatureUnit;
  readonly writable: boolean;
  readonly equipment?: string;
  readonly key: string;
}

export function pointKey(gateway: string, device: string, point: string): string {
  return `${gateway}/${device}/${point}`;
}

const checkModel = TypeCompiler.Compile(FacilityModelSchema);

/**
 * A problem of a model that passes the schema, at its field (path segments, as in the YAML file):
 * ids used twice (`firstAt`: where the id is used first), a schedule period of no length, a
 * temperature unit the agents cannot convert, a comfort band whose minimum is not below its maximum.
 */
export interface FacilityProblem {
  readonly path: readonly (string | number)[];
  readonly message: string;
  readonly firstAt?: readonly (string | number)[];
}

/** Every problem of a schema-valid model, in model order (empty: the model is sound). */
export function facilityProblems(model: FacilityModel): FacilityProblem[] {
  const problems: FacilityProblem[] = [];
  const first = { site: new Map<string, (string | number)[]>(), zone: new Map<string, (string | number)[]>(), gateway: new Map<string, (string | number)[]>(), point: new Map<string, (string | number)[]>() };
  const unique = (what: keyof typeof first, id: string, at: (string | number)[], label = `${what} id "${id}"`): void => {
    const seen = first[what].get(id);
    if (seen) problems.push({ path: at, message: `${label} appears twice in the facility model; ${what === 'point' ? 'list each point once' : 'ids must be unique'}`, firstAt: seen });
    else first[what].set(id, at);
  };
  model.sites.forEach((site, s) => {
    unique('site', site.id, ['sites', s, 'id']);
    site.zones.forEach((zone, z) => {
      const base = ['sites', s, 'zones', z];
      unique('zone', zone.id, [...base, 'id']);
      problems.push(...scheduleProblems(zone, base), ...comfortProblems(zone, base));
      zone.gateways.forEach((gateway, g) => {
        unique('gateway', gateway.id, [...base, 'gateways', g, 'id']);
        gateway.points.forEach((p, i) => {
          const at = [...base, 'gateways', g, 'points', i];
          const key = pointKey(gateway.id, p.device, p.point);
          unique('point', key, at, `point ${key}`);
          if (TEMPERATURE_ROLES.has(p.role) && temperatureUnit(p.unit) === undefined) {
            problems.push({ path: [...at, 'unit'], message: `point ${key} (role ${p.role}) has unit "${p.unit}", which the agents cannot convert to °C; a temperature point takes ${TEMPERATURE_UNIT_NAMES.join(', ')} (none: degC)` });
          }
        });
      });
    });
  });
  return problems;
}

/** "/sites/0/zones/1": a path as the JSON pointer messages without a file use. */
function pointer(path: readonly (string | number)[]): string {
  return path.map((p) => `/${p}`).join('');
}

/** An indexed, validated facility model: O(1) lookups by site, zone, gateway, point and role. */
export class FacilityIndex {
  readonly model: FacilityModel;
  private readonly sites = new Map<string, Site>();
  private readonly zones = new Map<string, { site: Site; zone: Zone }>();
  private readonly gateways = new Map<string, { site: Site; zone: Zone; gateway: FacilityGateway }>();
  private readonly points = new Map<string, BoundPoint>();
  private readonly byZoneRole = new Map<string, BoundPoint[]>();

  constructor(input: unknown) {
    const model = Value.Default(FacilityModelSchema, Value.Clone(input));
    if (!checkModel.Check(model)) {
      const problems = [...checkModel.Errors(model)].map((e) => `${e.path || '/'}: ${e.message}`);
      throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `facility model is invalid: ${problems.join('; ')}`, { details: { problems } });
    }
    // A model from a file has been checked with positions (runtime/facility-file.ts); these are for one built in code.
    const found = facilityProblems(model);
    if (found.length > 0) {
      const problems = found.map((p) => `${pointer(p.path)}: ${p.message}${p.firstAt ? ` (first at ${pointer(p.firstAt)})` : ''}`);
      throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', problems.join('; '), { details: { problems } });
    }
    this.model = model;
    for (const site of model.sites) {
      this.sites.set(site.id, site);
      for (const zone of site.zones) {
        this.zones.set(zone.id, { site, zone });
        for (const gateway of zone.gateways) {
          this.gateways.set(gateway.id, { site, zone, gateway });
          for (const p of gateway.points) this.addPoint(site, zone, gateway, p);
        }
      }
    }
  }

  private addPoint(site: Site, zone: Zone, gateway: FacilityGateway, p: FacilityPoint): void {
    const key = pointKey(gateway.id, p.device, p.point);
    // facilityProblems refused a temperature point whose unit is not one of these.
    const temperature = TEMPERATURE_ROLES.has(p.role) ? temperatureUnit(p.unit) : undefined;
    const bound: BoundPoint = {
      site: site.id,
      zone: zone.id,
      gateway: gateway.id,
      device: p.device,
      point: p.point,
      role: p.role,
      writable: p.writable ?? false,
      key,
      ...(p.unit === undefined ? {} : { unit: p.unit }),
      ...(temperature === undefined ? {} : { temperature }),
      ...(p.equipment === undefined ? {} : { equipment: p.equipment }),
    };
    this.points.set(key, bound);
    const zr = `${zone.id}\u0000${p.role}`;
    const list = this.byZoneRole.get(zr);
    if (list) list.push(bound);
    else this.byZoneRole.set(zr, [bound]);
  }

  site(id: string): Site | undefined {
    return this.sites.get(id);
  }

  siteIds(): string[] {
    return [...this.sites.keys()];
  }

  zone(id: string): { site: Site; zone: Zone } | undefined {
    return this.zones.get(id);
  }

  gateway(id: string): { site: Site; zone: Zone; gateway: FacilityGateway } | undefined {
    return this.gateways.get(id);
  }

  point(gateway: string, device: string, point: string): BoundPoint | undefined {
    return this.points.get(pointKey(gateway, device, point));
  }

  /** Points of a role in a zone, in model order. */
  role(zone: string, role: string): readonly BoundPoint[] {
    return this.byZoneRole.get(`${zone}\u0000${role}`) ?? [];
  }

  /** The first point of a role in a zone, or undefined. */
  first(zone: string, role: string): BoundPoint | undefined {
    return this.role(zone, role)[0];
  }

  /** Points of a role anywhere in a site. */
  siteRole(site: string, role: string): BoundPoint[] {
    const s = this.sites.get(site);
    if (!s) return [];
    return s.zones.flatMap((z) => [...this.role(z.id, role)]);
  }
}

/**
 * Is the zone occupied at `ts` (ms since epoch) by its schedule? No schedule: always occupied. A
 * period whose `from` is later than its `to` runs past midnight into the next day (night shifts).
 */
export function scheduledOccupied(site: Site, zone: Zone, ts: number): boolean {
  if (!zone.schedule) return true;
  const local = new Date(ts + site.utcOffsetMin * 60_000);
  const day = local.getUTCDay();
  const minutes = local.getUTCHours() * 60 + local.getUTCMinutes();
  return zone.schedule.occupied.some((p) => {
    const from = toMinutes(p.from);
    const to = toMinutes(p.to);
    if (from < to) return p.days.includes(day) && minutes >= from && minutes < to;
    // Past midnight: the evening of a listed day, or the morning after one.
    return (p.days.includes(day) && minutes >= from) || (p.days.includes((day + 6) % 7) && minutes < to);
  });
}

/** A period from a time to the same time: it could mean no time or a whole day, and guessing either is wrong. */
function scheduleProblems(zone: Zone, base: readonly (string | number)[]): FacilityProblem[] {
  return (zone.schedule?.occupied ?? []).flatMap((p, i) =>
    p.from !== p.to
      ? []
      : [
          {
            path: [...base, 'schedule', 'occupied', i],
            message: `zone "${zone.id}", occupied period ${i} runs from ${p.from} to ${p.to}, which is no time at all; give it a different end (a period ending earlier than it starts runs past midnight), or leave out the schedule of a zone occupied all day`,
          },
        ],
  );
}

/**
 * A comfort band whose minimum is not below its maximum: every reading is out of it, and the
 * comfort agent would propose a change on every evaluation.
 */
function comfortProblems(zone: Zone, base: readonly (string | number)[]): FacilityProblem[] {
  const problems: FacilityProblem[] = [];
  for (const name of ['occupied', 'unoccupied'] as const) {
    const band = zone.comfort?.[name];
    if (!band) continue;
    const inverted = (min: string, max: string, low: number, high: number, unit: string): void => {
      if (low < high) return;
      problems.push({
        path: [...base, 'comfort', name, min],
        message: `zone "${zone.id}", ${name} comfort band: ${min} ${low} is not below ${max} ${high}; every reading would be out of the band and the comfort agent would propose a change on every evaluation: give ${min} below ${max} (${unit})`,
      });
    };
    inverted('tempMin', 'tempMax', band.tempMin, band.tempMax, '°C');
    if (band.humidityMin !== undefined && band.humidityMax !== undefined) inverted('humidityMin', 'humidityMax', band.humidityMin, band.humidityMax, '% relative humidity');
  }
  return problems;
}

function toMinutes(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

/** Comparison used by interlocks; numbers compare numerically, everything else by equality only. */
export function compare(actual: number | boolean | string, op: CompareOperator, expected: number | boolean | string): boolean {
  if (op === 'eq') return actual === expected;
  if (op === 'ne') return actual !== expected;
  if (typeof actual !== 'number' || typeof expected !== 'number') return false;
  if (op === 'gt') return actual > expected;
  if (op === 'gte') return actual >= expected;
  if (op === 'lt') return actual < expected;
  return actual <= expected;
}

export const DEFAULT_COMFORT = {
  occupied: { tempMin: 20, tempMax: 24, co2Max: 1000, humidityMin: 30, humidityMax: 60 },
  unoccupied: { tempMin: 15, tempMax: 29 },
} as const;

export const DEFAULT_SETBACK = { heatC: 16, coolC: 28 } as const;
