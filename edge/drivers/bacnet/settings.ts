/**
 * BACnet/IP connection and point address settings (TypeBox). Fields with defaults are Optional so
 * the driver works whether or not the config loader filled the defaults in; `resolveConnection`
 * and `resolveAddress` are the one place those defaults are applied.
 *
 * Write priority: the default is 12. BACnet reserves 1-2 for life safety and 6 for minimum on/off
 * time, 5 is critical equipment control and 8 is the operator at the building's own front end. An
 * automated gateway must lose against that operator (so 9 or lower in urgency) and win against the
 * building's schedules and default logic (16 and the relinquish default); 9-11 are left free for
 * the site's other supervisory programs (demand limiting, optimum start). 1, 2 and 6 are refused.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { PointValueType } from '../driver.js';
import { bacnetLibrary } from './library.js';

export const DEFAULT_WRITE_PRIORITY = 12;
/** Priorities a gateway must never command at: manual and automatic life safety, minimum on/off. */
export const REFUSED_PRIORITIES: Readonly<Record<number, string>> = {
  1: 'manual life safety',
  2: 'automatic life safety',
  6: 'minimum on/off (reserved for the device itself)',
};

/** ANALOG_INPUT -> analog-input: the names BACnet tools (and bacnet-stack's bacrp) use. */
function kebab(enumKey: string): string {
  return enumKey.toLowerCase().replace(/_/g, '-');
}

function namesOf(e: Record<string, string | number>): Map<string, number> {
  return new Map(Object.entries(e).flatMap(([k, v]) => (typeof v === 'number' ? [[kebab(k), v] as const] : [])));
}

interface NameTables {
  readonly objectTypes: ReadonlyMap<string, number>;
  readonly properties: ReadonlyMap<string, number>;
  readonly objectTypeNames: ReadonlyMap<number, string>;
  readonly propertyNames: ReadonlyMap<number, string>;
  readonly presentValueTypes: ReadonlyMap<number, PointValueType>;
}

let tables: NameTables | undefined;

/** Built from the library's enums on first use (a gateway without BACnet devices never needs them). */
function nameTables(): NameTables {
  if (tables) return tables;
  const { ObjectType: T } = bacnetLibrary();
  const objectTypes = namesOf(T as unknown as Record<string, string | number>);
  const properties = namesOf(bacnetLibrary().PropertyIdentifier as unknown as Record<string, string | number>);
  const presentValueTypes = new Map<number, PointValueType>([
    ...[T.BINARY_INPUT, T.BINARY_OUTPUT, T.BINARY_VALUE, T.BINARY_LIGHTING_OUTPUT].map((t) => [t, 'boolean'] as const),
    ...[T.ANALOG_INPUT, T.ANALOG_OUTPUT, T.ANALOG_VALUE].map((t) => [t, 'float'] as const),
    ...[T.MULTI_STATE_INPUT, T.MULTI_STATE_OUTPUT, T.MULTI_STATE_VALUE, T.POSITIVE_INTEGER_VALUE].map((t) => [t, 'uint32'] as const),
    [T.INTEGER_VALUE, 'int32'],
    [T.LARGE_ANALOG_VALUE, 'double'],
    [T.CHARACTERSTRING_VALUE, 'string'],
  ]);
  tables = {
    objectTypes,
    properties,
    objectTypeNames: new Map([...objectTypes].map(([name, id]) => [id, name])),
    propertyNames: new Map([...properties].map(([name, id]) => [id, name])),
    presentValueTypes,
  };
  return tables;
}

/** analog-input -> 0; undefined for a name BACnet does not have. */
export function objectTypeId(name: string): number | undefined {
  return nameTables().objectTypes.get(name);
}

/** present-value -> 85; undefined for a name BACnet does not have. */
export function propertyId(name: string): number | undefined {
  return nameTables().properties.get(name);
}

export function objectTypeName(id: number): string {
  return nameTables().objectTypeNames.get(id) ?? String(id);
}

export function propertyName(id: number): string {
  return nameTables().propertyNames.get(id) ?? String(id);
}

/** The value type of a present-value, from the object type alone (what Sparkplug births need). */
export function presentValueType(objectType: number): PointValueType | undefined {
  return nameTables().presentValueTypes.get(objectType);
}

const HostPort = Type.String({ pattern: '^[^\\s:]+(:\\d{1,5})?$', description: 'host or host:port (port defaults to 47808)' });

export const BacnetConnectionSchema = Type.Object(
  {
    bind: Type.Optional(
      Type.String({
        pattern: '^[^\\s:]+:\\d{1,5}$',
        default: '0.0.0.0:47808',
        description: 'Local address and UDP port of the gateway\'s BACnet/IP port; devices on one gateway with the same bind share it',
      }),
    ),
    deviceInstance: Type.Integer({ minimum: 0, maximum: 4194302, description: 'Device object instance of the controller' }),
    deviceAddress: Type.Optional({
      ...HostPort,
      description: 'IP address (and port) of the controller, or of the BACnet router in front of it; absent: found by Who-Is for deviceInstance',
    }),
    broadcastAddress: Type.Optional(
      Type.String({ pattern: '^[^\\s:]+(:\\d{1,5})?$', description: 'Directed broadcast address of the local subnet for Who-Is, e.g. 192.168.1.255 (never 255.255.255.255 on a multi-homed host)' }),
    ),
    network: Type.Optional(
      Type.Object(
        {
          dnet: Type.Integer({ minimum: 1, maximum: 65534, description: 'Network number of the device behind a BACnet router (DNET)' }),
          dadr: Type.Union([Type.Integer({ minimum: 0, maximum: 255 }), Type.String({ pattern: '^([0-9a-fA-F]{2}){1,7}$' })], {
            description: 'The device MAC on that network (DADR): an MS/TP MAC 0-255, or hex bytes',
          }),
        },
        { additionalProperties: false, description: 'Device behind a BACnet router: deviceAddress is then the router' },
      ),
    ),
    bbmd: Type.Optional(
      Type.Object(
        {
          address: HostPort,
          ttlSeconds: Type.Optional(Type.Integer({ minimum: 30, maximum: 65535, default: 300, description: 'Foreign-device time to live; re-registered at half of it' })),
        },
        { additionalProperties: false, description: 'Register as a foreign device with this BBMD (gateway on another subnet than the controllers)' },
      ),
    ),
    apduTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 60000, default: 3000, description: 'Time to wait for each confirmed request' })),
    apduRetries: Type.Optional(Type.Integer({ minimum: 0, maximum: 10, default: 2, description: 'Retries of a timed-out request' })),
    maxConcurrentRequests: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 16, default: 2, description: 'Requests in flight to this device at once (small controllers handle one or two)' }),
    ),
    covLifetimeSeconds: Type.Optional(
      Type.Integer({ minimum: 2, maximum: 86400, default: 300, description: 'Lifetime of COV subscriptions; renewed at half of it, so a device that restarted has COV again within half of it' }),
    ),
    readPropertyMultiple: Type.Optional(
      Type.Boolean({ default: true, description: 'Use ReadPropertyMultiple when the device supports it; false: ReadProperty only (devices with a broken RPM)' }),
    ),
  },
  { additionalProperties: false, description: 'BACnet/IP device' },
);

export type BacnetConnection = Static<typeof BacnetConnectionSchema>;

export const BacnetAddressSchema = Type.Object(
  {
    objectType: Type.String({ pattern: '^[a-z][a-z0-9-]*$', description: 'Object type, e.g. analog-input, analog-value, binary-output, multi-state-value' }),
    instance: Type.Integer({ minimum: 0, maximum: 4194302, description: 'Object instance' }),
    property: Type.Optional(
      Type.Union([Type.String({ pattern: '^[a-z][a-z0-9-]*$' }), Type.Integer({ minimum: 0, maximum: 4194303 })], {
        default: 'present-value',
        description: 'Property name (kebab case) or number for proprietary properties',
      }),
    ),
    arrayIndex: Type.Optional(Type.Integer({ minimum: 0, maximum: 4294967294, description: 'Array index of the property (absent: the whole value)' })),
    priority: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 16, default: DEFAULT_WRITE_PRIORITY, description: 'Command priority of writes (1, 2 and 6 are refused; default 12, below the operator at 8)' }),
    ),
    cov: Type.Optional(
      Type.Union([Type.Literal('unconfirmed'), Type.Literal('confirmed'), Type.Literal('off')], {
        default: 'unconfirmed',
        description: 'SubscribeCOV with unconfirmed or confirmed notifications, or off (polled); objects without COV are polled anyway',
      }),
    ),
  },
  { additionalProperties: false, description: 'BACnet object property' },
);

export type BacnetAddress = Static<typeof BacnetAddressSchema>;

export interface ResolvedBacnetConnection {
  readonly bindHost: string;
  readonly bindPort: number;
  readonly deviceInstance: number;
  readonly deviceAddress?: string;
  readonly broadcastAddress?: string;
  readonly network?: { readonly dnet: number; readonly dadr: readonly number[] };
  readonly bbmd?: { readonly address: string; readonly ttlSeconds: number };
  readonly apduTimeoutMs: number;
  readonly apduRetries: number;
  readonly maxConcurrentRequests: number;
  readonly covLifetimeSeconds: number;
  readonly readPropertyMultiple: boolean;
}

/** host -> host:47808; host:port unchanged. */
export function withPort(hostPort: string): string {
  return hostPort.includes(':') ? hostPort : `${hostPort}:47808`;
}

export function parseHostPort(hostPort: string): { host: string; port: number } {
  const [host = '', port = '47808'] = hostPort.split(':');
  return { host, port: Number(port) };
}

function dadrBytes(dadr: number | string): number[] {
  if (typeof dadr === 'number') return [dadr];
  return (dadr.match(/../g) ?? []).map((b) => parseInt(b, 16));
}

export function resolveConnection(c: BacnetConnection): ResolvedBacnetConnection {
  const bind = parseHostPort(c.bind ?? '0.0.0.0:47808');
  return {
    bindHost: bind.host,
    bindPort: bind.port,
    deviceInstance: c.deviceInstance,
    ...(c.deviceAddress === undefined ? {} : { deviceAddress: withPort(c.deviceAddress) }),
    ...(c.broadcastAddress === undefined ? {} : { broadcastAddress: withPort(c.broadcastAddress) }),
    ...(c.network === undefined ? {} : { network: { dnet: c.network.dnet, dadr: dadrBytes(c.network.dadr) } }),
    ...(c.bbmd === undefined ? {} : { bbmd: { address: withPort(c.bbmd.address), ttlSeconds: c.bbmd.ttlSeconds ?? 300 } }),
    apduTimeoutMs: c.apduTimeoutMs ?? 3000,
    apduRetries: c.apduRetries ?? 2,
    maxConcurrentRequests: c.maxConcurrentRequests ?? 2,
    covLifetimeSeconds: c.covLifetimeSeconds ?? 300,
    readPropertyMultiple: c.readPropertyMultiple ?? true,
  };
}

export interface ResolvedBacnetAddress {
  readonly objectType: number;
  readonly instance: number;
  readonly property: number;
  readonly arrayIndex?: number;
  readonly priority: number;
  readonly cov: 'unconfirmed' | 'confirmed' | 'off';
}

/** Undefined when a name is unknown (the manifest's validate reports it with its path). */
export function resolveAddress(a: BacnetAddress): ResolvedBacnetAddress | undefined {
  const objectType = objectTypeId(a.objectType);
  const rawProperty = a.property ?? 'present-value';
  const property = typeof rawProperty === 'number' ? rawProperty : propertyId(rawProperty);
  if (objectType === undefined || property === undefined) return undefined;
  return {
    objectType,
    instance: a.instance,
    property,
    ...(a.arrayIndex === undefined ? {} : { arrayIndex: a.arrayIndex }),
    priority: a.priority ?? DEFAULT_WRITE_PRIORITY,
    cov: a.cov ?? 'unconfirmed',
  };
}
