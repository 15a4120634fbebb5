/**
 * BACnet values <-> Swarmgate readings: application-tagged data to a plain point value, the
 * object's status-flags / reliability / out-of-service to the reading's quality and cause, and a
 * point value to the application tag a WriteProperty needs. Pure functions.
 */
import { ApplicationTag, ObjectType, PropertyIdentifier, Reliability, StatusFlags, type BACNetAppData } from '@bacnet-js/client';
import { SwarmgateError } from '../../../shared/kit/errors.js';
import type { PointSpec, PointValue, PointValueType, Quality, Reading } from '../driver.js';
import type { ResolvedBacnetAddress } from './settings.js';

const BINARY_TYPES: ReadonlySet<number> = new Set([ObjectType.BINARY_INPUT, ObjectType.BINARY_OUTPUT, ObjectType.BINARY_VALUE, ObjectType.BINARY_LIGHTING_OUTPUT]);
const ANALOG_TYPES: ReadonlySet<number> = new Set([ObjectType.ANALOG_INPUT, ObjectType.ANALOG_OUTPUT, ObjectType.ANALOG_VALUE]);
const MULTI_STATE_TYPES: ReadonlySet<number> = new Set([ObjectType.MULTI_STATE_INPUT, ObjectType.MULTI_STATE_OUTPUT, ObjectType.MULTI_STATE_VALUE]);

/** The value type of a present-value, from the object type alone (what Sparkplug births need). */
export function presentValueType(objectType: number): PointValueType | undefined {
  if (BINARY_TYPES.has(objectType)) return 'boolean';
  if (ANALOG_TYPES.has(objectType)) return 'float';
  if (MULTI_STATE_TYPES.has(objectType)) return 'uint32';
  if (objectType === ObjectType.INTEGER_VALUE) return 'int32';
  if (objectType === ObjectType.POSITIVE_INTEGER_VALUE) return 'uint32';
  if (objectType === ObjectType.LARGE_ANALOG_VALUE) return 'double';
  if (objectType === ObjectType.CHARACTERSTRING_VALUE) return 'string';
  return undefined;
}

/** The application tag a write of present-value uses, by object type; undefined when it depends on the device. */
export function presentValueTag(objectType: number): ApplicationTag | undefined {
  if (BINARY_TYPES.has(objectType)) return ApplicationTag.ENUMERATED;
  if (ANALOG_TYPES.has(objectType)) return ApplicationTag.REAL;
  if (MULTI_STATE_TYPES.has(objectType) || objectType === ObjectType.POSITIVE_INTEGER_VALUE) return ApplicationTag.UNSIGNED_INTEGER;
  if (objectType === ObjectType.INTEGER_VALUE) return ApplicationTag.SIGNED_INTEGER;
  if (objectType === ObjectType.LARGE_ANALOG_VALUE) return ApplicationTag.DOUBLE;
  if (objectType === ObjectType.CHARACTERSTRING_VALUE) return ApplicationTag.CHARACTER_STRING;
  return undefined;
}

/** One application value as a point value; undefined when it has no plain form (lists, constructed data). */
export function appDataToPointValue(data: BACNetAppData, address: ResolvedBacnetAddress): PointValue | null | undefined {
  const v: unknown = data.value;
  switch (data.type) {
    case ApplicationTag.NULL:
      return null;
    case ApplicationTag.BOOLEAN:
      return Boolean(v);
    case ApplicationTag.ENUMERATED:
      // binary present-value (and relinquish-default): inactive/active as false/true
      if (BINARY_TYPES.has(address.objectType) && (address.property === PropertyIdentifier.PRESENT_VALUE || address.property === PropertyIdentifier.RELINQUISH_DEFAULT)) {
        return v === 1;
      }
      return typeof v === 'number' ? v : undefined;
    case ApplicationTag.UNSIGNED_INTEGER:
    case ApplicationTag.SIGNED_INTEGER:
    case ApplicationTag.REAL:
    case ApplicationTag.DOUBLE:
      return typeof v === 'number' ? v : undefined;
    case ApplicationTag.CHARACTER_STRING:
      return typeof v === 'string' ? v : undefined;
    case ApplicationTag.DATE:
    case ApplicationTag.TIME:
      return v instanceof Date ? v.toISOString() : undefined;
    case ApplicationTag.BIT_STRING: {
      const bits = (v as { value?: number[]; bitsUsed?: number } | null)?.value ?? [];
      const used = (v as { bitsUsed?: number } | null)?.bitsUsed ?? bits.length * 8;
      let text = '';
      for (let i = 0; i < used; i++) text += ((bits[i >> 3] ?? 0) >> (i & 7)) & 1 ? '1' : '0';
      return text;
    }
    default:
      return undefined;
  }
}

/** The state around a value: what status-flags, reliability and out-of-service said. */
export interface ObjectStatus {
  readonly statusFlags?: readonly number[];
  readonly reliability?: number;
  readonly outOfService?: boolean;
}

function flag(bits: readonly number[] | undefined, which: StatusFlags): boolean {
  return bits !== undefined && (((bits[0] ?? 0) >> which) & 1) === 1;
}

const RELIABILITY_NAMES = new Map(
  Object.entries(Reliability as unknown as Record<string, string | number>).flatMap(([k, v]) => (typeof v === 'number' ? [[v, k.toLowerCase().replace(/_/g, '-')] as const] : [])),
);

/**
 * Fault (or a reliability other than no-fault-detected) makes the value bad; out-of-service makes it
 * uncertain (someone overrode the input by hand); overridden makes it uncertain. In-alarm says
 * nothing about the value's truth and keeps it good.
 */
export function qualityOf(status: ObjectStatus): { quality: Quality; cause?: string } {
  const reliability = status.reliability;
  if (reliability !== undefined && reliability !== Reliability.NO_FAULT_DETECTED) {
    return { quality: 'bad', cause: `reliability ${RELIABILITY_NAMES.get(reliability) ?? reliability}` };
  }
  if (flag(status.statusFlags, StatusFlags.FAULT)) return { quality: 'bad', cause: 'status-flags: fault' };
  if (status.outOfService === true || flag(status.statusFlags, StatusFlags.OUT_OF_SERVICE)) {
    return { quality: 'uncertain', cause: 'out-of-service: the value is set by hand, not measured' };
  }
  if (flag(status.statusFlags, StatusFlags.OVERRIDDEN)) return { quality: 'uncertain', cause: 'status-flags: overridden by a local hand/off/auto switch' };
  return { quality: 'good' };
}

export function badReading(device: string, point: string, cause: string, ts = Date.now()): Reading {
  return { device, point, value: null, quality: 'bad', ts, cause };
}

/** The point's value from the property's data, scaled, with quality from the object status. */
export function toReading(device: string, point: PointSpec, address: ResolvedBacnetAddress, data: readonly BACNetAppData[], status: ObjectStatus, ts = Date.now()): Reading {
  const first = data[0];
  if (!first) return badReading(device, point.name, 'the device returned no value', ts);
  if (data.length > 1 && address.arrayIndex === undefined) {
    return badReading(device, point.name, `the property holds ${data.length} values; set arrayIndex to pick one`, ts);
  }
  const raw = appDataToPointValue(first, address);
  if (raw === undefined) return badReading(device, point.name, `value of application tag ${first.type} has no plain form`, ts);
  if (raw === null) return badReading(device, point.name, 'the property is NULL', ts);
  const value = typeof raw === 'number' ? raw * point.scale + point.offset : raw;
  const q = qualityOf(status);
  return { device, point: point.name, value, quality: q.quality, ts, ...(q.cause ? { cause: q.cause } : {}) };
}

/** A point value (engineering units) as the application data of a WriteProperty. */
export function toWriteData(point: PointSpec, address: ResolvedBacnetAddress, value: PointValue, learnedTag: ApplicationTag | undefined): BACNetAppData {
  const tag =
    (address.property === PropertyIdentifier.PRESENT_VALUE ? presentValueTag(address.objectType) : undefined) ??
    learnedTag ??
    (typeof value === 'boolean' ? ApplicationTag.BOOLEAN : typeof value === 'string' ? ApplicationTag.CHARACTER_STRING : ApplicationTag.REAL);
  const where = `point ${point.name}`;
  const numeric = (): number => {
    if (typeof value === 'boolean') return value ? 1 : 0;
    if (typeof value !== 'number') throw new SwarmgateError('SWG_ERR_POINT_TYPE', `${where}: "${String(value)}" is not a number`);
    if (point.scale === 0) throw new SwarmgateError('SWG_ERR_POINT_TYPE', `${where}: scale 0 cannot be inverted for a write`);
    return (value - point.offset) / point.scale;
  };
  switch (tag) {
    case ApplicationTag.ENUMERATED:
    case ApplicationTag.UNSIGNED_INTEGER: {
      const n = Math.round(numeric());
      if (n < 0) throw new SwarmgateError('SWG_ERR_POINT_TYPE', `${where}: ${n} is negative; the property takes an unsigned value`);
      return { type: tag, value: n };
    }
    case ApplicationTag.SIGNED_INTEGER:
      return { type: tag, value: Math.round(numeric()) };
    case ApplicationTag.BOOLEAN:
      return { type: tag, value: typeof value === 'boolean' ? value : numeric() !== 0 };
    case ApplicationTag.CHARACTER_STRING:
      return { type: tag, value: String(value) };
    case ApplicationTag.DOUBLE:
      return { type: tag, value: numeric() };
    default:
      return { type: ApplicationTag.REAL, value: numeric() };
  }
}
