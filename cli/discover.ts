/**
 * Commissioning: browse an OPC UA server or scan a Modbus host/bus with the driver's browse
 * capability, and write a draft device profile for a technician to edit (names, units, types).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { createLogger } from '../shared/log.js';
import { usageError } from './usage.js';
import { SwarmgateError } from '../shared/errors.js';
import { isBrowsable, type DeviceSpec, type DiscoveredPoint } from '../edge/drivers/driver.js';
import { builtinDrivers } from '../edge/drivers/builtin.js';
import { draftProfile as modbusDraftProfile, type ModbusDiscoveredPoint, type ProfileDraft } from '../edge/drivers/modbus/browse.js';
import { Value } from '@sinclair/typebox/value';
import { tmpdir } from 'node:os';

function parseRange(text: string | undefined, fallback: [number, number]): [number, number] {
  if (!text) return fallback;
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!m) throw usageError('edge', `--units must look like 1-10 or 5, got "${text}"`);
  const from = Number(m[1]);
  return [from, m[2] ? Number(m[2]) : from];
}

/** A draft profile: technicians rename points and fix types; addresses are what the device answered. */
export function draftProfile(name: string, family: string, points: readonly DiscoveredPoint[]): Record<string, unknown> {
  const used = new Set<string>();
  return {
    profile: name,
    protocol: family,
    description: `Draft written by swarmgate edge discover on ${new Date().toISOString()}; review names, units and types`,
    points: points.map((p, i) => {
      let pointName = p.name.toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^[^a-z]+/, '').slice(0, 60) || `point_${i}`;
      while (used.has(pointName)) pointName = `${pointName}_${i}`;
      used.add(pointName);
      return { name: pointName, ...(p.description ? { description: p.description } : {}), address: p.address, ...(p.writable ? { writable: true } : {}) };
    }),
  };
}

/** Modbus: one draft profile per responding unit, one point per readable register. */
function modbusProfiles(name: string, points: ModbusDiscoveredPoint[]): ProfileDraft[] {
  const units = [...new Set(points.map((p) => p.unitId).filter((u) => u !== undefined))];
  return units.map((unitId) => modbusDraftProfile(points, { profile: units.length > 1 ? `${name}-unit${unitId}` : name, unitId }));
}

export async function discover(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      protocol: { type: 'string' },
      endpoint: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      path: { type: 'string' },
      baud: { type: 'string' },
      units: { type: 'string' },
      depth: { type: 'string' },
      output: { type: 'string', short: 'o' },
      name: { type: 'string' },
    },
  });
  const protocol = values.protocol;
  if (!protocol) throw usageError('edge', '--protocol is required (opcua, modbus-tcp, modbus-rtu)');
  const manifest = builtinDrivers().get(protocol);
  const connection: Record<string, unknown> =
    protocol === 'opcua'
      ? { endpointUrl: values.endpoint }
      : protocol === 'modbus-tcp'
        ? { host: values.host, port: values.port ? Number(values.port) : 502 }
        : { path: values.path, baudRate: values.baud ? Number(values.baud) : 9600 };
  const withDefaults = Value.Default(manifest.connectionSchema, connection);
  const errors = [...Value.Errors(manifest.connectionSchema, withDefaults)];
  if (errors.length > 0) {
    throw usageError('edge', `connection options: ${errors.map((e) => `${e.path || '/'} ${e.message}`).join('; ')}`);
  }
  const log = createLogger('discover');
  const spec: DeviceSpec = { id: 'discover', protocol, connection: withDefaults, points: [] };
  const driver = manifest.create(spec, { log, dataDir: tmpdir() });
  if (!isBrowsable(driver)) throw new SwarmgateError('SWG_ERR_DRIVER_UNKNOWN', `${protocol} driver cannot browse`);
  const [fromUnit, toUnit] = parseRange(values.units, [1, 1]);
  try {
    await driver.initialize();
    process.stderr.write(`browsing ${protocol}…\n`);
    const points = await driver.browse({ log, unitIds: { from: fromUnit, to: toUnit }, maxDepth: values.depth ? Number(values.depth) : 6 });
    const name = values.name ?? `discovered-${protocol}`;
    const profiles = manifest.profileProtocol === 'modbus' ? modbusProfiles(name, points as ModbusDiscoveredPoint[]) : [draftProfile(name, manifest.profileProtocol, points)];
    const yaml = profiles.map((p) => stringify(p)).join('---\n');
    if (values.output) {
      writeFileSync(values.output, yaml);
      process.stderr.write(`wrote ${profiles.length} draft profile(s) from ${points.length} discovered points to ${values.output}\n`);
    } else {
      process.stdout.write(yaml);
    }
    return 0;
  } finally {
    await driver.stop(true);
  }
}
