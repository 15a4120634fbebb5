/**
 * Config file for `swarmgate sim --config FILE`: ports, speed, seed, optional RTU bus. Without a
 * file the simulator uses the defaults below (fixed, well-known ports for manual use; tests use
 * startFacility with port 0 instead).
 */
import { SourceFile, formatProblem, readConfigFile, unreadableReason, validateAt } from '../shared/kit/config-file.js';
import { dirname, resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { SwarmgateError, errorMessage, isSwarmgateError } from '../shared/kit/errors.js';
import { createLogger } from '../shared/kit/log.js';
import { startFacility, type Facility, type FacilityOptions } from './facility.js';

const log = createLogger('sim');
const strict = { additionalProperties: false } as const;
/** Where `swarmgate sim` listens unless its config says otherwise (the demo uses its own, cli/demo.ts). */
export const SIM_DEFAULT_PORTS = { modbusTcp: 5020, opcua: 4841, gpio: 5017, control: 5080 } as const;

const Port = (def: number, what: string) => Type.Integer({ minimum: 0, maximum: 65535, default: def, description: `${what} port (0 = ephemeral)` });

export const SimConfigSchema = Type.Object(
  {
    host: Type.String({ default: '127.0.0.1', description: 'Address every simulated device listens on' }),
    speed: Type.Number({ minimum: 0, maximum: 100_000, default: 1, description: 'Simulated seconds per real second (0 freezes the physics)' }),
    seed: Type.Integer({ default: 1, description: 'Seed for noise and schedules; same seed, same building' }),
    startTime: Type.Optional(Type.String({ description: 'Sim clock start as an ISO date-time; default: now (speed 0: 2024-11-25T00:00:00Z)' })),
    energyWordOrder: Type.Union([Type.Literal('big'), Type.Literal('little')], { default: 'little', description: 'Word order of the meters\' uint32 energy counters' }),
    dataDir: Type.Optional(Type.String({ description: 'Folder for simulator state (OPC UA PKI); relative to this file; default: a temp folder' })),
    ports: Type.Object(
      {
        modbusTcp: Port(SIM_DEFAULT_PORTS.modbusTcp, 'AHU Modbus TCP'),
        opcua: Port(SIM_DEFAULT_PORTS.opcua, 'cold room OPC UA'),
        gpio: Port(SIM_DEFAULT_PORTS.gpio, 'GPIO sim chip'),
        control: Port(SIM_DEFAULT_PORTS.control, 'control HTTP API'),
      },
      { ...strict, default: {}, description: 'Listening ports' },
    ),
    bacnet: Type.Optional(
      Type.Object(
        {
          port: Port(47820, 'first BACnet/IP device UDP (the next devices use the following ports)'),
          broadcastAddress: Type.Optional(Type.String({ description: 'Address broadcasts are received on and I-Am is sent to; default 127.255.255.255 on a 127.x host' })),
          broadcastPort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'Destination port of I-Am broadcasts; default each device\'s own port' })),
        },
        { ...strict, description: 'BACnet/IP controllers VAV-1 (1001), VAV-2 (1002), CHW-PLANT (2001) on consecutive UDP ports; omit for none' },
      ),
    ),
    rtu: Type.Optional(
      Type.Object(
        {
          path: Type.String({ minLength: 1, description: 'Serial device the meter bus listens on (e.g. one end of a socat pty pair)' }),
          baudRate: Type.Integer({ minimum: 300, default: 9600 }),
          unitIds: Type.Array(Type.Integer({ minimum: 1, maximum: 247 }), { minItems: 1, default: [1, 2], description: 'Meter unit ids: main, refrigeration, hvac, ...' }),
        },
        { ...strict, description: 'Modbus RTU meter bus; omit for none' },
      ),
    ),
  },
  { ...strict, description: 'Simulated facility (swarmgate sim)' },
);
export type SimConfig = Static<typeof SimConfigSchema>;

/** Reads and validates a config file (or just the defaults without a path). */
export function loadSimConfig(path?: string): SimConfig {
  let raw: unknown = {};
  let source: SourceFile | undefined;
  if (path !== undefined) {
    let text: string;
    try {
      text = readConfigFile(path);
    } catch (err) {
      if (isSwarmgateError(err, 'SWG_ERR_CONFIG_FILE_REFUSED')) throw err;
      throw new SwarmgateError('SWG_ERR_CONFIG_NOT_FOUND', `simulator config ${path} cannot be read: ${unreadableReason(err) ?? errorMessage(err)}`, { cause: err });
    }
    const parsed = SourceFile.parse(path, text);
    if (!parsed.source) throw new SwarmgateError('SWG_ERR_CONFIG_YAML', `simulator config ${parsed.problems.map(formatProblem).join('; ')}`);
    source = parsed.source;
    raw = source.value() ?? {};
  }
  const withDefaults = Value.Default(SimConfigSchema, Value.Clone(raw));
  const problems = source
    ? validateAt(source, SimConfigSchema, withDefaults).map(formatProblem)
    : [...Value.Errors(SimConfigSchema, withDefaults)].map((e) => `${e.path || '/'}: ${e.message}`);
  if (problems.length > 0) {
    throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `simulator config ${path ?? '(defaults)'}:\n${problems.join('\n')}`, { details: { problems } });
  }
  const config = withDefaults as SimConfig;
  if (path !== undefined && config.dataDir !== undefined) config.dataDir = resolve(dirname(path), config.dataDir);
  if (config.startTime !== undefined && Number.isNaN(Date.parse(config.startTime))) {
    throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `simulator config: startTime "${config.startTime}" is not an ISO date-time`, { details: { field: 'startTime' } });
  }
  return config;
}

export function facilityOptionsFrom(config: SimConfig): FacilityOptions {
  return {
    host: config.host,
    speed: config.speed,
    seed: config.seed,
    startTime: config.startTime === undefined ? undefined : Date.parse(config.startTime),
    energyWordOrder: config.energyWordOrder,
    dataDir: config.dataDir,
    modbusTcpPort: config.ports.modbusTcp,
    opcuaPort: config.ports.opcua,
    gpioPort: config.ports.gpio,
    controlPort: config.ports.control,
    rtu: config.rtu,
    bacnet: config.bacnet,
  };
}

/** Starts the simulated facility from a config file (or defaults) and logs where to reach it. */
export async function runSimulator(configPath?: string, overrides: { readonly speed?: number; readonly bacnet?: boolean } = {}): Promise<Facility> {
  const loaded = loadSimConfig(configPath);
  const withSpeed = overrides.speed === undefined ? loaded : { ...loaded, speed: overrides.speed };
  // --bacnet turns the BACnet controllers on with the file's (or the default) ports.
  const config = overrides.bacnet && !withSpeed.bacnet ? { ...withSpeed, bacnet: Value.Default(SimConfigSchema.properties.bacnet, {}) as SimConfig['bacnet'] } : withSpeed;
  const facility = await startFacility(facilityOptionsFrom(config));
  const e = facility.endpoints;
  log.info(
    {
      modbusTcp: `${e.modbusTcp.host}:${e.modbusTcp.port}`,
      opcua: e.opcua.endpointUrl,
      gpio: `${e.gpio.host}:${e.gpio.port}`,
      control: e.control.url,
      rtu: e.rtu?.path,
      bacnet: e.bacnet,
      speed: config.speed,
      seed: config.seed,
    },
    'simulated facility ready',
  );
  return facility;
}
