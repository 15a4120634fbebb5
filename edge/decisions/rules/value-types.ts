/**
 * Whether a value given in the config (a condition's `equals` value, a write, a safe value, an
 * interlock's value) has the kind of value the point holds, judged from the type its profile
 * declares (PointSpec.valueType). Readings are compared with ===, so "true" never equals a boolean
 * point and 1 never equals true; numbers compare only with numeric points.
 */
import { describePointType, kindOfType, type PointValue, type PointValueType, type ValueKind } from '../../drivers/driver.js';

export { describePointType };

function describeValue(value: PointValue): string {
  return typeof value === 'string' ? `${JSON.stringify(value)} (a string)` : `${String(value)} (a ${typeof value})`;
}

/** What to write instead: the same value unquoted when it reads as one of the right kind. */
function instead(kind: ValueKind, value: PointValue): string {
  if (kind === 'boolean') return value === 'true' || value === 'false' ? `write ${value} without quotes` : 'use true or false';
  if (kind === 'number') return typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)) ? `write ${value.trim()} without quotes` : 'use a number';
  return `quote it: "${String(value)}"`;
}

/**
 * Why `value` does not fit the point `ref` of declared type `type`, or undefined when it does (or
 * the profile declares no type). `what` says what goes wrong: "never equals it", "cannot be written".
 */
export function valueTypeProblem(ref: string, type: PointValueType | undefined, value: PointValue, what: string, rawType?: PointValueType): string | undefined {
  if (type === undefined) return undefined;
  const kind = kindOfType(type);
  if (typeof value === kind) return undefined;
  return `${ref} is ${describePointType(type, rawType)}, so value ${describeValue(value)} ${what}: ${instead(kind, value)}`;
}
