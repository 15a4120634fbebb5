/**
 * BACnet values <-> Swarmgate readings: application-tagged data to a plain point value, the
 * object's status-flags / reliability / out-of-service to the reading's quality and cause, and a
 * point value to the application tag a WriteProperty needs. Pure functions.
 */
import { ApplicationTag, ObjectType, PropertyIdentifier, Reliability, StatusFlags, type BACNetAppData } from '@bacnet-js/client';
import { SwarmgateError } from '../../../shared/kit/errors.js';
import type { PointSpec, PointValue, Quality, Reading } from '../driver.js';
import type { ResolvedBacnetAddress } from './settings.js';

const BINARY_TYPES: ReadonlySet<number> = new Set([ObjectType.BINARY_INPUT, ObjectType.BINARY_OUTPUT, ObjectType.BINARY_VALUE, ObjectType.BINARY_LIGHTING_OUTPUT]);
const ANALOG_TYPES: ReadonlySet<number> = new Set([ObjectType.ANALOG_INPUT, ObjectType.ANALOG_OUTPUT, ObjectType.ANALOG_VALUE]);
const MULTI_STATE_TYPES: ReadonlySet<number> = new Set([ObjectType.MULTI_STATE_INPUT, ObjectType.MULTI_STATE_OUTPUT, ObjectType.MULTI_STATE_VALUE]);

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

// The library's enums are re-exported through getters: the values read on every reading are taken once.
const TAG_NULL = ApplicationTag.NULL;
const TAG_BOOLEAN = ApplicationTag.BOOLEAN;
const TAG_ENUMERATED = ApplicationTag.ENUMERATED;
const TAG_UNSIGNED = ApplicationTag.UNSIGNED_INTEGER;
const TAG_SIGNED = ApplicationTag.SIGNED_INTEGER;
const TAG_REAL = ApplicationTag.REAL;
const TAG_DOUBLE = ApplicationTag.DOUBLE;
const TAG_STRING = ApplicationTag.CHARACTER_STRING;
const TAG_DATE = ApplicationTag.DATE;
const TAG_TIME = ApplicationTag.TIME;
const TAG_BIT_STRING = ApplicationTag.BIT_STRING;
const PRESENT_VALUE = PropertyIdentifier.PRESENT_VALUE;
const RELINQUISH_DEFAULT = PropertyIdentifier.RELINQUISH_DEFAULT;
const NO_FAULT_DETECTED = Reliability.NO_FAULT_DETECTED;
const FAULT_BIT = 1 << StatusFlags.FAULT;
const OUT_OF_SERVICE_BIT = 1 << StatusFlags.OUT_OF_SERVICE;
const OVERRIDDEN_BIT = 1 << StatusFlags.OVERRIDDEN;

/** One application value as a point value; undefined when it has no plain form (lists, constructed data). */
export function appDataToPointValue(data: BACNetAppData, address: ResolvedBacnetAddress): PointValue | null | undefined {
  const v: unknown = data.value;
  switch (data.type) {
    case TAG_REAL:
    case TAG_DOUBLE:
    case TAG_UNSIGNED:
    case TAG_SIGNED:
      return typeof v === 'number' ? v : undefined;
    case TAG_ENUMERATED:
      // binary present-value (and relinquish-default): inactive/active as false/true
      if (BINARY_TYPES.has(address.objectType) && (address.property === PRESENT_VALUE || address.property === RELINQUISH_DEFAULT)) {
        return v === 1;
      }
      return typeof v === 'number' ? v : undefined;
    case TAG_NULL:
      return null;
    case TAG_BOOLEAN:
      return Boolean(v);
    case TAG_STRING:
      return typeof v === 'string' ? v : undefined;
    case TAG_DATE:
    case TAG_TIME:
      return v instanceof Date ? v.toISOString() : undefined;
    case TAG_BIT_STRING: {
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

const RELIABILITY_NAMES = new Map(
  Object.entries(Reliability as unknown as Record<string, string | number>).flatMap(([k, v]) => (typeof v === 'number' ? [[v, k.toLowerCase().replace(/_/g, '-')] as const] : [])),
);

const GOOD: { quality: Quality; cause?: string } = Object.freeze({ quality: 'good' });
const FAULT: { quality: Quality; cause?: string } = Object.freeze({ quality: 'bad', cause: 'status-flags: fault' });
const OUT_OF_SERVICE: { quality: Quality; cause?: string } = Object.freeze({ quality: 'uncertain', cause: 'out-of-service: the value is set by hand, not measured' });
const OVERRIDDEN: { quality: Quality; cause?: string } = Object.freeze({ quality: 'uncertain', cause: 'status-flags: overridden by a local hand/off/auto switch' });

/**
 * Fault (or a reliability other than no-fault-detected) makes the value bad; out-of-service makes it
 * uncertain (someone overrode the input by hand); overridden makes it uncertain. In-alarm says
 * nothing about the value's truth and keeps it good.
 */
export function qualityOf(status: ObjectStatus): { quality: Quality; cause?: string } {
  return qualityFrom(status.statusFlags?.[0] ?? 0, status.reliability, status.outOfService === true);
}

/** qualityOf on the raw parts (first byte of status-flags, reliability), without building an ObjectStatus. */
export function qualityFrom(flags: number, reliability: number | undefined, outOfService = false): { quality: Quality; cause?: string } {
  if (reliability !== undefined && reliability !== NO_FAULT_DETECTED) {
    return { quality: 'bad', cause: `reliability ${RELIABILITY_NAMES.get(reliability) ?? reliability}` };
  }
  if ((flags & FAULT_BIT) !== 0) return FAULT;
  if (outOfService || (flags & OUT_OF_SERVICE_BIT) !== 0) return OUT_OF_SERVICE;
  if ((flags & OVERRIDDEN_BIT) !== 0) return OVERRIDDEN;
  return GOOD;
}

export function badReading(device: string, point: string, cause: string, ts = Date.now()): Reading {
  return { device, point, value: null, quality: 'bad', ts, cause };
}

/** The point's value from the property's data, scaled, with quality from the object status. */
export function toReading(device: string, point: PointSpec, address: ResolvedBacnetAddress, data: readonly BACNetAppData[], status: ObjectStatus, ts = Date.now()): Reading {
  return readingOf(device, point, address, data, qualityOf(status), ts);
}

/** toReading with the quality already worked out (once per object, shared by its points). */
export function readingOf(device: string, point: PointSpec, address: ResolvedBacnetAddress, data: readonly BACNetAppData[], q: { quality: Quality; cause?: string }, ts: number): Reading {
  const first = data[0];
  if (!first) return badReading(device, point.name, 'the device returned no value', ts);
  if (data.length > 1 && address.arrayIndex === undefined) {
    return badReading(device, point.name, `the property holds ${data.length} values; set arrayIndex to pick one`, ts);
  }
  const raw = appDataToPointValue(first, address);
  if (raw === undefined) return badReading(device, point.name, `value of application tag ${first.type} has no plain form`, ts);
  if (raw === null) return badReading(device, point.name, 'the property is NULL', ts);
  const value = typeof raw === 'number' ? raw * point.scale + point.offset : raw;
  return q.cause === undefined ? { device, point: point.name, value, quality: q.quality, ts } : { device, point: point.name, value, quality: q.quality, ts, cause: q.cause };
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
