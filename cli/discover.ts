/**
 * Commissioning: browse an OPC UA server, scan a Modbus host/bus, or Who-Is a BACnet/IP network
 * with the driver's browse capability, and write a draft device profile for a technician to edit
 * (names, units, types).
 */
import { accessSync, chmodSync, constants, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { homedir } from 'node:os';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { createLogger } from '../shared/kit/log.js';
import { numberOption, usageError } from './usage.js';
import { SwarmgateError } from '../shared/kit/errors.js';
import { isBrowsable, type DeviceSpec, type DiscoveredPoint } from '../edge/drivers/driver.js';
import { builtinDrivers } from '../edge/drivers/builtin.js';
import { draftProfile as modbusDraftProfile, type ModbusDiscoveredPoint, type ProfileDraft } from '../edge/drivers/modbus/browse.js';
import { Value } from '@sinclair/typebox/value';
import { proposeTags } from '../edge/config/haystack.js';
import { LazyBacnetDriver, discoveryDrafts, type DiscoveredDevice, type TagProposer } from '../edge/drivers/bacnet/index.js';
import { tmpdir } from 'node:os';
import { fileErrorReason } from '../shared/kit/config-file.js';

export const DISCOVER_HELP = `usage:
  swarmgate edge discover --protocol opcua --endpoint opc.tcp://host:4840 [--security-mode None|Sign|SignAndEncrypt]
                          [--security-policy None|Basic256Sha256|Aes128_Sha256_RsaOaep|Aes256_Sha256_RsaPss]
                          [--data-dir DIR] [--depth N] [--output profile.yaml] [--name NAME]
      the client certificate and key are kept in DIR/pki/opcua: the gateway's dataDir (its certificate, which the
      server may trust already), else \$XDG_CONFIG_HOME/swarmgate/discover (~/.config/swarmgate/discover, mode 0700)
  swarmgate edge discover --protocol modbus-tcp --host HOST [--port 502] [--units 1-10] [--output profile.yaml] [--name NAME]
  swarmgate edge discover --protocol modbus-rtu --path /dev/ttyUSB0 [--baud 9600] [--units 1-10] [--output profile.yaml] [--name NAME]
  swarmgate edge discover --protocol bacnet-ip [--bind HOST:PORT] [--target HOST:PORT | --broadcast ADDR:PORT] [--instances LOW-HIGH]
                          [--bbmd HOST:PORT] [--wait MS] [--output draft.yaml] [--name NAME]
  --output FILE: its folder must exist and be writable (checked before the scan); without it the draft goes to stdout
`;

/** The folder of --output must exist and be writable: checked before a scan that may take minutes. */
export function checkOutputFolder(output: string | undefined): void {
  if (output === undefined) return;
  const folder = dirname(resolve(output));
  let problem: string | undefined;
  try {
    if (!statSync(folder).isDirectory()) problem = `${folder} is not a folder`;
    else accessSync(folder, constants.W_OK);
  } catch (err) {
    problem = `${folder}: ${fileErrorReason(err)}`;
  }
  if (problem === undefined) {
    try {
      if (statSync(output).isDirectory()) problem = `${output} is a folder; give a file name (e.g. ${join(output, 'draft.yaml')})`;
    } catch {
      // Not there yet: written after the scan.
    }
  }
  if (problem !== undefined) throw usageError('edge discover', `--output ${output}: cannot write the draft there (${problem}); nothing was scanned`);
}

/**
 * The folder whose pki/opcua holds discover's OPC UA client certificate and key: the gateway's
 * data folder when given (--data-dir), else a private per-user folder (never the shared tmp).
 */
export function discoverDataDir(given: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (given !== undefined) {
    mkdirSync(given, { recursive: true, mode: 0o700 });
    return resolve(given);
  }
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : join(homedir(), '.config');
  const dir = join(base, 'swarmgate', 'discover');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // A folder made earlier (or by hand) with a looser mode: the private key lives below it.
  if ((statSync(dir).mode & 0o077) !== 0) chmodSync(dir, 0o700);
  return dir;
}

function parseRange(text: string | undefined, fallback: [number, number]): [number, number] {
  if (!text) return fallback;
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!m) throw usageError('edge discover', `--units must look like 1-10 or 5, got "${text}"`);
  const from = Number(m[1]);
  const to = m[2] ? Number(m[2]) : from;
  if (to < from || to > 255) throw usageError('edge discover', `--units ${text}: need FROM <= TO <= 255 (Modbus unit ids)`);
  return [from, to];
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
      return { name: pointName, ...(p.description ? { description: p.description } : {}), address: p.address, ...(p.unit ? { unit: p.unit } : {}), ...(p.writable ? { writable: true } : {}) };
    }),
  };
}

/** "unit 1 also answers as units 2, 3 …": a device that ignores the unit id, drafted once. */
function echoLines(points: readonly ModbusDiscoveredPoint[]): string[] {
  const seen = new Map<number, readonly number[]>();
  for (const p of points) if (p.alsoAnswersAs && !seen.has(p.unitId)) seen.set(p.unitId, p.alsoAnswersAs);
  return [...seen].map(([unit, echoes]) => `unit ${unit} also answers as unit${echoes.length > 1 ? 's' : ''} ${echoes.join(', ')} with the same registers and values (the device ignores the unit id): drafted once, as unit ${unit}`);
}

/** Modbus: one draft profile per responding unit, one point per readable register. */
function modbusProfiles(name: string, points: ModbusDiscoveredPoint[]): { unitId: number; profile: ProfileDraft }[] {
  const units = [...new Set(points.map((p) => p.unitId))];
  return units.map((unitId) => ({ unitId, profile: modbusDraftProfile(points, { profile: units.length > 1 ? `${name}-unit${unitId}` : name, unitId }) }));
}

interface DraftFile {
  readonly path: string;
  readonly content: Record<string, unknown>;
  /** "ahu-draft-unit1.yaml: 35 points" */
  readonly summary: string;
}

/**
 * Several Modbus units: a profile file per unit (a config or profile is one YAML document) next to
 * `output`, and at `output` a gateway config draft with one device per unit using them, so
 * `swarmgate edge check output` validates the whole scan.
 */
function modbusUnitFiles(output: string, protocol: string, connection: Record<string, unknown>, drafts: readonly { unitId: number; profile: ProfileDraft }[]): DraftFile[] {
  const stem = basename(output).replace(/\.ya?ml$/i, '');
  const profiles = drafts.map(({ unitId, profile }) => {
    const file = `${stem}-unit${unitId}.yaml`;
    return { unitId, file, draft: { path: join(dirname(output), file), content: { ...profile }, summary: `${file}: ${profile.points.length} points` } };
  });
  const config = {
    gateway: { id: 'gw-draft', site: 'site-draft', name: `Draft written by swarmgate edge discover on ${new Date().toISOString()}; set id and site, review the devices` },
    devices: profiles.map(({ unitId, file }) => ({ id: `unit${unitId}`, protocol, profile: file, connection: { ...connection, unitId } })),
  };
  return [...profiles.map((p) => p.draft), { path: output, content: config, summary: `${basename(output)}: gateway config draft with ${drafts.length} devices` }];
}

function bacnetRange(text: string | undefined): { low?: number; high?: number } {
  if (!text) return {};
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!m) throw usageError('edge discover', `--instances must look like 1000-1999 or 1234, got "${text}"`);
  const low = Number(m[1]);
  const high = m[2] ? Number(m[2]) : low;
  if (high < low || high > 4194303) throw usageError('edge discover', `--instances ${text}: need LOW <= HIGH <= 4194303`);
  return { low, high };
}

function deviceLine(d: DiscoveredDevice): string {
  const who = [d.vendorName ?? (d.vendorId === undefined ? undefined : `vendor ${d.vendorId}`), d.modelName].filter(Boolean).join(' ');
  return `  ${d.instance}  ${d.address}  ${who}${d.name ? `  "${d.name}"` : ''}  ${d.problem ? `(${d.problem})` : `${d.points.length} points`}`;
}

/** Project Haystack markers for a discovered BACnet object, from its name, description and units. */
const haystackForBacnet: TagProposer = (p) =>
  proposeTags({ name: p.name, ...(p.description ? { description: p.description } : {}), ...(p.unit ? { unit: p.unit } : {}), writable: p.writable, binary: p.objectType.startsWith('binary') });

export interface BacnetDiscoverOptions {
  /** Semantic tags for each drafted point (e.g. Project Haystack markers); absent: drafts carry no tags. */
  readonly proposeTags?: TagProposer;
}

/**
 * BACnet/IP: Who-Is (range, one target, a broadcast address or through a BBMD), describe each
 * device, and write a profile per device plus a gateway config draft that uses them.
 */
export async function discoverBacnet(args: string[], options: BacnetDiscoverOptions = {}): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      protocol: { type: 'string' },
      bind: { type: 'string' },
      target: { type: 'string' },
      broadcast: { type: 'string' },
      instances: { type: 'string' },
      bbmd: { type: 'string' },
      wait: { type: 'string' },
      output: { type: 'string', short: 'o' },
      name: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(DISCOVER_HELP);
    return 0;
  }
  checkOutputFolder(values.output);
  const waitMs = values.wait === undefined ? undefined : numberOption('edge discover', '--wait', values.wait, { min: 1, max: 600_000 });
  if (values.target && values.broadcast) throw usageError('edge discover', '--target and --broadcast exclude each other: Who-Is goes to one address or to a broadcast address');
  const bind = values.bind ?? '0.0.0.0:47808';
  const connection: Record<string, unknown> = {
    bind,
    deviceInstance: 0,
    ...(values.bbmd ? { bbmd: { address: values.bbmd } } : {}),
  };
  const manifest = builtinDrivers().get('bacnet-ip');
  const errors = [...Value.Errors(manifest.connectionSchema, connection)];
  if (errors.length > 0) throw usageError('edge discover', `options: ${errors.map((e) => `${e.path || '/'} ${e.message}`).join('; ')}`);
  const log = createLogger('discover');
  const driver = manifest.create({ id: 'discover', protocol: 'bacnet-ip', connection, points: [] }, { log, dataDir: tmpdir() });
  if (!(driver instanceof LazyBacnetDriver)) throw new SwarmgateError('SWG_ERR_INTERNAL', 'the bacnet-ip manifest did not create a BacnetDriver');
  try {
    await driver.initialize();
    process.stderr.write(`sending Who-Is${values.target ? ` to ${values.target}` : values.bbmd ? ` through the BBMD ${values.bbmd}` : values.broadcast ? ` to ${values.broadcast}` : ''}…\n`);
    const devices = await driver.discover({
      log,
      ...bacnetRange(values.instances),
      ...(values.target ? { target: values.target } : {}),
      ...(values.broadcast ? { broadcast: values.broadcast } : {}),
      ...(values.bbmd ? { bbmd: values.bbmd } : {}),
      ...(waitMs === undefined ? {} : { waitMs }),
    });
    if (devices.length === 0) {
      process.stderr.write('no device answered Who-Is: no draft written (check --target/--broadcast, --instances, and --bind on the controllers\' subnet or --bbmd)\n');
      return 1;
    }
    process.stderr.write(`${devices.length} device(s) answered:\n${devices.map(deviceLine).join('\n')}\n`);
    const stem = values.output ? basename(values.output).replace(/\.ya?ml$/i, '') : (values.name ?? 'bacnet');
    const drafts = discoveryDrafts(devices, { stem: values.name ?? stem, bind, ...(options.proposeTags ? { proposeTags: options.proposeTags } : {}) });
    if (drafts.profiles.length === 0) {
      process.stderr.write('no device offered point objects: no draft written\n');
      return 1;
    }
    if (!values.output) {
      process.stdout.write(stringify(drafts.profiles[0]?.content));
      return 0;
    }
    for (const p of drafts.profiles) writeFileSync(join(dirname(values.output), p.file), stringify(p.content));
    writeFileSync(values.output, stringify(drafts.config));
    process.stderr.write(
      `wrote draft:\n${drafts.profiles.map((p) => `  ${p.file}: ${p.points} points`).join('\n')}\n  ${basename(values.output)}: gateway config draft with ${drafts.profiles.length} devices\ncheck it with: swarmgate edge check ${values.output}\n`,
    );
    return 0;
  } finally {
    await driver.stop(true);
  }
}

export async function discover(args: string[]): Promise<number> {
  const first = parseArgs({ args, options: { protocol: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: false });
  if (first.values.help === true) {
    process.stdout.write(DISCOVER_HELP);
    return 0;
  }
  if (first.values.protocol === 'bacnet-ip') return discoverBacnet(args, { proposeTags: haystackForBacnet });
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
      'security-mode': { type: 'string' },
      'security-policy': { type: 'string' },
      'data-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const protocol = values.protocol;
  if (!protocol) throw usageError('edge discover', '--protocol is required (opcua, modbus-tcp, modbus-rtu, bacnet-ip)');
  if (protocol !== 'opcua' && (values['security-mode'] || values['security-policy'] || values['data-dir'])) throw usageError('edge discover', '--security-mode, --security-policy and --data-dir are OPC UA options');
  checkOutputFolder(values.output);
  const port = values.port === undefined ? 502 : numberOption('edge discover', '--port', values.port, { min: 1, max: 65_535 });
  const baudRate = values.baud === undefined ? 9600 : numberOption('edge discover', '--baud', values.baud, { min: 300, max: 4_000_000 });
  const maxDepth = values.depth === undefined ? 6 : numberOption('edge discover', '--depth', values.depth, { min: 1, max: 100 });
  const manifest = builtinDrivers().get(protocol);
  const connection: Record<string, unknown> =
    protocol === 'opcua'
      ? { endpointUrl: values.endpoint, ...(values['security-mode'] ? { securityMode: values['security-mode'] } : {}), ...(values['security-policy'] ? { securityPolicy: values['security-policy'] } : {}) }
      : protocol === 'modbus-tcp'
        ? { host: values.host, port }
        : { path: values.path, baudRate };
  const withDefaults = Value.Default(manifest.connectionSchema, structuredClone(connection));
  const errors = [...Value.Errors(manifest.connectionSchema, withDefaults)];
  if (errors.length > 0) {
    throw usageError('edge discover', `connection options: ${errors.map((e) => `${e.path || '/'} ${e.message}`).join('; ')}`);
  }
  const log = createLogger('discover');
  const spec: DeviceSpec = { id: 'discover', protocol, connection: withDefaults, points: [] };
  // OPC UA keeps its client certificate and private key under <dataDir>/pki/opcua: a private folder, not the shared tmp.
  const driver = manifest.create(spec, { log, dataDir: protocol === 'opcua' ? discoverDataDir(values['data-dir']) : tmpdir() });
  if (!isBrowsable(driver)) throw new SwarmgateError('SWG_ERR_DRIVER_UNKNOWN', `${protocol} driver cannot browse`);
  const [fromUnit, toUnit] = parseRange(values.units, [1, 1]);
  if (manifest.profileProtocol === 'modbus' && toUnit > fromUnit && !values.output) {
    // Several units need several files (a config or profile is one YAML document): refused before the scan, not after.
    throw usageError(
      'edge discover',
      `--units ${values.units ?? ''} may find several units: give --output FILE.yaml (one profile per unit is written next to it, and FILE.yaml becomes a gateway config draft using them)`,
    );
  }
  try {
    await driver.initialize();
    process.stderr.write(`browsing ${protocol}…\n`);
    const points = await driver.browse({ log, unitIds: { from: fromUnit, to: toUnit }, maxDepth });
    const name = values.name ?? `discovered-${protocol}`;
    const modbus = manifest.profileProtocol === 'modbus' ? modbusProfiles(name, points as ModbusDiscoveredPoint[]) : undefined;
    const profiles: Record<string, unknown>[] = modbus ? modbus.map((d) => ({ ...d.profile })) : [draftProfile(name, manifest.profileProtocol, points)];
    if (profiles.length === 0) {
      process.stderr.write(`nothing answered: no draft written (check ${protocol === 'modbus-rtu' ? 'path, baud rate' : 'host, port'} and --units)\n`);
      return 1;
    }
    const pointCount = (p: Record<string, unknown>): number => (Array.isArray(p.points) ? p.points.length : 0);
    if (!values.output) {
      process.stdout.write(stringify(profiles[0]));
      return 0;
    }
    const files: DraftFile[] =
      modbus && modbus.length > 1
        ? modbusUnitFiles(values.output, protocol, connection, modbus)
        : [{ path: values.output, content: profiles[0]!, summary: `${basename(values.output)}: ${pointCount(profiles[0]!)} points` }];
    for (const file of files) writeFileSync(file.path, stringify(file.content));
    const unitIds = modbus ? modbus.map((d) => d.unitId).sort((a, b) => a - b) : [];
    const scanned = modbus ? ` from ${points.length} readable register ranges on ${unitIds.length === 1 ? `1 unit (unit id ${unitIds[0]})` : `${unitIds.length} units (unit ids ${unitIds.join(', ')})`}` : '';
    process.stderr.write(`wrote draft${scanned}:\n${files.map((f) => `  ${f.summary}`).join('\n')}\n`);
    for (const line of echoLines(points as ModbusDiscoveredPoint[])) process.stderr.write(`${line}\n`);
    if (files.length > 1) process.stderr.write(`check it with: swarmgate edge check ${values.output}\n`);
    return 0;
  } finally {
    await driver.stop(true);
  }
}
