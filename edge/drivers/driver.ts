/**
 * The one interface every protocol driver implements (modelled on EdgeX's ProtocolDriver):
 * initialize, read, write, validate (in the manifest), stop. Optional abilities are separate small
 * interfaces with type guards, never no-op methods.
 *
 * A reading is data: a dead register or device yields readings with quality 'bad' and a cause,
 * never a rejected read of the whole batch.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import type { Logger } from 'pino';
import type { PointValue, Quality, WriteValue } from '../../shared/wire/messages.js';

export type { PointValue, Quality, WriteValue };

/**
 * What kind of value a point yields, declared by its profile (Modbus type, OPC UA dataType, GPIO
 * lines are boolean) and after scaling: integrations that need a datatype up front (Sparkplug
 * births) take it from here, never from the first value read.
 */
export type PointValueType = 'boolean' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'float' | 'double' | 'string';

/** The JavaScript kind of value a point of a declared type yields. */
export type ValueKind = 'boolean' | 'number' | 'string';

export function kindOfType(type: PointValueType): ValueKind {
  return type === 'boolean' || type === 'string' ? type : 'number';
}

/** `a boolean point`, `a number point (uint16)`, `a number point (uint16, scaled: a double in engineering units)`, `a string point`. */
export function describePointType(type: PointValueType, rawType?: PointValueType): string {
  const kind = kindOfType(type);
  if (kind !== 'number') return `a ${kind} point`;
  return rawType !== undefined && rawType !== type ? `a number point (${rawType}, scaled: a ${type} in engineering units)` : `a number point (${type})`;
}

/** The boolean a write means in any of its accepted spellings (true, 1, "1", "true", "on"; and off), or undefined. */
export function booleanOf(value: unknown): boolean | undefined {
  if (value === true || value === 1 || value === '1' || value === 'true' || value === 'on') return true;
  if (value === false || value === 0 || value === '0' || value === 'false' || value === 'off') return false;
  return undefined;
}

/**
 * A reading as the gateway takes it: a number that is not finite (a failed probe many controllers
 * report as NaN, an infinity from a bad scale) is no measurement, so it is bad, whatever the
 * protocol said of its quality. Every consumer (rules, interlocks, advisor, detectors, the hub)
 * then sees a bad reading, not a good NaN that compares false with every threshold.
 */
export function plausibleReading(r: Reading): Reading {
  if (typeof r.value !== 'number' || Number.isFinite(r.value) || r.quality === 'bad') return r;
  return { device: r.device, point: r.point, value: null, quality: 'bad', ts: r.ts, cause: `SWG_ERR_VALUE_NOT_FINITE: the device reported ${String(r.value)} (a failed sensor)` };
}

export interface Reading {
  /** Device id from the gateway config. */
  readonly device: string;
  /** Point name from the device profile. */
  readonly point: string;
  /** null only when quality is 'bad' and no value could be read. */
  readonly value: PointValue | null;
  readonly quality: Quality;
  /** Milliseconds since the epoch when the value was sampled (source time when the protocol has one). */
  readonly ts: number;
  /** Why quality is not good: a short, human-readable reason with the error code when there is one. */
  readonly cause?: string;
}

/** A point as the driver sees it: the profile entry merged with the gateway config overrides. */
export interface PointSpec<Address = unknown> {
  readonly name: string;
  /** Protocol-specific location, already validated against the driver manifest's address schema. */
  readonly address: Address;
  readonly unit?: string;
  readonly writable: boolean;
  readonly scale: number;
  readonly offset: number;
  readonly limits?: { readonly min?: number; readonly max?: number };
  readonly deadband: number;
  readonly pollIntervalMs: number;
  /** Declared by the profile; undefined when the profile does not say (an OPC UA point without dataType). */
  readonly valueType?: PointValueType;
  /** The type at the device address when scale or offset make valueType differ (a scaled uint16 register reads as a double): for messages. */
  readonly rawType?: PointValueType;
  /** Integer registers: the step between two values it can hold, in engineering units (|scale|). */
  readonly resolution?: number;
  /** Project Haystack markers from the profile or the site's override ("point" implied), in reading order. */
  readonly tags?: readonly string[];
}

export interface DeviceSpec<Connection = unknown, Address = unknown> {
  readonly id: string;
  readonly protocol: string;
  /** Connection settings, already validated against the manifest's connection schema. */
  readonly connection: Connection;
  readonly points: readonly PointSpec<Address>[];
}

export interface DriverContext {
  /** Already bound to the device (`device`: its id): a driver adds only what it knows more (a pino child repeats a key it is given again). */
  readonly log: Logger;
  /** Folder the driver may write to (PKI folders, caches). */
  readonly dataDir: string;
}

export interface Driver {
  /** Connects. Rejects with a SwarmgateError when the device is unreachable; the runtime retries. */
  initialize(): Promise<void>;
  /** Reads the given points. Never rejects for device or point errors: returns bad readings instead. */
  read(points: readonly PointSpec[]): Promise<Reading[]>;
  /** Writes one point (value already checked against limits by the caller). Rejects with a SwarmgateError. */
  write(point: PointSpec, value: PointValue): Promise<void>;
  /** Releases every socket, timer and handle. force: do not wait for requests in flight. */
  stop(force?: boolean): Promise<void>;
}

export interface Subscription {
  close(): Promise<void>;
}

/** Drivers whose protocol pushes changes (OPC UA monitored items, GPIO edge interrupts). */
export interface SubscribableDriver extends Driver {
  subscribe(points: readonly PointSpec[], onReading: (reading: Reading) => void): Promise<Subscription>;
}

export interface DiscoveredPoint {
  readonly name: string;
  readonly address: unknown;
  readonly dataType?: string;
  readonly writable?: boolean;
  readonly description?: string;
  /** Engineering unit the device declares (profile convention: degC, %, kW ...). */
  readonly unit?: string;
}

export interface BrowseOptions {
  readonly log?: Logger;
  /** Protocol-specific limits (max depth, unit id range, register range). */
  readonly [option: string]: unknown;
}

/** Drivers that can discover what a device offers (commissioning). */
export interface BrowsableDriver extends Driver {
  browse(options: BrowseOptions): Promise<DiscoveredPoint[]>;
}

/**
 * Drivers whose protocol has command priorities (BACnet): relinquish releases the gateway's command
 * at the point's priority, so that the device's lower priorities (its schedule, its default) take over.
 */
export interface RelinquishableDriver extends Driver {
  relinquish(point: PointSpec): Promise<void>;
}

export function isRelinquishable(driver: Driver): driver is RelinquishableDriver {
  return typeof (driver as Partial<RelinquishableDriver>).relinquish === 'function';
}

export function isSubscribable(driver: Driver): driver is SubscribableDriver {
  return typeof (driver as Partial<SubscribableDriver>).subscribe === 'function';
}

export function isBrowsable(driver: Driver): driver is BrowsableDriver {
  return typeof (driver as Partial<BrowsableDriver>).browse === 'function';
}

/** A problem found by a manifest's semantic validation, beyond what the schema checks. */
export interface ValidationProblem {
  /** JSON-pointer-like path inside the device entry, e.g. `/points/3/address/register`. */
  readonly path: string;
  readonly message: string;
}

/**
 * Something a device holds that other devices of the gateway may hold too: a serial port whose
 * line settings every device on it must share, a unit address on that bus, a GPIO line. The config
 * check compares the claims of every enabled device and reports a conflict naming both places.
 */
export interface DeviceClaim {
  /** What is claimed: equal strings name the same thing, e.g. `serial /dev/ttyUSB0 unit 3`. */
  readonly resource: string;
  /** The same in words for messages, e.g. `unit id 3 on serial port /dev/ttyUSB0`. */
  readonly label: string;
  /** exclusive: one holder only; shared: every holder must have the same `settings`. */
  readonly kind: 'exclusive' | 'shared';
  /** Shared claims: connection fields and their values that every holder must agree on. */
  readonly settings?: Readonly<Record<string, string | number>>;
  /** What must hold, for messages: `every device on one bus needs its own unitId`. */
  readonly rule: string;
  /** Where the device claims it, a path inside the device entry: `/connection/unitId`, `/points/2/address/pin`. */
  readonly path: string;
  /** Claims of a point (in a profile several devices may use): where in the device's connection the claim is reported when another device holds it. */
  readonly connectionPath?: string;
  /** The point that claims it, for messages. */
  readonly point?: string;
  /**
   * Claims with different resources that still clash when either is a wildcard: a UDP socket bound
   * to 0.0.0.0 takes its port on every address, so no other device may bind that port on any
   * address. Claims of one `key` (e.g. `udp port 47808`) conflict when their resources differ and
   * one of them has `wildcard`.
   */
  readonly overlap?: { readonly key: string; readonly wildcard: boolean };
}

/**
 * What a protocol declares about itself (OIBus-style manifest): its settings schemas, capabilities,
 * semantic validation, and the factory. Registered once in edge/drivers/registry.ts.
 */
export interface DriverManifest<C extends TSchema = TSchema, A extends TSchema = TSchema> {
  readonly protocol: string;
  /** Profile family this driver reads (`protocol:` in devices/profiles/*.yaml), e.g. 'modbus' for modbus-tcp and modbus-rtu. */
  readonly profileProtocol: string;
  readonly description: string;
  readonly connectionSchema: C;
  readonly addressSchema: A;
  readonly capabilities: { readonly subscribe: boolean; readonly browse: boolean };
  /**
   * Connection fields holding a file or folder path (each a path of keys into the connection): a
   * relative one is resolved against the config file's folder when the config is loaded, like
   * profiles and dataDir, so the gateway reads the same file from any working directory.
   */
  readonly pathFields?: readonly (readonly string[])[];
  /**
   * Readings carry the device's own timestamp (OPC UA sourceTimestamp), which a new subscription
   * repeats for an unchanged value: the gateway keeps the last reported timestamp of these points
   * across restarts and does not report such a sample again (edge/runtime/reported-times.ts).
   */
  readonly sourceTimestamps?: boolean;
  /** Checks that need more than a schema (overlapping registers, string lengths ...). */
  validate(device: DeviceSpec<Static<C>, Static<A>>): ValidationProblem[];
  /** What the device holds that no other device may hold, or hold differently (checked across devices). */
  claims?(device: DeviceSpec<Static<C>, Static<A>>): DeviceClaim[];
  /** The raw value type at this address (before scale and offset); undefined when the address does not say. */
  valueType(address: Static<A>): PointValueType | undefined;
  create(device: DeviceSpec<Static<C>, Static<A>>, context: DriverContext): Driver;
}
