/**
 * Conditions compiled from their config into small evaluators with three-valued results:
 * true, false, or undefined when an input is bad, missing or stale. Rules act only on true; an
 * unknown never counts as "all clear" (not(unknown) stays unknown), so a lost sensor cannot
 * switch anything on or off by itself — the output's safe state handles it.
 */
import { kindOfType, type PointValue, type PointValueType, type Reading } from '../../drivers/driver.js';
import { MAX_CONDITION_DEPTH, splitRef, type ConditionConfig } from './schema.js';
import { describePointType, valueTypeProblem } from './value-types.js';
import { didYouMean } from '../../../shared/kit/suggest.js';

export type Tri = boolean | undefined;

/** What conditions read: the gateway's latest values plus what the engine tracks around them. */
export interface ConditionInputs {
  /** Wall-clock time (ms since the epoch), as readings are stamped. */
  now(): number;
  /**
   * A clock for durations (ms, any origin) that an NTP step does not move: a gateway that boots
   * with an old time and steps forward by hours must not end every held-for wait at once.
   */
  elapsed(): number;
  /** The latest reading when it is usable (good quality, not stale); undefined otherwise. */
  value(ref: string): PointValue | undefined;
  /** True when the point is bad, missing (after the start-up grace) or stale. */
  isBad(ref: string): boolean;
  /** True when every point of the device is bad. */
  deviceBad(device: string): boolean;
  /** Change per minute over the window, undefined without enough history. */
  ratePerMinute(ref: string, windowS: number): number | undefined;
  /** Anomaly score of the point, undefined when the point is not monitored or not scored yet. */
  anomaly(ref: string): number | undefined;
}

export interface Condition {
  /** Stateful evaluation (hysteresis, held-for timers): call on every evaluation round. */
  evaluate(inputs: ConditionInputs): Tri;
  /** Snapshot evaluation without state (interlocks): above/below compare against `on`. */
  test(inputs: ConditionInputs): Tri;
  reset(): void;
}

export interface ConditionProblem {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** What compile() needs to know about the gateway to check references. */
export interface PointCatalog {
  /**
   * Device id → point name → writable, the write limits the profile and site set, and the value
   * type the profile declares (undefined when it does not say: values are then not type-checked).
   */
  readonly devices: ReadonlyMap<string, ReadonlyMap<string, CatalogPoint>>;
}

export interface CatalogPoint {
  readonly writable: boolean;
  readonly limits?: { readonly min?: number; readonly max?: number };
  readonly valueType?: PointValueType;
  /** The type at the device address when scaling makes valueType differ (for messages). */
  readonly rawType?: PointValueType;
}

/** The declared value type of a point the catalog has, else undefined. */
export function pointValueType(ref: string, catalog: PointCatalog | undefined): PointValueType | undefined {
  const { device, point } = splitRef(ref);
  return catalog?.devices.get(device)?.get(point)?.valueType;
}

/** The type at the device address of a scaled point the catalog has, else undefined. */
export function pointRawType(ref: string, catalog: PointCatalog | undefined): PointValueType | undefined {
  const { device, point } = splitRef(ref);
  return catalog?.devices.get(device)?.get(point)?.rawType;
}

/** Kinds that compare a point's value as a number: on a boolean or string point they are never true. */
function numericOnly(kind: 'above' | 'below' | 'range' | 'rate', ref: string, catalog: PointCatalog | undefined, path: readonly (string | number)[], problems: ConditionProblem[]): void {
  const type = pointValueType(ref, catalog);
  if (type === undefined || kindOfType(type) === 'number') return;
  const use = type === 'boolean' ? 'use kind "equals" with value true or false' : 'use kind "equals" with a quoted value';
  problems.push({ path, message: `condition kind "${kind}" compares numbers, but ${ref} is ${describePointType(type)}, so it is never true: ${use}` });
}

export interface CompileResult {
  readonly condition?: Condition;
  /** Points read for their value (their loss sends driven outputs to the safe state). */
  readonly valueRefs: Set<string>;
  /** Points whose rate is needed, with the longest window asked for. */
  readonly rateWindows: Map<string, number>;
  readonly anomalyRefs: Set<string>;
  /** Devices judged as a whole (kind bad with a device). */
  readonly deviceRefs: Set<string>;
}

export function checkRef(ref: string | undefined, catalog: PointCatalog | undefined, path: readonly (string | number)[], problems: ConditionProblem[]): boolean {
  if (ref === undefined) return false;
  if (!catalog) return true;
  const { device, point } = splitRef(ref);
  const points = catalog.devices.get(device);
  if (!points) {
    problems.push({ path, message: `unknown device "${device}"${didYouMean(device, catalog.devices.keys())} (devices: ${[...catalog.devices.keys()].join(', ')})` });
    return false;
  }
  if (!points.has(point)) {
    problems.push({ path, message: `device "${device}" has no point "${point}" (or it is disabled)${didYouMean(point, points.keys())}` });
    return false;
  }
  return true;
}

export function compileCondition(config: ConditionConfig, path: readonly (string | number)[], problems: ConditionProblem[], catalog?: PointCatalog): CompileResult {
  const result: CompileResult = { valueRefs: new Set(), rateWindows: new Map(), anomalyRefs: new Set(), deviceRefs: new Set() };
  const condition = build(config, path, problems, catalog, result, 0);
  return condition ? { ...result, condition } : result;
}

function build(c: ConditionConfig, path: readonly (string | number)[], problems: ConditionProblem[], catalog: PointCatalog | undefined, acc: CompileResult, depth: number): Condition | undefined {
  const at = (...more: (string | number)[]): (string | number)[] => [...path, ...more];
  const before = problems.length;
  const need = (field: keyof ConditionConfig): void => {
    if (c[field] === undefined) problems.push({ path: at(field), message: `condition kind "${c.kind}" needs "${field}"` });
  };
  const forbid = (fields: readonly (keyof ConditionConfig)[]): void => {
    for (const f of fields) if (c[f] !== undefined) problems.push({ path: at(f), message: `"${f}" has no meaning for condition kind "${c.kind}"` });
  };
  const pointRef = (): string | undefined => {
    need('point');
    return checkRef(c.point, catalog, at('point'), problems) ? c.point : undefined;
  };
  let inner: Condition | undefined;
  switch (c.kind) {
    case 'above':
    case 'below': {
      const ref = pointRef();
      need('on');
      forbid(['device', 'value', 'min', 'max', 'above', 'below', 'windowS', 'of']);
      const on = c.on ?? 0;
      const off = c.off ?? on;
      if (c.kind === 'above' && off > on) problems.push({ path: at('off'), message: `"off" (${off}) must not be above "on" (${on}) for kind "above": the condition turns off below off` });
      if (c.kind === 'below' && off < on) problems.push({ path: at('off'), message: `"off" (${off}) must not be below "on" (${on}) for kind "below": the condition turns off above off` });
      if (ref) numericOnly(c.kind, ref, catalog, at('point'), problems);
      if (ref) acc.valueRefs.add(ref);
      inner = ref ? threshold(ref, c.kind, on, off) : undefined;
      break;
    }
    case 'equals': {
      const ref = pointRef();
      need('value');
      forbid(['device', 'on', 'off', 'min', 'max', 'above', 'below', 'windowS', 'of']);
      const mismatch = ref && c.value !== undefined ? valueTypeProblem(ref, pointValueType(ref, catalog), c.value, 'never equals it', pointRawType(ref, catalog)) : undefined;
      if (mismatch) problems.push({ path: at('value'), message: mismatch });
      if (ref) acc.valueRefs.add(ref);
      const want = c.value;
      inner = ref && want !== undefined ? stateless((i) => {
        const v = i.value(ref);
        return v === undefined ? undefined : v === want;
      }) : undefined;
      break;
    }
    case 'range': {
      const ref = pointRef();
      if (c.min === undefined && c.max === undefined) problems.push({ path: at('min'), message: 'condition kind "range" needs "min", "max" or both' });
      forbid(['device', 'on', 'off', 'value', 'above', 'below', 'windowS', 'of']);
      if (c.min !== undefined && c.max !== undefined && c.min > c.max) problems.push({ path: at('max'), message: `"max" (${c.max}) is below "min" (${c.min})` });
      if (ref) numericOnly('range', ref, catalog, at('point'), problems);
      if (ref) acc.valueRefs.add(ref);
      const lo = c.min ?? -Infinity;
      const hi = c.max ?? Infinity;
      inner = ref ? stateless((i) => {
        const v = i.value(ref);
        return typeof v !== 'number' ? undefined : v >= lo && v <= hi;
      }) : undefined;
      break;
    }
    case 'rate': {
      const ref = pointRef();
      if (c.above === undefined && c.below === undefined) problems.push({ path: at('above'), message: 'condition kind "rate" needs "above" (rising faster than, per minute) or "below"' });
      forbid(['device', 'on', 'off', 'value', 'min', 'max', 'of']);
      const windowS = c.windowS ?? 300;
      if (ref) numericOnly('rate', ref, catalog, at('point'), problems);
      if (ref) {
        acc.valueRefs.add(ref);
        acc.rateWindows.set(ref, Math.max(acc.rateWindows.get(ref) ?? 0, windowS));
      }
      const { above, below } = c;
      inner = ref ? stateless((i) => {
        const r = i.ratePerMinute(ref, windowS);
        if (r === undefined) return undefined;
        return (above === undefined || r > above) && (below === undefined || r < below);
      }) : undefined;
      break;
    }
    case 'anomaly': {
      const ref = pointRef();
      need('above');
      forbid(['device', 'on', 'off', 'value', 'min', 'max', 'below', 'windowS', 'of']);
      if (c.above !== undefined && (c.above < 0 || c.above > 1)) problems.push({ path: at('above'), message: 'anomaly scores are in [0,1]' });
      if (ref) acc.anomalyRefs.add(ref);
      const level = c.above ?? 1;
      inner = ref ? stateless((i) => {
        const s = i.anomaly(ref);
        return s === undefined ? undefined : s > level;
      }) : undefined;
      break;
    }
    case 'bad': {
      forbid(['on', 'off', 'value', 'min', 'max', 'above', 'below', 'windowS', 'of']);
      if ((c.point === undefined) === (c.device === undefined)) {
        problems.push({ path: at('point'), message: 'condition kind "bad" needs exactly one of "point" or "device"' });
      } else if (c.point !== undefined) {
        const ref = checkRef(c.point, catalog, at('point'), problems) ? c.point : undefined;
        inner = ref ? stateless((i) => i.isBad(ref)) : undefined;
      } else if (c.device !== undefined) {
        const device = c.device;
        if (catalog && !catalog.devices.has(device)) problems.push({ path: at('device'), message: `unknown device "${device}"${didYouMean(device, catalog.devices.keys())}` });
        else {
          acc.deviceRefs.add(device);
          inner = stateless((i) => i.deviceBad(device));
        }
      }
      break;
    }
    case 'all':
    case 'any':
    case 'not': {
      forbid(['point', 'device', 'on', 'off', 'value', 'min', 'max', 'above', 'below', 'windowS']);
      if (depth >= MAX_CONDITION_DEPTH || c.of === undefined) {
        if (c.of === undefined) need('of');
        break;
      }
      if (c.kind === 'not' && c.of.length !== 1) problems.push({ path: at('of'), message: 'condition kind "not" takes exactly one condition in "of"' });
      const children = c.of.map((child, i) => build(child, at('of', i), problems, catalog, acc, depth + 1));
      if (children.every((x): x is Condition => x !== undefined)) inner = combine(c.kind, children);
      break;
    }
    default:
      problems.push({ path: at('kind'), message: `unknown condition kind "${String((c as { kind: unknown }).kind)}"` });
  }
  if (problems.length > before || !inner) return undefined;
  return c.forS !== undefined && c.forS > 0 ? heldFor(inner, c.forS * 1000) : inner;
}

function stateless(fn: (i: ConditionInputs) => Tri): Condition {
  return { evaluate: fn, test: fn, reset: () => undefined };
}

/**
 * A threshold with hysteresis: true past `on`, false only once back past `off` (equal to off
 * keeps it true). Between the two it is what it was, so it remembers across a reading that is
 * missing or bad (unknown meanwhile): a backup compressor holding a cold room through the band
 * is not switched off because one poll timed out. Right after a start (or a reset) in the band,
 * it does not know what it was: unknown, so the rule's `else` does not drive its outputs (a
 * gateway restarting with the room half-way down its band leaves the backup as it is).
 */
function threshold(ref: string, kind: 'above' | 'below', on: number, off: number): Condition {
  let active: boolean | undefined;
  const beyond = (v: number, level: number): boolean => (kind === 'above' ? v > level : v < level);
  return {
    evaluate(i) {
      const v = i.value(ref);
      if (typeof v !== 'number') return undefined;
      if (beyond(v, on)) active = true;
      else if (kind === 'above' ? v < off : v > off) active = false;
      return active;
    },
    test(i) {
      const v = i.value(ref);
      return typeof v === 'number' ? beyond(v, on) : undefined;
    },
    reset() {
      active = undefined;
    },
  };
}

function combine(kind: 'all' | 'any' | 'not', children: Condition[]): Condition {
  const fold = (values: Tri[]): Tri => {
    if (kind === 'not') return values[0] === undefined ? undefined : !values[0];
    const decisive = kind === 'all' ? false : true;
    if (values.includes(decisive)) return decisive;
    return values.includes(undefined) ? undefined : !decisive;
  };
  return {
    // Every child is evaluated every round so their timers and hysteresis stay current.
    evaluate: (i) => fold(children.map((c) => c.evaluate(i))),
    test: (i) => fold(children.map((c) => c.test(i))),
    reset: () => children.forEach((c) => c.reset()),
  };
}

/**
 * True once `inner` has held for `ms`. While it is waiting that out, the condition is what it was
 * before: false after a known false (the room only just warmed), but unknown right after a start
 * or after an unknown input, so a rule's `else` does not drive its outputs (a gateway restarting
 * in a warm cold room must not switch the backup compressor off for `forS`).
 */
function heldFor(inner: Condition, ms: number): Condition {
  let since: number | undefined;
  let before: boolean | undefined;
  return {
    evaluate(i) {
      const v = inner.evaluate(i);
      if (v !== true) {
        since = undefined;
        before = v;
        return v;
      }
      since ??= i.elapsed();
      if (i.elapsed() - since >= ms) return (before = true);
      return before === false ? false : undefined;
    },
    test: (i) => inner.test(i),
    reset() {
      since = undefined;
      before = undefined;
      inner.reset();
    },
  };
}

/** ConditionInputs over a plain reading lookup (interlocks, tests). */
export function snapshotInputs(latest: (device: string, point: string) => Reading | undefined, anomaly?: (ref: string) => number | undefined, now = Date.now()): ConditionInputs {
  const good = (ref: string): Reading | undefined => {
    const { device, point } = splitRef(ref);
    const r = latest(device, point);
    return r && r.quality === 'good' && r.value !== null ? r : undefined;
  };
  return {
    now: () => now,
    elapsed: () => now,
    value: (ref) => good(ref)?.value ?? undefined,
    isBad: (ref) => good(ref) === undefined,
    deviceBad: () => false,
    ratePerMinute: () => undefined,
    anomaly: (ref) => anomaly?.(ref),
  };
}
