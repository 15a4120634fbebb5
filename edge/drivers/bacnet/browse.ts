/**
 * Commissioning: Who-Is (an instance range; to one address, a broadcast address or through a BBMD),
 * then for each device that answers its identity and object list, and for each point-like object
 * its name, units, description and whether present-value is commandable (it has a priority-array).
 * Reads go through a DeviceLink per device, so discovery honours the same queue and limits.
 */
import { EngineeringUnits, ObjectType, PropertyIdentifier, type BACNetAppData, type BACNetObjectID } from '@bacnet-js/client';
import type { Logger } from 'pino';
import { isSwarmgateError } from '../../../shared/kit/errors.js';
import type { BrowseOptions, DiscoveredPoint } from '../driver.js';
import { DeviceLink, classifyError, describeError, type DeviceInfo } from './device-link.js';
import type { BacnetNetwork, IAm } from './network.js';
import { objectTypeName, presentValueType, withPort, type BacnetAddress, type ResolvedBacnetConnection } from './settings.js';

const ALL = 0xffffffff;

/** Objects that hold a point value; the rest (schedules, trend logs, files ...) are left out of drafts. */
const POINT_OBJECTS: ReadonlySet<number> = new Set([
  ObjectType.ANALOG_INPUT,
  ObjectType.ANALOG_OUTPUT,
  ObjectType.ANALOG_VALUE,
  ObjectType.BINARY_INPUT,
  ObjectType.BINARY_OUTPUT,
  ObjectType.BINARY_VALUE,
  ObjectType.MULTI_STATE_INPUT,
  ObjectType.MULTI_STATE_OUTPUT,
  ObjectType.MULTI_STATE_VALUE,
  ObjectType.INTEGER_VALUE,
  ObjectType.POSITIVE_INTEGER_VALUE,
  ObjectType.LARGE_ANALOG_VALUE,
  ObjectType.CHARACTERSTRING_VALUE,
  ObjectType.ACCUMULATOR,
]);

/** Units as profiles write them elsewhere (degC, %, kWh); the rest by their BACnet name. */
const UNIT_TEXT: Readonly<Record<number, string>> = {
  [EngineeringUnits.DEGREES_CELSIUS]: 'degC',
  [EngineeringUnits.DEGREES_FAHRENHEIT]: 'degF',
  [EngineeringUnits.PERCENT]: '%',
  [EngineeringUnits.PERCENT_RELATIVE_HUMIDITY]: '%RH',
  [EngineeringUnits.PASCALS]: 'Pa',
  [EngineeringUnits.KILOPASCALS]: 'kPa',
  [EngineeringUnits.KILOWATTS]: 'kW',
  [EngineeringUnits.KILOWATT_HOURS]: 'kWh',
  [EngineeringUnits.WATTS]: 'W',
  [EngineeringUnits.VOLTS]: 'V',
  [EngineeringUnits.AMPERES]: 'A',
  [EngineeringUnits.HERTZ]: 'Hz',
  [EngineeringUnits.CUBIC_METERS_PER_HOUR]: 'm3/h',
  [EngineeringUnits.LITERS_PER_SECOND]: 'l/s',
  [EngineeringUnits.PARTS_PER_MILLION]: 'ppm',
  [EngineeringUnits.DEGREES_ANGULAR]: 'deg',
  [EngineeringUnits.SECONDS]: 's',
  [EngineeringUnits.MINUTES]: 'min',
  [EngineeringUnits.HOURS]: 'h',
};
const UNIT_NAMES = new Map(
  Object.entries(EngineeringUnits as unknown as Record<string, string | number>).flatMap(([k, v]) => (typeof v === 'number' ? [[v, k.toLowerCase().replace(/_/g, '-')] as const] : [])),
);

export function unitText(units: number): string | undefined {
  if (units === EngineeringUnits.NO_UNITS) return undefined;
  return UNIT_TEXT[units] ?? UNIT_NAMES.get(units) ?? `units-${units}`;
}

export interface BacnetDiscoveredPoint extends DiscoveredPoint {
  readonly address: BacnetAddress;
  readonly unit?: string;
  /** present-value has a priority-array: writes at a priority, relinquish gives control back. */
  readonly commandable: boolean;
}

export interface DiscoveredDevice {
  readonly instance: number;
  readonly address: string;
  readonly vendorId?: number;
  readonly vendorName?: string;
  readonly modelName?: string;
  readonly name?: string;
  readonly points: readonly BacnetDiscoveredPoint[];
  /** Why the object list could not be read, when it could not. */
  readonly problem?: string;
}

export interface NetworkBrowseOptions {
  readonly target?: string;
  readonly broadcast?: string;
  readonly bbmd?: string;
  readonly low?: number;
  readonly high?: number;
  /** How long to collect I-Am answers. */
  readonly waitMs: number;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** Discovery limits from the generic browse options (CLI flags). */
export function browseOptions(options: BrowseOptions): NetworkBrowseOptions {
  const str = (key: string): string | undefined => (typeof options[key] === 'string' ? withPort(options[key]) : undefined);
  const num = (key: string): number | undefined => (typeof options[key] === 'number' ? options[key] : undefined);
  const target = str('target');
  const broadcast = str('broadcast');
  const bbmd = str('bbmd');
  const low = num('low');
  const high = num('high');
  return {
    ...(target ? { target } : {}),
    ...(broadcast ? { broadcast } : {}),
    ...(bbmd ? { bbmd } : {}),
    ...(low === undefined ? {} : { low }),
    ...(high === undefined ? {} : { high }),
    waitMs: num('waitMs') ?? 2000,
  };
}

/** Who-Is, then the devices that answered, each with its points. */
export async function browseNetwork(network: BacnetNetwork, settings: ResolvedBacnetConnection, options: NetworkBrowseOptions, log: Logger): Promise<DiscoveredDevice[]> {
  await network.ready();
  const found = new Map<number, IAm>();
  const stop = network.onIAm((iAm) => {
    const inRange = (options.low === undefined || iAm.deviceId >= options.low) && (options.high === undefined || iAm.deviceId <= options.high);
    if (inRange && !found.has(iAm.deviceId)) found.set(iAm.deviceId, iAm);
  });
  try {
    network.whoIs(options);
    await new Promise((resolve) => setTimeout(resolve, options.waitMs));
  } finally {
    stop();
  }
  const devices = [...found.values()].sort((a, b) => a.deviceId - b.deviceId);
  return Promise.all(devices.map((iAm) => describeDevice(network, settings, iAm, log)));
}

async function describeDevice(network: BacnetNetwork, settings: ResolvedBacnetConnection, iAm: IAm, log: Logger): Promise<DiscoveredDevice> {
  const { network: _routed, ...direct } = settings;
  const link = new DeviceLink(network, { ...direct, deviceInstance: iAm.deviceId, deviceAddress: iAm.address }, log.child({ deviceInstance: iAm.deviceId }));
  const base = { instance: iAm.deviceId, address: iAm.address, vendorId: iAm.vendorId };
  try {
    const info: DeviceInfo = await link.loadInfo();
    const identity = {
      ...base,
      ...(info.vendorName ? { vendorName: info.vendorName } : {}),
      ...(info.modelName ? { modelName: info.modelName } : {}),
      ...(info.objectName ? { name: info.objectName } : {}),
    };
    const objects = (await objectList(link)).filter((o) => POINT_OBJECTS.has(o.type));
    const points: BacnetDiscoveredPoint[] = [];
    for (const o of objects) points.push(await describeObject(link, o));
    return { ...identity, points };
  } catch (err) {
    const problem = isSwarmgateError(err) ? `${err.code}: ${err.message}` : describeError(err);
    log.warn({ deviceInstance: iAm.deviceId, problem }, 'BACnet device could not be described');
    return { ...base, points: [], problem };
  } finally {
    link.stop();
  }
}

/** The Device object's object-list: whole (segmented if it must), or element by element when too long for one reply. */
async function objectList(link: DeviceLink): Promise<BACNetObjectID[]> {
  const device = { type: ObjectType.DEVICE, instance: link.instance };
  try {
    const ack = await link.request('ReadProperty object-list', (c, a) => c.readProperty(a, device, PropertyIdentifier.OBJECT_LIST));
    return ack.values.map((v) => v.value as BACNetObjectID);
  } catch (err) {
    if (isSwarmgateError(err) || classifyError(err) !== 'too-big') throw err;
  }
  const count = await link.request('ReadProperty object-list[0]', (c, a) => c.readProperty(a, device, PropertyIdentifier.OBJECT_LIST, { arrayIndex: 0 }));
  const n = Number(count.values[0]?.value ?? 0);
  const out: BACNetObjectID[] = [];
  for (let i = 1; i <= n; i++) {
    const one = await link.request(`ReadProperty object-list[${i}]`, (c, a) => c.readProperty(a, device, PropertyIdentifier.OBJECT_LIST, { arrayIndex: i }));
    const id = one.values[0]?.value as BACNetObjectID | undefined;
    if (id) out.push(id);
  }
  return out;
}

const DESCRIBE = [PropertyIdentifier.OBJECT_NAME, PropertyIdentifier.UNITS, PropertyIdentifier.DESCRIPTION, PropertyIdentifier.PRIORITY_ARRAY];

async function describeObject(link: DeviceLink, o: BACNetObjectID): Promise<BacnetDiscoveredPoint> {
  const values = new Map<number, BACNetAppData[]>();
  try {
    const ack = await link.request('ReadPropertyMultiple', (c, a) => c.readPropertyMultiple(a, [{ objectId: o, properties: DESCRIBE.map((id) => ({ id, index: ALL })) }], { maxSegments: 0 }));
    for (const p of ack.values[0]?.values ?? []) if (p.value[0]?.type !== 105) values.set(p.id, p.value);
  } catch (err) {
    if (isSwarmgateError(err)) throw err;
    for (const id of DESCRIBE) {
      try {
        const ack = await link.request('ReadProperty', (c, a) => c.readProperty(a, o, id));
        values.set(id, ack.values);
      } catch (e) {
        if (isSwarmgateError(e)) throw e; // optional properties answer unknown-property
      }
    }
  }
  const typeName = objectTypeName(o.type);
  const name = text(values.get(PropertyIdentifier.OBJECT_NAME)?.[0]?.value) ?? `${typeName} ${o.instance}`;
  const description = text(values.get(PropertyIdentifier.DESCRIPTION)?.[0]?.value);
  const units = values.get(PropertyIdentifier.UNITS)?.[0]?.value;
  const unit = typeof units === 'number' ? unitText(units) : undefined;
  const commandable = values.has(PropertyIdentifier.PRIORITY_ARRAY);
  const dataType = presentValueType(o.type);
  return {
    name,
    address: { objectType: typeName, instance: o.instance },
    commandable,
    writable: commandable,
    ...(dataType ? { dataType } : {}),
    ...(description ? { description } : {}),
    ...(unit ? { unit } : {}),
  };
}
