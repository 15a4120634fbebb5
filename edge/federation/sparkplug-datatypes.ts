/**
 * Sparkplug datatypes of a gateway's points. A metric's datatype is declared in its birth and may
 * not change until the next one (a host such as Ignition creates its tags from the first birth),
 * so it comes from the point's profile (PointValueType), never from a value read; a value that
 * does not fit the declared type goes out as null (is_null) of that type.
 */
import type { TypeStr, UMetric } from 'sparkplug-payload/lib/sparkplugbpayload.js';
import type { PointValue, PointValueType } from '../drivers/driver.js';

const SPARKPLUG_TYPES: Readonly<Record<PointValueType, TypeStr>> = {
  boolean: 'Boolean',
  int8: 'Int8',
  uint8: 'UInt8',
  int16: 'Int16',
  uint16: 'UInt16',
  int32: 'Int32',
  uint32: 'UInt32',
  int64: 'Int64',
  uint64: 'UInt64',
  float: 'Float',
  double: 'Double',
  string: 'String',
};

const INTEGER_RANGES: Partial<Readonly<Record<TypeStr, readonly [number, number]>>> = {
  Int8: [-128, 127],
  UInt8: [0, 255],
  Int16: [-32768, 32767],
  UInt16: [0, 65535],
  Int32: [-2147483648, 2147483647],
  UInt32: [0, 4294967295],
  Int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  UInt64: [0, Number.MAX_SAFE_INTEGER],
};

export function sparkplugType(valueType: PointValueType): TypeStr {
  return SPARKPLUG_TYPES[valueType];
}

/** The value as a metric of the declared type, or null when it does not fit (unknown, bad, another type, out of range). */
export function metricValue(type: TypeStr, value: PointValue | null | undefined): PointValue | null {
  if (value === null || value === undefined) return null;
  if (type === 'Boolean') return typeof value === 'boolean' ? value : null;
  if (type === 'String') return typeof value === 'string' ? value : null;
  if (typeof value !== 'number' || !Number.isFinite(value)) return null;
  const range = INTEGER_RANGES[type];
  if (!range) return value; // Float, Double
  return Number.isInteger(value) && value >= range[0] && value <= range[1] ? value : null;
}

/** A DCMD metric's value as a point value; undefined for types a point cannot take. */
export function toPointValue(value: UMetric['value']): PointValue | undefined {
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'string') return value;
  if (value && typeof value === 'object' && 'toNumber' in value && typeof value.toNumber === 'function') return (value as { toNumber(): number }).toNumber();
  return undefined;
}
