/**
 * The settings editors see for Modbus devices: the point address inside a profile and the
 * connection of a device in the gateway config. Field descriptions become the JSON Schema text.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

export const ModbusTableSchema = Type.Union(
  [Type.Literal('coil'), Type.Literal('discrete'), Type.Literal('holding'), Type.Literal('input')],
  { description: 'Modbus table: coil (read/write bits), discrete (read-only bits), holding (read/write registers), input (read-only registers)' },
);
export type ModbusTable = Static<typeof ModbusTableSchema>;

export const ModbusDataTypeSchema = Type.Union(
  [
    Type.Literal('bool'),
    Type.Literal('int16'),
    Type.Literal('uint16'),
    Type.Literal('int32'),
    Type.Literal('uint32'),
    Type.Literal('float32'),
    Type.Literal('float64'),
    Type.Literal('string'),
  ],
  { description: 'Value type; 32-bit types span 2 registers, float64 spans 4, string spans `length` registers' },
);
export type ModbusDataType = Static<typeof ModbusDataTypeSchema>;

const OrderSchema = (what: string, defaultsTo: string) =>
  Type.Union([Type.Literal('big'), Type.Literal('little')], { default: 'big', description: `${what} (default big: ${defaultsTo})` });

export const ModbusAddressSchema = Type.Object(
  {
    table: ModbusTableSchema,
    register: Type.Integer({ minimum: 0, maximum: 65535, description: '0-based protocol address of the first register or bit (register 40001 in 1-based docs is holding 0)' }),
    type: ModbusDataTypeSchema,
    byteOrder: Type.Optional(OrderSchema('Byte order inside each 16-bit register', 'high byte first')),
    wordOrder: Type.Optional(OrderSchema('Register order of multi-register values; little = low word first', 'high word first')),
    length: Type.Optional(Type.Integer({ minimum: 1, maximum: 123, description: 'Number of registers of a string (2 characters each); required for type string' })),
    bit: Type.Optional(Type.Integer({ minimum: 0, maximum: 15, description: 'For type bool on holding/input: the bit of the register (0 = least significant)' })),
  },
  { additionalProperties: false, description: 'Where a point lives on a Modbus device' },
);
export type ModbusAddress = Static<typeof ModbusAddressSchema>;

const retriesSchema = (defaultRetries: number) =>
  Type.Integer({ minimum: 0, maximum: 10, default: defaultRetries, description: 'Extra attempts after a timeout or a lost connection (not after an exception reply)' });

const commonConnection = {
  unitId: Type.Integer({ minimum: 0, maximum: 255, default: 1, description: 'Modbus unit (slave) id' }),
  backoffMs: Type.Integer({ minimum: 0, maximum: 60_000, default: 200, description: 'Wait before the first retry; doubles with every further attempt, also paces reconnects' }),
  maxBlockRegisters: Type.Integer({ minimum: 1, maximum: 125, default: 125, description: 'Largest block read in one request (registers); bit tables read up to 2000 bits' }),
  maxGapRegisters: Type.Integer({ minimum: 0, maximum: 124, default: 8, description: 'Unused registers read through to merge neighbouring points into one request' }),
};

export const ModbusTcpConnectionSchema = Type.Object(
  {
    host: Type.String({ minLength: 1, description: 'Host name or IP address of the Modbus TCP device or gateway' }),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 502, description: 'TCP port' }),
    ...commonConnection,
    timeoutMs: Type.Integer({ minimum: 10, maximum: 60_000, default: 1000, description: 'Time to wait for each reply (and for the TCP connect)' }),
    retries: retriesSchema(2),
  },
  { additionalProperties: false, description: 'Modbus TCP device' },
);
export type ModbusTcpConnection = Static<typeof ModbusTcpConnectionSchema>;

export const BreakerSchema = Type.Object(
  {
    failureThreshold: Type.Integer({ minimum: 1, maximum: 100, default: 3, description: 'Consecutive failed requests after which this unit is skipped' }),
    openMs: Type.Integer({ minimum: 10, maximum: 3_600_000, default: 5000, description: 'How long a failing unit is skipped before one probe request; doubles while it keeps failing' }),
  },
  { additionalProperties: false, description: 'Per-unit circuit breaker, so a dead slave does not slow the rest of the bus' },
);
export type BreakerSettings = Static<typeof BreakerSchema>;

export const ModbusRtuConnectionSchema = Type.Object(
  {
    path: Type.String({ minLength: 1, description: 'Serial device, e.g. /dev/ttyUSB0; devices naming the same path share one port and one request queue' }),
    baudRate: Type.Integer({ minimum: 300, maximum: 4_000_000, default: 9600, description: 'Baud rate' }),
    parity: Type.Union([Type.Literal('none'), Type.Literal('even'), Type.Literal('odd')], { default: 'none', description: 'Parity' }),
    dataBits: Type.Union([Type.Literal(7), Type.Literal(8)], { default: 8, description: 'Data bits' }),
    stopBits: Type.Union([Type.Literal(1), Type.Literal(2)], { default: 1, description: 'Stop bits' }),
    ...commonConnection,
    timeoutMs: Type.Integer({ minimum: 10, maximum: 60_000, default: 500, description: 'Time to wait for each reply of this unit' }),
    retries: retriesSchema(1),
    breaker: Type.Optional(BreakerSchema),
  },
  { additionalProperties: false, description: 'Modbus RTU device on a serial bus' },
);
export type ModbusRtuConnection = Static<typeof ModbusRtuConnectionSchema>;

/** Connection settings after defaults: what the transport code works with. */
export interface LinkSettings {
  readonly unitId: number;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly backoffMs: number;
  readonly maxBlockRegisters: number;
  readonly maxGapRegisters: number;
}

/**
 * Fills defaults for fields a caller left out (configs that skipped TypeBox defaulting, tests) from
 * the schema's own `default`s, so they are written once. Works on a copy: the caller's object stays as it was.
 * Partial input on purpose: the runtime validates, but a driver must never see undefined.
 */
export function tcpSettings(c: Partial<ModbusTcpConnection> & { host: string }): Required<ModbusTcpConnection> {
  return Value.Default(ModbusTcpConnectionSchema, structuredClone(c)) as Required<ModbusTcpConnection>;
}

export type RtuSettings = Required<Omit<ModbusRtuConnection, 'breaker'>> & { readonly breaker: BreakerSettings };

export function rtuSettings(c: Partial<ModbusRtuConnection> & { path: string }): RtuSettings {
  const filled = Value.Default(ModbusRtuConnectionSchema, structuredClone(c)) as Required<Omit<ModbusRtuConnection, 'breaker'>>;
  // breaker is optional in the schema, so Value.Default leaves it out; the driver always has one.
  return { ...filled, breaker: Value.Default(BreakerSchema, { ...c.breaker }) as BreakerSettings };
}
