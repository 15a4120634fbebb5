/**
 * Schemas of the gateway's outside inputs: the gateway config file and device profiles. Types derive
 * from them; the JSON Schema shipped for editors (deploy/schema/) is generated from them too.
 * Protocol-specific parts (connection, point address) are owned by each driver's manifest and are
 * validated in a second pass, so the messages stay precise.
 */
import { Type, type Static } from '@sinclair/typebox';
import { FederationConfigSchema } from '../federation/schema.js';
import { RulesConfigSchema } from '../decisions/rules/schema.js';
import { AnalyticsConfigSchema } from '../analytics/schema.js';
import { AdvisorConfigSchema } from '../decisions/advisor/schema.js';
import { HealthConfigSchema } from '../health/schema.js';
import { UpdateConfigSchema } from '../update/schema.js';

const strict = { additionalProperties: false } as const;

/** The gateway's Prometheus endpoint when `metrics.port` is not given (the OpenTelemetry exporter's usual port). */
export const DEFAULT_METRICS_PORT = 9464;

export const IdSchema = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$',
  description: 'Identifier: letters, digits, "_" and "-", at most 64 characters, no spaces or dots',
});

export const PointNameSchema = Type.String({
  pattern: '^[a-z][a-z0-9_]{0,63}$',
  description: 'Point name: lower-case letters, digits and "_", starting with a letter',
});

export const LimitsSchema = Type.Object(
  {
    min: Type.Optional(Type.Number({ description: 'Lowest value a write may set' })),
    max: Type.Optional(Type.Number({ description: 'Highest value a write may set' })),
  },
  { ...strict, description: 'Write limits in engineering units' },
);

/** Project Haystack markers of a point (edge/config/haystack.ts checks them against the vocabulary). */
export const TagsSchema = Type.Array(Type.String({ minLength: 1, maxLength: 32 }), {
  maxItems: 16,
  description: 'Project Haystack markers, e.g. [discharge, air, temp, sensor]: exactly one of sensor, cmd, sp; "point" is implied',
});

export const ProfilePointSchema = Type.Object(
  {
    name: PointNameSchema,
    description: Type.Optional(Type.String()),
    unit: Type.Optional(Type.String({ description: 'Engineering unit, e.g. degC, %, kWh' })),
    address: Type.Object({}, { additionalProperties: true, description: 'Protocol-specific location (see the driver manifest)' }),
    scale: Type.Optional(Type.Number({ description: 'engineering = raw * scale + offset', default: 1 })),
    offset: Type.Optional(Type.Number({ default: 0 })),
    writable: Type.Optional(Type.Boolean({ default: false })),
    limits: Type.Optional(LimitsSchema),
    deadband: Type.Optional(Type.Number({ minimum: 0, description: 'Report-by-exception threshold in engineering units' })),
    tags: Type.Optional(TagsSchema),
  },
  strict,
);

export const ProfileSchema = Type.Object(
  {
    profile: Type.String({ minLength: 1, description: 'Profile name' }),
    protocol: Type.String({ minLength: 1, description: 'Profile family: modbus, opcua, gpio' }),
    manufacturer: Type.Optional(Type.String()),
    model: Type.Optional(Type.String()),
    description: Type.Optional(Type.String()),
    points: Type.Array(ProfilePointSchema, { minItems: 1 }),
  },
  { ...strict, description: 'A device profile: the points one kind of equipment offers' },
);

export const PointOverrideSchema = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean({ description: 'false: do not read this point' })),
    pollIntervalMs: Type.Optional(Type.Integer({ minimum: 10 })),
    deadband: Type.Optional(Type.Number({ minimum: 0 })),
    writable: Type.Optional(Type.Boolean()),
    limits: Type.Optional(LimitsSchema),
    unit: Type.Optional(Type.String()),
    tags: Type.Optional({ ...TagsSchema, description: 'Replaces the profile\'s tags of this point (the whole list)' }),
  },
  { ...strict, description: 'Site-specific settings for one profile point' },
);

export const DeviceSchema = Type.Object(
  {
    id: IdSchema,
    protocol: Type.String({ minLength: 1, description: 'Driver: modbus-tcp, modbus-rtu, opcua, gpio' }),
    profile: Type.String({ minLength: 1, description: 'Path of the device profile YAML, relative to this file' }),
    description: Type.Optional(Type.String()),
    enabled: Type.Optional(Type.Boolean({ default: true })),
    connection: Type.Object({}, { additionalProperties: true, description: 'Protocol-specific connection settings' }),
    pollIntervalMs: Type.Optional(Type.Integer({ minimum: 10, description: 'Default poll interval of this device' })),
    points: Type.Optional(Type.Record(PointNameSchema, PointOverrideSchema, { description: 'Per-point overrides' })),
  },
  strict,
);

const LogLevelSchema = Type.Union([
  Type.Literal('fatal'),
  Type.Literal('error'),
  Type.Literal('warn'),
  Type.Literal('info'),
  Type.Literal('debug'),
  Type.Literal('trace'),
  Type.Literal('silent'),
]);

export const GatewayConfigSchema = Type.Object(
  {
    gateway: Type.Object(
      {
        id: IdSchema,
        site: IdSchema,
        name: Type.Optional(Type.String()),
      },
      strict,
    ),
    dataDir: Type.Optional(Type.String({ description: 'Where the gateway keeps state; default: the service state directory under systemd ($STATE_DIRECTORY, /var/lib/swarmgate), else ./data/<gateway id> next to this file' })),
    log: Type.Optional(Type.Object({ level: Type.Optional(LogLevelSchema) }, strict)),
    metrics: Type.Optional(
      Type.Object(
        {
          enabled: Type.Optional(Type.Boolean({ default: true })),
          host: Type.Optional(Type.String({ default: '127.0.0.1' })),
          port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, default: DEFAULT_METRICS_PORT })),
        },
        { ...strict, description: 'Prometheus /metrics endpoint' },
      ),
    ),
    polling: Type.Optional(
      Type.Object(
        {
          defaultIntervalMs: Type.Optional(Type.Integer({ minimum: 10, default: 1000 })),
          heartbeatMs: Type.Optional(Type.Integer({ minimum: 1000, default: 60_000, description: 'Report a value at least this often even without change' })),
          defaultDeadband: Type.Optional(Type.Number({ minimum: 0, default: 0 })),
        },
        strict,
      ),
    ),
    devices: Type.Array(DeviceSchema, { minItems: 1 }),
    federation: Type.Optional(FederationConfigSchema),
    rules: Type.Optional(RulesConfigSchema),
    analytics: Type.Optional(AnalyticsConfigSchema),
    advisor: Type.Optional(AdvisorConfigSchema),
    health: Type.Optional(HealthConfigSchema),
    update: Type.Optional(UpdateConfigSchema),
  },
  { ...strict, description: 'Swarmgate edge gateway configuration' },
);

export type Profile = Static<typeof ProfileSchema>;
export type ProfilePoint = Static<typeof ProfilePointSchema>;
export type DeviceConfig = Static<typeof DeviceSchema>;
export type PointOverride = Static<typeof PointOverrideSchema>;
export type GatewayConfig = Static<typeof GatewayConfigSchema>;
