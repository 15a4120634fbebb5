/**
 * Interlocks: declarative "never" statements checked on EVERY write through Gateway.write, whoever
 * asks (hub command, local rule, advisor, operator). Plugged in as a WriteGuard, so there is one
 * place that can refuse a dangerous write, after the point's own writable/limit checks.
 */
import { SwarmgateError } from '../../../shared/kit/errors.js';
import { kindOfType, type PointValue, type Reading, type WriteValue } from '../../drivers/driver.js';
import type { WriteGuard } from '../../runtime/ports.js';
import { compileCondition, snapshotInputs, type Condition, type ConditionProblem, type PointCatalog } from './conditions.js';
import { splitRef, type InterlockConfig } from './schema.js';
import { describePointType, valueTypeProblem } from './value-types.js';
import { didYouMean } from '../../../shared/kit/suggest.js';

export type LatestLookup = (device: string, point: string) => Reading | undefined;

export interface CompiledInterlock {
  readonly name: string;
  readonly device: string;
  readonly point: string;
  readonly value?: PointValue;
  readonly when?: Condition;
  readonly min?: number;
  readonly max?: number;
  readonly onUnknown: 'refuse' | 'allow';
  readonly message?: string;
}

export function compileInterlocks(configs: readonly InterlockConfig[], problems: ConditionProblem[], catalog?: PointCatalog): CompiledInterlock[] {
  const out: CompiledInterlock[] = [];
  const names = new Set<string>();
  configs.forEach((c, i) => {
    const at = ['interlocks', i] as const;
    const before = problems.length;
    if (names.has(c.name)) problems.push({ path: [...at, 'name'], message: `duplicate interlock name "${c.name}"` });
    names.add(c.name);
    const { device, point } = splitRef(c.point);
    const spec = catalog?.devices.get(device)?.get(point);
    if (catalog && !catalog.devices.has(device)) problems.push({ path: [...at, 'point'], message: `interlock "${c.name}": unknown device "${device}"${didYouMean(device, catalog.devices.keys())}` });
    else if (catalog && !spec) problems.push({ path: [...at, 'point'], message: `interlock "${c.name}": device "${device}" has no point "${point}"${didYouMean(point, catalog.devices.get(device)?.keys() ?? [])}` });
    else if (spec && !spec.writable) problems.push({ path: [...at, 'point'], message: `interlock "${c.name}": ${c.point} is read-only, so no write can reach it` });
    if (c.min !== undefined && c.max !== undefined && c.min > c.max) problems.push({ path: [...at, 'max'], message: `interlock "${c.name}": max is below min` });
    // Bounds no write within the point's own limits can meet: while it holds, every write is refused.
    const limits = spec?.limits;
    if (limits?.max !== undefined && c.min !== undefined && c.min > limits.max) problems.push({ path: [...at, 'min'], message: `interlock "${c.name}": min ${c.min} is above ${c.point}'s limit max ${limits.max}, so while it holds every write is refused` });
    if (limits?.min !== undefined && c.max !== undefined && c.max < limits.min) problems.push({ path: [...at, 'max'], message: `interlock "${c.name}": max ${c.max} is below ${c.point}'s limit min ${limits.min}, so while it holds every write is refused` });
    if ((c.min !== undefined || c.max !== undefined) && c.value !== undefined) problems.push({ path: [...at, 'value'], message: `interlock "${c.name}": use either value or min/max` });
    // Writes are matched with ===: a value of another kind than the point's never matches, so the interlock refuses nothing.
    const mismatch = c.value !== undefined ? valueTypeProblem(c.point, spec?.valueType, c.value, 'never matches a write to it, so the interlock refuses nothing', spec?.rawType) : undefined;
    if (mismatch) problems.push({ path: [...at, 'value'], message: `interlock "${c.name}": ${mismatch}` });
    // min/max bound numbers: on a boolean or string point every write is refused while it holds.
    if (spec?.valueType !== undefined && kindOfType(spec.valueType) !== 'number' && (c.min !== undefined || c.max !== undefined)) {
      problems.push({ path: [...at, c.min !== undefined ? 'min' : 'max'], message: `interlock "${c.name}": min/max bound numbers, but ${c.point} is ${describePointType(spec.valueType)}, so while it holds every write is refused: use "value" to refuse one value` });
    }
    if (c.when === undefined && c.min === undefined && c.max === undefined && c.value === undefined) {
      problems.push({ path: [...at, 'when'], message: `interlock "${c.name}" refuses nothing: give "when", "min"/"max" or "value"` });
    }
    const when = c.when ? compileCondition(c.when, [...at, 'when'], problems, catalog) : undefined;
    // An interlock judges the latest readings alone, at the moment of the write: no history (rate),
    // no detector (anomaly), no device-wide state (bad with a device). Such a condition would be
    // unknown on every write (or never hold), so the interlock would refuse everything or nothing.
    const cannot = [
      ...(when && when.rateWindows.size > 0 ? ['"rate" (it needs a history of readings)'] : []),
      ...(when && when.anomalyRefs.size > 0 ? ['"anomaly" (it needs the detector)'] : []),
      ...(when && when.deviceRefs.size > 0 ? ['"bad" with a device (give a point of the device instead)'] : []),
    ];
    if (cannot.length > 0) problems.push({ path: [...at, 'when'], message: `interlock "${c.name}": its condition uses ${cannot.join(', ')}, which an interlock cannot judge at the moment of a write; use it in a rule, or judge the latest readings (above/below/range/equals/bad with a point)` });
    if (problems.length > before) return;
    out.push({
      name: c.name,
      device,
      point,
      ...(c.value !== undefined ? { value: c.value } : {}),
      ...(when?.condition ? { when: when.condition } : {}),
      ...(c.min !== undefined ? { min: c.min } : {}),
      ...(c.max !== undefined ? { max: c.max } : {}),
      onUnknown: c.onUnknown ?? 'refuse',
      ...(c.message !== undefined ? { message: c.message } : {}),
    });
  });
  problems.push(...contradictions(configs));
  return out;
}

/**
 * Interlocks on one point whose bounds leave no value a write may take while they hold together:
 * those that always hold (no `when`) with each other, and each group with the same condition
 * with those. Conditions that differ may or may not hold at once, so they are not compared.
 * (One interlock against the point's own limits is checked with the interlock.)
 */
function contradictions(configs: readonly InterlockConfig[]): ConditionProblem[] {
  type Bounded = { readonly index: number; readonly c: InterlockConfig };
  const groups = new Map<string, Map<string, Bounded[]>>();
  configs.forEach((c, index) => {
    if (c.value !== undefined || (c.min === undefined && c.max === undefined)) return;
    const byCondition = groups.get(c.point) ?? new Map<string, Bounded[]>();
    groups.set(c.point, byCondition);
    const key = c.when === undefined ? '' : JSON.stringify(c.when);
    byCondition.set(key, [...(byCondition.get(key) ?? []), { index, c }]);
  });
  const problems: ConditionProblem[] = [];
  for (const [ref, byCondition] of groups) {
    const always = byCondition.get('') ?? [];
    for (const [key, group] of byCondition) {
      const together = key === '' ? group : [...always, ...group];
      if (together.length < 2) continue;
      const lowest = together.reduce<Bounded | undefined>((a, b) => (b.c.min !== undefined && (a === undefined || b.c.min > a.c.min!) ? b : a), undefined);
      const highest = together.reduce<Bounded | undefined>((a, b) => (b.c.max !== undefined && (a === undefined || b.c.max < a.c.max!) ? b : a), undefined);
      if (!lowest || !highest || lowest === highest || lowest.c.min! <= highest.c.max!) continue;
      // Two that always hold are reported once, not again with every conditional group.
      if (key !== '' && always.includes(lowest) && always.includes(highest)) continue;
      const later = Math.max(lowest.index, highest.index);
      const when = key === '' ? '' : 'while their condition holds ';
      problems.push({
        path: ['interlocks', later, lowest.index === later ? 'min' : 'max'],
        message: `interlocks "${lowest.c.name}" (min ${lowest.c.min}) and "${highest.c.name}" (max ${highest.c.max}) leave no value ${ref} may take, so ${when}every write is refused`,
      });
    }
  }
  return problems;
}

/** Throws SWG_ERR_INTERLOCK naming the interlock when the write must not happen. */
export function checkInterlocks(interlocks: readonly CompiledInterlock[], device: string, point: string, value: WriteValue, latest: LatestLookup): void {
  for (const il of interlocks) {
    if (il.device !== device || il.point !== point) continue;
    if (il.value !== undefined && il.value !== value) continue;
    let holds: boolean | undefined = true;
    if (il.when) holds = il.when.test(snapshotInputs(latest));
    if (holds === undefined) {
      if (il.onUnknown === 'allow') continue;
      refuse(il, device, point, value, 'an input of its condition is bad or missing, so it refuses (onUnknown: refuse)');
    }
    if (!holds) continue;
    if (il.min === undefined && il.max === undefined) refuse(il, device, point, value, 'its condition holds');
    if (typeof value !== 'number') refuse(il, device, point, value, 'it limits the value to a number range');
    if (il.min !== undefined && value < il.min) refuse(il, device, point, value, `the value must be >= ${il.min} while its condition holds`);
    if (il.max !== undefined && value > il.max) refuse(il, device, point, value, `the value must be <= ${il.max} while its condition holds`);
  }
}

function refuse(il: CompiledInterlock, device: string, point: string, value: WriteValue, why: string): never {
  const text = il.message ? `${il.message} (${why})` : why;
  throw new SwarmgateError('SWG_ERR_INTERLOCK', `interlock "${il.name}" refused ${device}/${point} = ${String(value)}: ${text}`, {
    details: { interlock: il.name, device, point, value: String(value) },
  });
}

/** The Gateway write hook: `new Gateway({ ..., guards: [interlockGuard(compiled)] })`. */
export function interlockGuard(interlocks: readonly CompiledInterlock[]): WriteGuard {
  return (request, latest) => checkInterlocks(interlocks, request.device, request.point, request.value, latest);
}
