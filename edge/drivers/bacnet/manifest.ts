/**
 * The bacnet-ip driver manifest: settings schemas, semantic checks a schema cannot express (object
 * type and property names, refused priorities, writes to objects that have no priority), and the
 * factory. Profiles of the 'bacnet' family.
 *
 * Every gateway imports it (edge/drivers/builtin.ts), so it stays light: @bacnet-js/client is
 * required on the first check of a BACnet device (settings.ts), and the driver with it is imported
 * when a device initializes (lazy-driver.ts).
 */
import type { DeviceClaim, DeviceSpec, DriverManifest, ValidationProblem } from '../driver.js';
import { LazyBacnetDriver } from './lazy-driver.js';
import {
  BacnetAddressSchema,
  BacnetConnectionSchema,
  REFUSED_PRIORITIES,
  objectTypeId,
  parseHostPort,
  presentValueType,
  propertyId,
  resolveAddress,
  resolveConnection,
  type BacnetAddress,
  type BacnetConnection,
} from './settings.js';

export function validateBacnetDevice(device: DeviceSpec<BacnetConnection, BacnetAddress>): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  const c = device.connection;
  // The schema's patterns allow five digits: a UDP port is 0-65535 (0 only for bind: any free port).
  const addresses: [string, string | undefined, number][] = [
    ['/connection/bind', c.bind, 0],
    ['/connection/deviceAddress', c.deviceAddress, 1],
    ['/connection/broadcastAddress', c.broadcastAddress, 1],
    ['/connection/bbmd/address', c.bbmd?.address, 1],
  ];
  for (const [path, value, lowest] of addresses) {
    if (value === undefined || !value.includes(':')) continue;
    const { port } = parseHostPort(value);
    if (port < lowest || port > 65535) problems.push({ path, message: `"${value}": UDP port ${port} is out of range (${lowest}-65535; BACnet/IP uses 47808)` });
  }
  if (c.network !== undefined && c.deviceAddress === undefined) {
    problems.push({ path: '/connection/deviceAddress', message: 'a device behind a BACnet router (network) needs deviceAddress: the router\'s IP address' });
  }
  const seen = new Map<string, number>();
  device.points.forEach((point, i) => {
    const a = point.address;
    const at = (field: string): string => `/points/${i}/address/${field}`;
    if (objectTypeId(a.objectType) === undefined) {
      problems.push({ path: at('objectType'), message: `${point.name}: "${a.objectType}" is not a BACnet object type; use e.g. analog-input, analog-value, binary-output, multi-state-value` });
    }
    if (typeof a.property === 'string' && propertyId(a.property) === undefined) {
      problems.push({ path: at('property'), message: `${point.name}: "${a.property}" is not a BACnet property name; use e.g. present-value, or a number for a proprietary property` });
    }
    const priority = a.priority;
    const refused = priority === undefined ? undefined : REFUSED_PRIORITIES[priority];
    if (priority !== undefined && refused) {
      problems.push({ path: at('priority'), message: `${point.name}: priority ${priority} is ${refused}; a gateway commands at 9-16 (default 12), or 3-5 and 7-8 when the site says so` });
    }
    const resolved = resolveAddress(a);
    if (resolved && resolved.property !== propertyId('present-value') && a.priority !== undefined) {
      problems.push({ path: at('priority'), message: `${point.name}: only present-value has command priorities; remove priority` });
    }
    const key = `${a.objectType}:${a.instance}:${String(a.property ?? 'present-value')}:${a.arrayIndex ?? ''}`;
    const earlier = seen.get(key);
    if (earlier !== undefined) problems.push({ path: `/points/${i}/address`, message: `${point.name}: same object property as point ${earlier}` });
    else seen.set(key, i);
  });
  return problems;
}

/**
 * The UDP socket of a device's bind: devices with the same bind share one socket, and with it what
 * belongs to the socket rather than to a device (the broadcast address, the BBMD registration), so
 * they must agree on those; a bind on the wildcard address 0.0.0.0 clashes with any other bind of
 * the same port (the kernel refuses the second socket with EADDRINUSE).
 */
export function bacnetClaims(device: DeviceSpec<BacnetConnection, BacnetAddress>): DeviceClaim[] {
  const { bindHost: host, bindPort: port, broadcastAddress, bbmd } = resolveConnection(device.connection);
  if (port === 0) return [];
  return [
    {
      resource: `udp ${host}:${port}`,
      label: `BACnet/IP bind ${host}:${port}`,
      kind: 'shared',
      settings: {
        ...(broadcastAddress === undefined ? {} : { broadcastAddress }),
        ...(bbmd === undefined ? {} : { bbmd: `${bbmd.address} ttlSeconds ${bbmd.ttlSeconds}` }),
      },
      rule: 'devices with the same bind share one socket, and its broadcast address and BBMD registration',
      path: '/connection/bind',
      overlap: { key: `udp port ${port}`, wildcard: host === '0.0.0.0' },
    },
  ];
}

export const bacnetManifest: DriverManifest<typeof BacnetConnectionSchema, typeof BacnetAddressSchema> = {
  protocol: 'bacnet-ip',
  profileProtocol: 'bacnet',
  description: 'BACnet/IP client: ReadPropertyMultiple in APDU-sized batches, COV with renewal and polling fallback, writes at a priority and relinquish, Who-Is discovery',
  connectionSchema: BacnetConnectionSchema,
  addressSchema: BacnetAddressSchema,
  capabilities: { subscribe: true, browse: true },
  validate: validateBacnetDevice,
  claims: bacnetClaims,
  valueType: (address) => {
    const resolved = resolveAddress(address);
    return resolved && resolved.property === propertyId('present-value') ? presentValueType(resolved.objectType) : undefined;
  },
  create: (device, context) => new LazyBacnetDriver(device, context),
};
