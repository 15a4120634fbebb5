/**
 * The one path every write to a point takes, whoever asks (hub command, local rule, operator):
 * the point must exist and be writable, the value must fit its type and limits. Interlocks and
 * audit hook in here as later layers add them.
 */
import { SwarmgateError } from '../../shared/kit/errors.js';
import type { DeviceSpec, PointSpec, WriteValue } from '../drivers/driver.js';

export function findPoint(devices: readonly DeviceSpec[], device: string, point: string): { device: DeviceSpec; point: PointSpec } {
  const d = devices.find((x) => x.id === device);
  if (!d) throw new SwarmgateError('SWG_ERR_POINT_UNKNOWN', `no device "${device}" on this gateway`, { details: { device } });
  const p = d.points.find((x) => x.name === point);
  if (!p) throw new SwarmgateError('SWG_ERR_POINT_UNKNOWN', `device "${device}" has no point "${point}"`, { details: { device, point } });
  return { device: d, point: p };
}

/** Throws a SwarmgateError naming the point when the write is not allowed. */
export function checkWrite(device: string, point: PointSpec, value: WriteValue): void {
  const where = `${device}/${point.name}`;
  if (!point.writable) throw new SwarmgateError('SWG_ERR_POINT_NOT_WRITABLE', `${where} is read-only`, { details: { device, point: point.name } });
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new SwarmgateError('SWG_ERR_POINT_TYPE', `${where}: ${value} is not a finite number`);
    const { min, max } = point.limits ?? {};
    if ((min !== undefined && value < min) || (max !== undefined && value > max)) {
      throw new SwarmgateError('SWG_ERR_POINT_LIMIT', `${where}: ${value} is outside [${min ?? '-inf'}, ${max ?? '+inf'}]`, {
        details: { device, point: point.name, value, min, max },
      });
    }
  }
}
