/**
 * Loads a gateway config and the device profiles it names, validates both (generic schema first,
 * then each driver manifest's connection/address schemas and semantic checks, then what devices
 * claim together: serial ports, bus addresses, GPIO lines) and resolves them
 * into the DeviceSpecs the runtime starts drivers from. Every problem names file, line, column and
 * field path; nothing is started from a config with problems.
 */
import { accessSync, constants, existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { SwarmgateError } from '../../shared/kit/errors.js';
import type { DeviceSpec, PointSpec, PointValueType } from '../drivers/driver.js';
import { sparkplugConfigProblems } from '../federation/schema.js';
import type { DriverRegistry } from '../drivers/registry.js';
import { normalizeTags, tagProblems } from './haystack.js';
import { GatewayConfigSchema, ProfileSchema, type DeviceConfig, type GatewayConfig, type Profile } from './schema.js';
import { SourceFile, fileErrorReason, formatProblem, pointerSegments, readConfigFile, unreadableReason, validateAt, type ConfigProblem } from '../../shared/kit/config-file.js';
import { folderWriteProblem } from '../../shared/kit/writable-folder.js';
import { closest, didYouMean } from '../../shared/kit/suggest.js';
import { claimConflicts, type LocatedClaim, type Place } from './claims.js';
import { serviceStateDirectory } from '../../shared/kit/state-dir.js';
import { accountName } from '../../shared/kit/id-name.js';

export interface LoadedConfig {
  readonly file: string;
  readonly config: GatewayConfig;
  /** Absolute data folder of this gateway. */
  readonly dataDir: string;
  /** Enabled devices, points resolved from their profiles and overrides. */
  readonly devices: readonly DeviceSpec[];
  readonly profiles: ReadonlyMap<string, Profile>;
}

export interface CheckResult {
  readonly loaded?: LoadedConfig;
  readonly problems: readonly ConfigProblem[];
  /** When there are problems: what later checks (references to devices and points) can still use. */
  readonly partial?: PartialConfig;
}

/** The parts of a config with problems that still resolve, so one check run reports every problem. */
export interface PartialConfig {
  /** The config document as parsed (it may fail the schema). */
  readonly raw: Readonly<Record<string, unknown>>;
  /** Enabled devices whose profile resolved, with their points (connection or addresses may have problems). */
  readonly devices: readonly DeviceSpec[];
  /** Enabled devices whose points are unknown (unknown protocol, profile missing or broken): references to them are not checked. */
  readonly unresolved: ReadonlySet<string>;
}

interface ParsedProfile {
  readonly source: SourceFile;
  /** The document as parsed, also when it fails the schema (its addresses are still checked). */
  readonly raw: unknown;
  readonly profile?: Profile;
  readonly problems: ConfigProblem[];
}

function resolveFrom(file: string, path: string): string {
  return isAbsolute(path) ? path : resolve(dirname(file), path);
}

class ConfigChecker {
  private readonly problems: ConfigProblem[] = [];
  private readonly profiles = new Map<string, ParsedProfile | undefined>();
  private readonly addressChecked = new Set<ParsedProfile>();

  constructor(
    private readonly file: string,
    private readonly registry: DriverRegistry,
  ) {}

  run(): CheckResult {
    let parsed: ReturnType<typeof SourceFile.read>;
    try {
      parsed = SourceFile.read(this.file);
    } catch (err) {
      const reason = unreadableReason(err);
      if (reason === undefined) throw err;
      return { problems: [{ file: this.file, line: 1, column: 1, path: '', message: reason }] };
    }
    this.problems.push(...parsed.problems);
    const source = parsed.source;
    if (!source) return { problems: this.problems };
    const raw = source.value();
    // A device profile given where a gateway config belongs (discover writes both kinds of file).
    if (isRecord(raw) && typeof raw.profile === 'string' && 'points' in raw && !('gateway' in raw)) {
      return { problems: [source.problem([], `this is a device profile ("${raw.profile}"), not a gateway config: a device in gateway.yaml uses it (profile: ${this.file}); check that config`)] };
    }
    // A hub config (hub.yaml: broker, store, api, agents) given to the gateway's check.
    if (isRecord(raw) && !('gateway' in raw) && !('devices' in raw) && ('broker' in raw || 'store' in raw) && Object.keys(raw).some((k) => ['api', 'agents', 'review', 'commands', 'store'].includes(k))) {
      return { problems: [source.problem([], 'this is a hub config (broker, store, api sections), not a gateway config: the hub checks it when it starts (swarmgate hub --config FILE); edge check takes gateway configs')] };
    }
    const schemaProblems = validateAt(source, GatewayConfigSchema, raw);
    this.problems.push(...schemaProblems);
    if (schemaProblems.length > 0 && !isRecord(raw)) return { problems: this.problems };
    const config = raw as GatewayConfig;
    const devices = Array.isArray(config.devices) ? config.devices : [];
    const specs: DeviceSpec[] = [];
    const profilesByDevice = new Map<string, Profile>();
    const ids = new Set<string>();
    const unresolved = new Set<string>();
    const claims: LocatedClaim[] = [];
    devices.forEach((device, index) => {
      if (!isRecord(device) || typeof device.id !== 'string') return;
      if (ids.has(device.id)) {
        // Checked no further: references to the id are checked against the first device of that id.
        this.problems.push(source.problem(['devices', index, 'id'], `duplicate device id "${device.id}": a device above has it`));
        return;
      }
      ids.add(device.id);
      const resolved = this.device(source, config, device, index);
      if (device.enabled === false) return;
      if (resolved) {
        specs.push(resolved.spec);
        profilesByDevice.set(device.id, resolved.profile);
        claims.push(...resolved.claims);
      } else {
        unresolved.add(device.id);
      }
    });
    // Ports, bus addresses and GPIO lines shared between devices (and GPIO lines between points).
    this.problems.push(...claimConflicts(claims));
    // The hub's broker binds a gateway's client id to its identity (its gateway id, and
    // <id>-spb for the Sparkplug node) and refuses any other at connect.
    const clientId: unknown = isRecord(config.federation) && isRecord(config.federation.mqtt) ? config.federation.mqtt.clientId : undefined;
    const gatewayId: unknown = isRecord(config.gateway) ? config.gateway.id : undefined;
    if (typeof clientId === 'string' && typeof gatewayId === 'string' && clientId !== gatewayId) {
      this.problems.push(source.problem(['federation', 'mqtt', 'clientId'], `must be the gateway id "${gatewayId}" (the hub refuses any other client id for this gateway); remove it to use the default`));
    }
    for (const problem of sparkplugConfigProblems(config)) this.problems.push(source.problem(problem.path, problem.message));
    const passwordFile: unknown = isRecord(config.federation) && isRecord(config.federation.mqtt) ? config.federation.mqtt.passwordFile : undefined;
    if (typeof passwordFile === 'string') {
      const problem = secretFileProblem(resolveFrom(this.file, passwordFile));
      if (problem) this.problems.push(source.problem(['federation', 'mqtt', 'passwordFile'], problem));
    }
    // The TLS files are read when the gateway starts: one that is missing or holds no PEM would
    // stop every start (and a config installed from the hub could then never be replaced).
    const tls: unknown = isRecord(config.federation) && isRecord(config.federation.mqtt) ? config.federation.mqtt.tls : undefined;
    if (isRecord(tls)) {
      for (const field of ['ca', 'cert', 'key'] as const) {
        const path: unknown = tls[field];
        if (typeof path !== 'string') continue;
        const problem = pemFileProblem(resolveFrom(this.file, path), field);
        if (problem) this.problems.push(source.problem(['federation', 'mqtt', 'tls', field], problem));
      }
    }
    // The data folder is made (mkdir -p) and written when the gateway starts; checked without making it.
    const dataDirField: unknown = config.dataDir;
    if (typeof dataDirField === 'string') {
      const problem = dataDirProblem(resolveFrom(this.file, dataDirField));
      if (problem) this.problems.push(source.problem(['dataDir'], problem));
    }
    // Updates come from the hub: an update section without federation could never be used.
    if (isRecord(config.update) && config.federation === undefined) this.problems.push(source.problem(['update'], 'needs a federation section: releases come from the hub over its MQTT link and API'));
    if (this.problems.length > 0) return { problems: this.problems, ...(isRecord(raw) ? { partial: { raw, devices: specs.filter((d) => !unresolved.has(d.id)), unresolved } } : {}) };
    const withDefaults = withPathsResolved(this.file, Value.Default(GatewayConfigSchema, structuredClone(config)) as GatewayConfig);
    // From a shell (no $STATE_DIRECTORY) on an installed gateway's config: the service's data, as
    // `swarmgate edge dead-letters` finds it, not a second data folder next to the config.
    const dataDir = withDefaults.dataDir !== undefined ? resolveFrom(this.file, withDefaults.dataDir) : defaultDataDir(this.file, withDefaults.gateway.id, process.env, existsSync, GATEWAY_STATE_DIRECTORY);
    return { loaded: { file: this.file, config: withDefaults, dataDir, devices: specs, profiles: profilesByDevice }, problems: [] };
  }

  private profile(path: string, referencedFrom: () => ConfigProblem): ParsedProfile | undefined {
    if (this.profiles.has(path)) return this.profiles.get(path);
    let parsed: ParsedProfile | undefined;
    try {
      const read = SourceFile.read(path);
      if (read.source) {
        const value = read.source.value();
        const problems = validateAt(read.source, ProfileSchema, value);
        parsed = { source: read.source, raw: value, profile: problems.length === 0 ? (value as Profile) : undefined, problems };
        const names = new Set<string>();
        (isRecord(value) && Array.isArray(value.points) ? value.points : []).forEach((point: unknown, i: number) => {
          if (isRecord(point) && typeof point.name === 'string') {
            if (names.has(point.name)) parsed?.problems.push(read.source!.problem(['points', i, 'name'], `duplicate point name "${point.name}"`));
            names.add(point.name);
          }
          if (isRecord(point) && point.scale === 0) {
            parsed?.problems.push(read.source!.problem(['points', i, 'scale'], `"${String(point.name)}": scale 0 makes every reading equal the offset and a write divide by zero; give the factor from raw to engineering units (negative inverts)`));
          }
          // Limits that allow no value: every write to the point would be refused at run time.
          if (isRecord(point) && isRecord(point.limits) && typeof point.limits.min === 'number' && typeof point.limits.max === 'number' && point.limits.min > point.limits.max) {
            parsed?.problems.push(read.source!.problem(['points', i, 'limits'], `"${String(point.name)}": min ${point.limits.min} is above max ${point.limits.max}: no value could be written`));
          }
          if (isRecord(point) && Array.isArray(point.tags) && point.tags.every((t) => typeof t === 'string')) {
            parsed?.problems.push(...tagListProblems(read.source!, ['points', i, 'tags'], String(point.name), point.tags as string[], point));
          }
        });
      } else {
        this.problems.push(...read.problems);
      }
    } catch (err) {
      const reason = unreadableReason(err);
      if (reason === undefined) throw err;
      const at = referencedFrom();
      this.problems.push({ ...at, message: reason === 'no such file' ? `profile file not found: ${path}${nearbyFile(path)}` : `${path}: ${reason}` });
    }
    if (parsed) this.problems.push(...parsed.problems);
    this.profiles.set(path, parsed);
    return parsed;
  }

  /** A profile that failed its schema still gets its addresses checked, so one run shows every problem. */
  private checkRawAddresses(parsed: ParsedProfile, schema: TSchema): void {
    if (this.addressChecked.has(parsed)) return;
    this.addressChecked.add(parsed);
    const points = isRecord(parsed.raw) && Array.isArray(parsed.raw.points) ? (parsed.raw.points as unknown[]) : [];
    points.forEach((point, i) => {
      if (isRecord(point) && isRecord(point.address)) {
        this.problems.push(...validateAt(parsed.source, schema, Value.Default(schema, structuredClone(point.address)), ['points', i, 'address']));
      }
    });
  }

  private device(source: SourceFile, config: GatewayConfig, device: DeviceConfig, index: number): { spec: DeviceSpec; profile: Profile; claims: LocatedClaim[] } | undefined {
    const at = (...path: (string | number)[]): (string | number)[] => ['devices', index, ...path];
    if (typeof device.protocol !== 'string' || typeof device.profile !== 'string') return undefined;
    if (!this.registry.has(device.protocol)) {
      this.problems.push(source.problem(at('protocol'), `unknown protocol "${device.protocol}", expected one of ${this.registry.protocols().join(', ')}`));
      // The profile is still read, so its own problems show in this run too.
      this.profile(resolveFrom(this.file, device.profile), () => source.problem(at('profile'), ''));
      return undefined;
    }
    const manifest = this.registry.get(device.protocol);
    // Manifests declare defaults on required fields: fill them in first, then validate.
    const connection = Value.Default(manifest.connectionSchema, structuredClone(device.connection ?? {}));
    const connectionProblems = validateAt(source, manifest.connectionSchema, connection, at('connection'));
    this.problems.push(...connectionProblems);
    const profilePath = resolveFrom(this.file, device.profile);
    const parsed = this.profile(profilePath, () => source.problem(at('profile'), ''));
    const profile = parsed?.profile;
    if (parsed && !profile) {
      this.checkRawAddresses(parsed, manifest.addressSchema);
      return undefined;
    }
    if (!parsed || !profile) return undefined;
    if (profile.protocol !== manifest.profileProtocol) {
      this.problems.push(source.problem(at('profile'), `profile "${profile.profile}" is for protocol family "${profile.protocol}", but ${device.protocol} devices need a "${manifest.profileProtocol}" profile`));
      return undefined;
    }
    const addresses = profile.points.map((p) => Value.Default(manifest.addressSchema, structuredClone(p.address)));
    const addressProblems = addresses.flatMap((address, i) => validateAt(parsed.source, manifest.addressSchema, address, ['points', i, 'address']));
    this.problems.push(...addressProblems);
    const overrides = device.points ?? {};
    for (const [name, o] of Object.entries(overrides)) {
      const p = profile.points.find((q) => q.name === name);
      if (!p) {
        this.problems.push(source.problem(at('points', name), `profile "${profile.profile}" has no point "${name}"${didYouMean(name, profile.points.map((q) => q.name))}`));
      } else if (o.tags) {
        this.problems.push(...tagListProblems(source, at('points', name, 'tags'), name, o.tags, { unit: o.unit ?? p.unit, writable: o.writable ?? p.writable }));
      }
    }
    // With connection or address problems the points are still known: later checks of references
    // to them still run, but the driver's own checks need valid settings.
    const settingsValid = connectionProblems.length === 0 && addressProblems.length === 0;

    const profileIndex: number[] = [];
    const points: PointSpec[] = [];
    const sparkplug = isRecord(config.federation) && config.federation.integration?.sparkplug?.enabled === true;
    profile.points.forEach((p, i) => {
      const o = overrides[p.name] ?? {};
      if (o.enabled === false) return;
      if (o.writable === true && p.writable !== true) {
        this.problems.push(source.problem(at('points', p.name, 'writable'), `profile "${profile.profile}" marks "${p.name}" read-only; a site may restrict writes, not add them`));
      }
      this.problems.push(...limitProblems(source, at('points', p.name, 'limits'), p.name, profile.profile, o.limits, p.limits));
      profileIndex.push(i);
      const scale = p.scale ?? 1;
      const offset = p.offset ?? 0;
      const rawType = manifest.valueType(addresses[i]);
      const valueType = scaledValueType(rawType, scale, offset);
      if (valueType === undefined && sparkplug) {
        this.problems.push(parsed.source.problem(['points', i, 'address'], `"${p.name}" declares no data type (address.dataType, e.g. Boolean, Int32, Double, String); Sparkplug births declare every metric's datatype before its first value is read`));
      }
      const tags = o.tags ?? p.tags;
      points.push({
        name: p.name,
        address: addresses[i],
        unit: o.unit ?? p.unit,
        writable: o.writable ?? p.writable ?? false,
        scale,
        offset,
        limits: narrowed(p.limits, o.limits),
        deadband: o.deadband ?? p.deadband ?? config.polling?.defaultDeadband ?? 0,
        pollIntervalMs: o.pollIntervalMs ?? device.pollIntervalMs ?? config.polling?.defaultIntervalMs ?? 1000,
        ...(valueType !== undefined ? { valueType } : {}),
        ...(rawType !== undefined && valueType !== undefined && rawType !== valueType ? { rawType } : {}),
        ...(rawType !== undefined && /int/.test(rawType) ? { resolution: Math.abs(scale) } : {}),
        ...(tags && tags.length > 0 ? { tags: normalizeTags(tags) } : {}),
      });
    });
    const spec: DeviceSpec = {
      id: device.id,
      protocol: device.protocol,
      connection: connectionPathsResolved(this.file, connection, manifest.pathFields ?? []),
      points,
    };
    // A path inside the device entry: its points are in the profile (before disabled points were left out), the rest in the config.
    const locate = (path: string): Place => {
      const segments = pointerSegments(path);
      if (segments[0] === 'points' && typeof segments[1] === 'number') {
        return parsed.source.problem(['points', profileIndex[segments[1]] ?? 0, ...segments.slice(2)], '');
      }
      return source.problem(at(...segments), '');
    };
    for (const problem of settingsValid ? manifest.validate(spec) : []) this.problems.push({ ...locate(problem.path), message: problem.message });
    const claims = settingsValid && manifest.claims ? manifest.claims(spec).map((claim) => ({ device: device.id, claim, locate })) : [];
    return { spec, profile, claims };
  }
}

/** The vocabulary's problems with one point's tags, at the tag (or the list) in the file, naming the point. */
function tagListProblems(source: SourceFile, path: (string | number)[], point: string, tags: readonly string[], context: { unit?: unknown; writable?: unknown }): ConfigProblem[] {
  const unit = typeof context.unit === 'string' ? context.unit : undefined;
  const writable = context.writable === true;
  return tagProblems(tags, { ...(unit !== undefined ? { unit } : {}), writable }).map((p) => source.problem(p.index === undefined ? path : [...path, p.index], `point "${point}": ${p.message}`));
}

/** Scale and offset turn any number into a fraction in general: a scaled numeric point is a double. */
function scaledValueType(raw: PointValueType | undefined, scale: number, offset: number): PointValueType | undefined {
  if (raw === undefined || raw === 'boolean' || raw === 'string') return raw;
  return scale === 1 && offset === 0 ? raw : 'double';
}

/**
 * The config with every file path in it absolute, resolved against the config file's folder (as
 * profiles and dataDir are): the MQTT password file and TLS files, the updater's install root,
 * release key and CA. The gateway then reads the same files from any working directory (a
 * systemd unit runs it in /var/lib/swarmgate, an operator checks it from anywhere).
 */
export function withPathsResolved(file: string, config: GatewayConfig): GatewayConfig {
  const at = (path: string | undefined): string | undefined => (path === undefined ? undefined : resolveFrom(file, path));
  const out = { ...config };
  const mqtt = config.federation?.mqtt;
  if (config.federation && mqtt) {
    const tls = mqtt.tls;
    out.federation = {
      ...config.federation,
      mqtt: {
        ...mqtt,
        ...(mqtt.passwordFile !== undefined ? { passwordFile: at(mqtt.passwordFile) } : {}),
        ...(tls ? { tls: { ...tls, ...(tls.ca !== undefined ? { ca: at(tls.ca) } : {}), ...(tls.cert !== undefined ? { cert: at(tls.cert) } : {}), ...(tls.key !== undefined ? { key: at(tls.key) } : {}) } } : {}),
      },
    };
  }
  const update = config.update;
  if (update) {
    out.update = { ...update, installRoot: resolveFrom(file, update.installRoot), releaseKeyFile: resolveFrom(file, update.releaseKeyFile), ...(update.caFile !== undefined ? { caFile: resolveFrom(file, update.caFile) } : {}) };
  }
  return out;
}

/** A device connection with its path fields (DriverManifest.pathFields) resolved against the config file's folder. */
function connectionPathsResolved(file: string, connection: unknown, fields: readonly (readonly string[])[]): Record<string, unknown> {
  const out: Record<string, unknown> = isRecord(connection) ? { ...connection } : {};
  for (const keys of fields) {
    let parent = out;
    for (const key of keys.slice(0, -1)) {
      const next = parent[key];
      if (!isRecord(next)) break;
      parent = parent[key] = { ...next };
    }
    const last = keys[keys.length - 1];
    if (last !== undefined && typeof parent[last] === 'string') parent[last] = resolveFrom(file, parent[last] as string);
  }
  return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Validates a config and its profiles; returns every problem found. */
export function checkConfig(file: string, registry: DriverRegistry): CheckResult {
  return new ConfigChecker(resolve(file), registry).run();
}

/**
 * Loads a config for running; throws SWG_ERR_CONFIG_INVALID listing every problem, and
 * SWG_ERR_FILE_WRITE when root runs on the config of the gateway service (rootOnServiceConfig).
 */
export function loadConfig(file: string, registry: DriverRegistry): LoadedConfig {
  const refused = rootOnServiceConfig(file);
  if (refused) throw refused;
  const result = checkConfig(file, registry);
  if (!result.loaded) {
    const lines = result.problems.map(formatProblem);
    throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `${result.problems.length} problem(s) in ${file}:\n${lines.join('\n')}`, { details: { problems: lines }, hint: `fix them; \`swarmgate edge check ${file}\` lists every problem again` });
  }
  return result.loaded;
}

/** The user the shipped unit runs the gateway as (User=swarmgate); it owns /etc/swarmgate on an installed gateway. */
export const GATEWAY_SERVICE_USER = 'swarmgate';

/**
 * Root running the gateway on the config of the gateway service (its folder owned by the service
 * user, as the package, provision-gateway.sh and first boot leave /etc/swarmgate): the data folder,
 * outbox and identity files it made would belong to root, and the service, running as that user,
 * then fails with EACCES on them. The refusal to throw, or undefined.
 */
export function rootOnServiceConfig(
  configFile: string,
  uid: number | undefined = process.getuid?.(),
  ownerOf: (path: string) => number = (path) => statSync(path).uid,
  nameOf: (uid: number) => string | undefined = (id) => accountName('passwd', id),
): SwarmgateError | undefined {
  if (uid !== 0) return undefined;
  const dir = dirname(resolve(configFile));
  let owner: number;
  try {
    owner = ownerOf(dir);
  } catch {
    return undefined;
  }
  if (owner === 0 || nameOf(owner) !== GATEWAY_SERVICE_USER) return undefined;
  return new SwarmgateError(
    'SWG_ERR_FILE_WRITE',
    `refusing to run as root on ${configFile}: its folder ${dir} belongs to user ${GATEWAY_SERVICE_USER} (uid ${owner}), the gateway service's user; what this run wrote (the data folder, outbox, identity) would belong to root, and the service could no longer write it`,
    { hint: `start the service: systemctl enable --now swarmgate-edge (its log: journalctl -u swarmgate-edge -f); or run it as that user: sudo -u ${GATEWAY_SERVICE_USER} swarmgate edge --config ${configFile}` },
  );
}

/** The state directory the shipped unit gives the gateway service (StateDirectory=swarmgate). */
export const GATEWAY_STATE_DIRECTORY = '/var/lib/swarmgate';

/**
 * Where a gateway without `dataDir` keeps its state: the service's state directory when systemd
 * gives it one (`StateDirectory=` sets $STATE_DIRECTORY; /etc, where the config lives, is not the
 * place for it), else `data/<gateway id>` next to the config file — also under systemd when that
 * folder exists already (a gateway installed before this default keeps its unsent data and models).
 * `installed`: the state directory of the shipped unit, for a command run from a shell on the
 * service's config (no $STATE_DIRECTORY): it finds the service's data there when only that exists.
 */
export function defaultDataDir(configFile: string, gatewayId: string, env: NodeJS.ProcessEnv = process.env, exists: (path: string) => boolean = existsSync, installed?: string): string {
  const beside = resolveFrom(configFile, `data/${gatewayId}`);
  const state = serviceStateDirectory(env);
  // A gateway that already keeps its outbox and models beside its config goes on using them.
  if (state) return exists(beside) ? beside : state;
  return installed !== undefined && !exists(beside) && exists(installed) ? installed : beside;
}

type Limits = { readonly min?: number; readonly max?: number };

/** A site's limits within the profile's: the tighter bound of each side (a site may narrow limits, never widen them). */
function narrowed(profile: Limits | undefined, site: Limits | undefined): Limits | undefined {
  if (!site) return profile;
  if (!profile) return site;
  const pick = (a: number | undefined, b: number | undefined, f: (x: number, y: number) => number): number | undefined => (a === undefined ? b : b === undefined ? a : f(a, b));
  const min = pick(profile.min, site.min, Math.max);
  const max = pick(profile.max, site.max, Math.min);
  return { ...(min === undefined ? {} : { min }), ...(max === undefined ? {} : { max }) };
}

/** A site's limits that widen the profile's, whose min is above its max, or that leave no value within the profile's. */
function limitProblems(source: SourceFile, path: (string | number)[], point: string, profile: string, site: Limits | undefined, own: Limits | undefined): ConfigProblem[] {
  if (!site) return [];
  const out: ConfigProblem[] = [];
  if (site.min !== undefined && site.max !== undefined && site.min > site.max) out.push(source.problem(path, `"${point}": min ${site.min} is above max ${site.max}`));
  const range = `[${own?.min ?? '-inf'}, ${own?.max ?? '+inf'}]`;
  if (own?.min !== undefined && site.min !== undefined && site.min < own.min) out.push(source.problem([...path, 'min'], `"${point}": min ${site.min} is below the profile "${profile}"'s limits ${range}; a site may narrow limits, not widen them`));
  if (own?.max !== undefined && site.max !== undefined && site.max > own.max) out.push(source.problem([...path, 'max'], `"${point}": max ${site.max} is above the profile "${profile}"'s limits ${range}; a site may narrow limits, not widen them`));
  // Each side within the profile's, and yet nothing left between them: the site's min above the
  // profile's max, or its max below the profile's min (a profile whose own limits are empty is
  // reported in the profile).
  const ownEmpty = own?.min !== undefined && own.max !== undefined && own.min > own.max;
  const siteEmpty = site.min !== undefined && site.max !== undefined && site.min > site.max;
  if (!ownEmpty && !siteEmpty) {
    if (site.min !== undefined && own?.max !== undefined && site.min > own.max) out.push(source.problem([...path, 'min'], `"${point}": min ${site.min} is above the profile "${profile}"'s max (limits ${range}): no value could be written`));
    if (site.max !== undefined && own?.min !== undefined && site.max < own.min) out.push(source.problem([...path, 'max'], `"${point}": max ${site.max} is below the profile "${profile}"'s min (limits ${range}): no value could be written`));
  }
  return out;
}

/**
 * What is wrong with a file holding a secret (its path resolved against the config file's folder,
 * as the gateway reads it): missing, unreadable, not a file, or readable by other users.
 */
function secretFileProblem(path: string): string | undefined {
  try {
    const stats = statSync(path);
    if (!stats.isFile()) return `${path} is not a regular file`;
    accessSync(path, constants.R_OK);
    if ((stats.mode & 0o077) !== 0) return `${path} is readable by other users (mode 0${(stats.mode & 0o777).toString(8)}): chmod 600 ${path}`;
    return undefined;
  } catch (err) {
    return `cannot read ${path}: ${fileErrorReason(err)}`;
  }
}

/** PEM files larger than this are refused (a CA bundle of a few hundred certificates is well below). */
const PEM_LIMIT_BYTES = 1024 * 1024;

/**
 * What is wrong with a TLS file of federation.mqtt.tls (its path resolved against the config
 * file's folder): unreadable, not a regular file, too large, or holding no PEM block of its kind
 * (a certificate for ca and cert, a private key for key), as Node's TLS needs them.
 */
function pemFileProblem(path: string, field: 'ca' | 'cert' | 'key'): string | undefined {
  let text: string;
  try {
    text = readConfigFile(path, { limitBytes: PEM_LIMIT_BYTES, what: 'PEM files' });
  } catch (err) {
    const reason = unreadableReason(err);
    if (reason === undefined) throw err;
    return `cannot read ${path}: ${reason}`;
  }
  const certificate = field !== 'key';
  const marker = certificate ? /-----BEGIN (X509 |TRUSTED )?CERTIFICATE-----/ : /-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----/;
  if (marker.test(text)) return undefined;
  const kind = certificate ? 'certificate ("-----BEGIN CERTIFICATE-----")' : 'private key ("-----BEGIN PRIVATE KEY-----" or "-----BEGIN RSA/EC PRIVATE KEY-----")';
  return `${path} holds no PEM ${kind}; give the ${field === 'ca' ? 'CA bundle that signed the broker certificate' : field === 'cert' ? 'client certificate' : 'private key of the client certificate'} in PEM form (DER: openssl x509 -inform der -in FILE -out FILE.pem)`;
}

/**
 * Why the gateway could not make (mkdir -p) and write its data folder, without making it: the
 * folder itself when it exists, else its nearest existing parent, must be a folder this user may
 * write in. Undefined when it can.
 */
function dataDirProblem(dir: string): string | undefined {
  let nearest = dir;
  while (!existsSync(nearest) && dirname(nearest) !== nearest) nearest = dirname(nearest);
  let isFolder: boolean;
  try {
    isFolder = statSync(nearest).isDirectory();
  } catch (err) {
    return `cannot use ${dir}: ${nearest}: ${fileErrorReason(err)}`;
  }
  if (!isFolder) return nearest === dir ? `${dir} is not a folder` : `${dir} cannot be made: ${nearest} is not a folder`;
  const problem = folderWriteProblem(nearest);
  if (!problem) return undefined;
  return nearest === dir ? `${dir} ${problem.what} (${problem.errno})` : `${dir} cannot be made: ${nearest} ${problem.what} (${problem.errno})`;
}

/** `; did you mean "chiller.yaml" (same folder)?` for a misspelt profile file whose folder holds a close name. */
function nearbyFile(path: string): string {
  let names: string[];
  try {
    names = readdirSync(dirname(path)).filter((n) => /\.(ya?ml|json)$/i.test(n));
  } catch {
    return '';
  }
  const near = closest(basename(path), names);
  return near === undefined ? '' : `; did you mean "${near}" (same folder)?`;
}
