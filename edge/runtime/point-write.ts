/**
 * The one path every write to a point takes, whoever asks (hub command, local rule, operator):
 * the point must exist and be writable, the value must fit its type and limits. Interlocks and
 * audit hook in here as later layers add them.
 */
import { parseDecimal } from '../../shared/kit/decimal.js';
import { SwarmgateError } from '../../shared/kit/errors.js';
import { booleanOf, describePointType, kindOfType, type DeviceSpec, type PointSpec, type WriteValue } from '../drivers/driver.js';

export function findPoint(devices: readonly DeviceSpec[], device: string, point: string): { device: DeviceSpec; point: PointSpec } {
  const d = devices.find((x) => x.id === device);
  if (!d) throw new SwarmgateError('SWG_ERR_POINT_UNKNOWN', `no device "${device}" on this gateway`, { details: { device } });
  const p = d.points.find((x) => x.name === point);
  if (!p) throw new SwarmgateError('SWG_ERR_POINT_UNKNOWN', `device "${device}" has no point "${point}"`, { details: { device, point } });
  return { device: d, point: p };
}

/**
 * The value as the point's declared type holds it: 1/"on" for a boolean point is true, true for a
 * numeric point is 1, "21.5" is 21.5. Interlocks and audit then see what the driver will write,
 * so an interlock on `value: true` also refuses a hub command writing 1. A value that has no such
 * reading (a word for a number point) is refused naming the type.
 */
export function normalizeWrite(device: string, point: PointSpec, value: WriteValue): WriteValue {
  const type = point.valueType;
  if (value === null || type === undefined || kindOfType(type) === 'string') return value;
  const where = `${device}/${point.name}`;
  if (kindOfType(type) === 'boolean') {
    const b = booleanOf(value);
    if (b !== undefined) return b;
    throw new SwarmgateError('SWG_ERR_POINT_TYPE', `${where} is a boolean point: ${JSON.stringify(value)} is not true or false (nor 1/0, on/off)`, { details: { device, point: point.name } });
  }
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string') {
    const n = parseDecimal(value.trim()) ?? Number.NaN;
    if (!Number.isFinite(n)) throw new SwarmgateError('SWG_ERR_POINT_TYPE', `${where} is ${describePointType(type, point.rawType)}: ${JSON.stringify(value)} is not a number`, { details: { device, point: point.name } });
    return n;
  }
  return value;
}

/**
 * Throws a SwarmgateError naming the point when the write is not allowed; returns the value as the
 * point's type holds it (normalizeWrite), which is what guards and the driver get.
 */
export function checkWrite(device: string, point: PointSpec, given: WriteValue): WriteValue {
  const where = `${device}/${point.name}`;
  if (!point.writable) throw new SwarmgateError('SWG_ERR_POINT_NOT_WRITABLE', `${where} is read-only`, { details: { device, point: point.name } });
  const value = normalizeWrite(device, point, given);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new SwarmgateError('SWG_ERR_POINT_TYPE', `${where}: ${value} is not a finite number`);
    const { min, max } = point.limits ?? {};
    if ((min !== undefined && value < min) || (max !== undefined && value > max)) {
      throw new SwarmgateError('SWG_ERR_POINT_LIMIT', `${where}: ${value} is outside [${min ?? '-inf'}, ${max ?? '+inf'}]`, {
        details: { device, point: point.name, value, min, max },
      });
    }
  }
  return value;
}
