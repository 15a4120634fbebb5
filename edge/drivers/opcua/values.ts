/**
 * OPC UA values <-> Swarmgate readings: StatusCode severity to quality, Variant to a plain
 * point value, and engineering scaling both ways. Pure functions so they are easy to test.
 */
import { DataType, Variant, VariantArrayType, type DataValue, type StatusCode } from 'node-opcua-client';
import { SwarmgateError } from '../../../shared/kit/errors.js';
import type { PointSpec, PointValue, Quality, Reading } from '../driver.js';

/** Severity is the top two bits of a StatusCode: 00 good, 01 uncertain, 1x bad. */
export function qualityOf(status: StatusCode): Quality {
  const severity = status.value >>> 30;
  if (severity === 0) return 'good';
  if (severity === 1) return 'uncertain';
  return 'bad';
}

const TWO_32 = 2 ** 32;

/** node-opcua carries 64-bit integers as [high, low] uint32 pairs. */
function int64ToNumber(pair: readonly number[], signed: boolean): number {
  const high = pair[0] ?? 0;
  const low = pair[1] ?? 0;
  const signedHigh = signed && high >= 0x80000000 ? high - TWO_32 : high;
  return signedHigh * TWO_32 + low;
}

/**
 * A scalar Variant as a point value; undefined when the type has no sensible plain form
 * (arrays, structures), null for a Null variant.
 */
export function variantToPointValue(variant: Variant): PointValue | null | undefined {
  if (variant.arrayType !== VariantArrayType.Scalar) return undefined;
  const v: unknown = variant.value;
  switch (variant.dataType) {
    case DataType.Null:
      return null;
    case DataType.Boolean:
      return Boolean(v);
    case DataType.SByte:
    case DataType.Byte:
    case DataType.Int16:
    case DataType.UInt16:
    case DataType.Int32:
    case DataType.UInt32:
    case DataType.Float:
    case DataType.Double:
    case DataType.StatusCode:
      return typeof v === 'number' ? v : Number(v);
    case DataType.Int64:
    case DataType.UInt64:
      return Array.isArray(v) ? int64ToNumber(v as number[], variant.dataType === DataType.Int64) : Number(v);
    case DataType.String:
    case DataType.XmlElement:
      return typeof v === 'string' ? v : null;
    case DataType.DateTime:
      return v instanceof Date ? v.toISOString() : null;
    case DataType.LocalizedText:
      return (v as { text?: string | null } | null)?.text ?? null;
    case DataType.QualifiedName:
      return (v as { name?: string | null } | null)?.name ?? null;
    case DataType.NodeId:
    case DataType.ExpandedNodeId:
    case DataType.Guid:
      return v === null || v === undefined ? null : String(v);
    case DataType.ByteString:
      return Buffer.isBuffer(v) ? v.toString('base64') : null;
    default:
      return undefined;
  }
}

export function toEngineering(value: PointValue, point: Pick<PointSpec, 'scale' | 'offset'>): PointValue {
  if (typeof value !== 'number') return value;
  return value * point.scale + point.offset;
}

export function badReading(device: string, point: string, cause: string, ts = Date.now()): Reading {
  return { device, point, value: null, quality: 'bad', ts, cause };
}

export function dataValueToReading(device: string, point: PointSpec, dv: DataValue): Reading {
  const ts = dv.sourceTimestamp?.getTime() ?? dv.serverTimestamp?.getTime() ?? Date.now();
  const quality = qualityOf(dv.statusCode);
  if (quality === 'bad') return badReading(device, point.name, dv.statusCode.name, ts);
  const raw = variantToPointValue(dv.value);
  if (raw === undefined) {
    return badReading(device, point.name, `unsupported value type ${DataType[dv.value.dataType]} (${dv.value.arrayType === VariantArrayType.Scalar ? 'scalar' : 'array'})`, ts);
  }
  if (raw === null) return badReading(device, point.name, `no value (${dv.statusCode.name})`, ts);
  const value = toEngineering(raw, point);
  return quality === 'good'
    ? { device, point: point.name, value, quality, ts }
    : { device, point: point.name, value, quality, ts, cause: dv.statusCode.name };
}

const INTEGER_RANGES: Partial<Record<DataType, readonly [number, number]>> = {
  [DataType.SByte]: [-128, 127],
  [DataType.Byte]: [0, 255],
  [DataType.Int16]: [-32768, 32767],
  [DataType.UInt16]: [0, 65535],
  [DataType.Int32]: [-2147483648, 2147483647],
  [DataType.UInt32]: [0, 4294967295],
  [DataType.Int64]: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  [DataType.UInt64]: [0, Number.MAX_SAFE_INTEGER],
};

function typeError(point: PointSpec, value: PointValue, dataType: DataType, why: string): SwarmgateError {
  return new SwarmgateError('SWG_ERR_POINT_TYPE', `cannot write ${JSON.stringify(value)} to ${point.name} (${DataType[dataType]}): ${why}`, {
    details: { point: point.name, dataType: DataType[dataType] },
  });
}

/** Engineering value -> Variant of the variable's built-in DataType (inverse scaling for numbers). */
export function toWriteVariant(point: PointSpec, value: PointValue, dataType: DataType): Variant {
  const numeric = (): number => {
    if (typeof value === 'boolean') return value ? 1 : 0;
    const n = typeof value === 'number' ? value : Number(value);
    if (!Number.isFinite(n)) throw typeError(point, value, dataType, 'not a number');
    if (point.scale === 0) throw typeError(point, value, dataType, 'scale is 0, the raw value cannot be derived');
    return (n - point.offset) / point.scale;
  };
  switch (dataType) {
    case DataType.Boolean: {
      if (typeof value === 'boolean') return new Variant({ dataType, value });
      if (value === 1 || value === 0 || value === '1' || value === '0') return new Variant({ dataType, value: Number(value) === 1 });
      if (value === 'true' || value === 'false') return new Variant({ dataType, value: value === 'true' });
      throw typeError(point, value, dataType, 'expected a boolean');
    }
    case DataType.Float:
    case DataType.Double:
      return new Variant({ dataType, value: numeric() });
    case DataType.String:
      return new Variant({ dataType, value: String(value) });
    default: {
      const range = INTEGER_RANGES[dataType];
      if (!range) throw typeError(point, value, dataType, 'writing this data type is not supported');
      const n = Math.round(numeric());
      if (n < range[0] || n > range[1]) throw typeError(point, value, dataType, `raw value ${n} is outside ${range[0]}..${range[1]}`);
      return new Variant({ dataType, value: n });
    }
  }
}
