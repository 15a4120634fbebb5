/**
 * Manifests of modbus-tcp and modbus-rtu: schemas, semantic validation of a device's points, and
 * the driver factory. Both read profiles of the 'modbus' family.
 */
import type { DeviceClaim, DeviceSpec, DriverContext, DriverManifest, PointSpec, PointValueType, ValidationProblem } from '../driver.js';
import { isBitTable, registerCount } from './codec.js';
import { ModbusDriver } from './driver.js';
import { rtuEndpoint, tcpEndpoint } from './endpoints.js';
import { busKey } from './rtu-bus.js';
import {
  ModbusAddressSchema,
  ModbusRtuConnectionSchema,
  ModbusTcpConnectionSchema,
  rtuSettings,
  tcpSettings,
  type ModbusAddress,
  type ModbusRtuConnection,
  type ModbusTcpConnection,
} from './schema.js';

interface Span {
  readonly index: number;
  readonly point: PointSpec<ModbusAddress>;
  readonly start: number;
  readonly end: number; // exclusive
}

function overlapAllowed(a: Span, b: Span): boolean {
  // Several bools may take different bits of one register.
  const aa = a.point.address;
  const ba = b.point.address;
  return aa.type === 'bool' && ba.type === 'bool' && !isBitTable(aa.table) && aa.register === ba.register && (aa.bit ?? 0) !== (ba.bit ?? 0);
}

function checkPoint(point: PointSpec<ModbusAddress>, i: number, maxBlockRegisters: number): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  const a = point.address;
  const at = (field: string) => `/points/${i}/address/${field}`;
  const bits = isBitTable(a.table);
  if (bits && a.type !== 'bool') problems.push({ path: at('type'), message: `${point.name}: the ${a.table} table holds single bits; use type bool` });
  if (bits && a.bit !== undefined) problems.push({ path: at('bit'), message: `${point.name}: bit applies to holding/input registers only, not to ${a.table}` });
  if (!bits && a.type === 'bool' && a.bit === undefined) {
    problems.push({ path: at('bit'), message: `${point.name}: a bool on a ${a.table} register needs bit (0..15) to say which bit` });
  }
  if (a.bit !== undefined && a.type !== 'bool') problems.push({ path: at('bit'), message: `${point.name}: bit is only meaningful with type bool` });
  if (a.type === 'string' && a.length === undefined) problems.push({ path: at('length'), message: `${point.name}: a string needs length (registers, 2 characters each)` });
  if (a.type !== 'string' && a.length !== undefined) problems.push({ path: at('length'), message: `${point.name}: length is only meaningful with type string (${a.type} has a fixed size)` });
  if (point.writable && (a.table === 'discrete' || a.table === 'input')) {
    problems.push({ path: `/points/${i}/writable`, message: `${point.name}: the ${a.table} table is read-only in Modbus; only coil and holding points can be writable` });
  }
  const size = registerCount(a);
  if (a.register + size > 65536) problems.push({ path: at('register'), message: `${point.name}: ${a.type} at ${a.register} runs past register 65535` });
  if (!bits && size > maxBlockRegisters) {
    problems.push({ path: at('length'), message: `${point.name}: spans ${size} registers, more than maxBlockRegisters (${maxBlockRegisters}) allows in one read` });
  }
  if (point.writable && point.scale === 0 && a.type !== 'bool' && a.type !== 'string') {
    problems.push({ path: `/points/${i}/scale`, message: `${point.name}: scale 0 cannot be inverted for writes` });
  }
  return problems;
}

function checkOverlaps(points: readonly PointSpec<ModbusAddress>[]): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  const byTable = new Map<string, Span[]>();
  points.forEach((point, index) => {
    const start = point.address.register;
    const spans = byTable.get(point.address.table) ?? [];
    spans.push({ index, point, start, end: start + registerCount(point.address) });
    byTable.set(point.address.table, spans);
  });
  for (const [table, spans] of byTable) {
    spans.sort((a, b) => a.start - b.start || a.index - b.index);
    for (let i = 0; i < spans.length; i++) {
      const a = spans[i];
      if (!a) continue;
      for (let j = i + 1; j < spans.length; j++) {
        const b = spans[j];
        if (!b || b.start >= a.end) break;
        if (overlapAllowed(a, b)) continue;
        problems.push({
          path: `/points/${b.index}/address/register`,
          message: `${b.point.name} (${table} ${b.start}..${b.end - 1}) overlaps ${a.point.name} (${table} ${a.start}..${a.end - 1})`,
        });
      }
    }
  }
  return problems;
}

/** Semantic checks shared by modbus-tcp and modbus-rtu devices. */
export function validateModbusPoints(points: readonly PointSpec<ModbusAddress>[], maxBlockRegisters: number): ValidationProblem[] {
  return [...points.flatMap((p, i) => checkPoint(p, i, maxBlockRegisters)), ...checkOverlaps(points)];
}

function childLog(context: DriverContext, device: DeviceSpec) {
  return context.log.child({ driver: device.protocol });
}

const MODBUS_VALUE_TYPES: Readonly<Record<ModbusAddress['type'], PointValueType>> = {
  bool: 'boolean',
  int16: 'int16',
  uint16: 'uint16',
  int32: 'int32',
  uint32: 'uint32',
  float32: 'float',
  float64: 'double',
  string: 'string',
};

/** Coils and discrete inputs hold bits, and validation requires type bool for them. */
const modbusValueType = (address: ModbusAddress): PointValueType => MODBUS_VALUE_TYPES[address.type];

/**
 * An RTU device shares its serial port with every device naming the same port (symlinks resolved,
 * as the bus registry does at run time): one line setting for all, and a unit id of its own.
 */
export function rtuClaims(device: DeviceSpec<ModbusRtuConnection, ModbusAddress>): DeviceClaim[] {
  const s = rtuSettings(device.connection);
  const port = busKey(s.path);
  return [
    {
      resource: `serial ${port}`,
      label: `serial port ${s.path}`,
      kind: 'shared',
      settings: { baudRate: s.baudRate, parity: s.parity, dataBits: s.dataBits, stopBits: s.stopBits },
      rule: 'every device on one serial port must use the same baudRate, parity, dataBits and stopBits',
      path: '/connection/path',
    },
    {
      resource: `serial ${port} unit ${s.unitId}`,
      label: `unit id ${s.unitId} on serial port ${s.path}`,
      kind: 'exclusive',
      rule: 'two devices on one bus cannot answer to the same address: give each its own unitId',
      path: '/connection/unitId',
    },
  ];
}

export const modbusTcpManifest: DriverManifest<typeof ModbusTcpConnectionSchema, typeof ModbusAddressSchema> = {
  protocol: 'modbus-tcp',
  profileProtocol: 'modbus',
  description: 'Modbus TCP devices and TCP-to-RTU gateways (FC 1-6, 15, 16), with block reads and reconnects',
  connectionSchema: ModbusTcpConnectionSchema,
  addressSchema: ModbusAddressSchema,
  capabilities: { subscribe: false, browse: true },
  validate(device: DeviceSpec<ModbusTcpConnection, ModbusAddress>): ValidationProblem[] {
    return validateModbusPoints(device.points, tcpSettings(device.connection).maxBlockRegisters);
  },
  valueType: modbusValueType,
  create(device: DeviceSpec<ModbusTcpConnection, ModbusAddress>, context: DriverContext): ModbusDriver {
    const settings = tcpSettings(device.connection);
    const log = childLog(context, device);
    return new ModbusDriver(device.id, tcpEndpoint(settings, log), settings, log);
  },
};

export const modbusRtuManifest: DriverManifest<typeof ModbusRtuConnectionSchema, typeof ModbusAddressSchema> = {
  protocol: 'modbus-rtu',
  profileProtocol: 'modbus',
  description: 'Modbus RTU slaves on a serial bus shared by several devices, with a per-unit circuit breaker',
  connectionSchema: ModbusRtuConnectionSchema,
  addressSchema: ModbusAddressSchema,
  capabilities: { subscribe: false, browse: true },
  validate(device: DeviceSpec<ModbusRtuConnection, ModbusAddress>): ValidationProblem[] {
    const settings = rtuSettings(device.connection);
    const problems = validateModbusPoints(device.points, settings.maxBlockRegisters);
    if (settings.unitId === 0 || settings.unitId > 247) {
      problems.push({ path: '/connection/unitId', message: `unit id ${settings.unitId} is not a slave address on RTU (0 is broadcast, 248..255 reserved); use 1..247` });
    }
    return problems;
  },
  claims: rtuClaims,
  valueType: modbusValueType,
  create(device: DeviceSpec<ModbusRtuConnection, ModbusAddress>, context: DriverContext): ModbusDriver {
    const settings = rtuSettings(device.connection);
    const log = childLog(context, device);
    return new ModbusDriver(device.id, rtuEndpoint(settings, log), settings, log);
  },
};
