/**
 * How config sections name a point: "<device id>/<point name>". The decision layer (rules,
 * advisor, anomaly monitor) and the analytics config all address points this way.
 */
import { Type } from '@sinclair/typebox';

export const PointRefSchema = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}/[a-z][a-z0-9_]{0,63}$',
  description: 'A point as "<device id>/<point name>", e.g. coldroom/temperature',
});

export function splitRef(ref: string): { device: string; point: string } {
  const i = ref.indexOf('/');
  return { device: ref.slice(0, i), point: ref.slice(i + 1) };
}
