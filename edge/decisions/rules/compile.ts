/**
 * Rules config → executable rules, with every semantic problem the schema cannot see: unknown
 * devices/points, writes to read-only points, values of the wrong type for the point or outside
 * its limits, kinds missing
 * their fields, duplicate names. Problems carry the field path inside the `rules` section and
 * name the rule, so the config checker can point at file and line.
 */
import type { DeviceSpec, PointValue } from '../../drivers/driver.js';
import { checkRef, compileCondition, pointRawType, pointValueType, type CatalogPoint, type Condition, type ConditionProblem, type PointCatalog } from './conditions.js';
import { compileInterlocks, type CompiledInterlock } from './interlocks.js';
import { splitRef, type ActionConfig, type RulesConfig } from './schema.js';
import { valueTypeProblem } from './value-types.js';

export interface RuleEvent {
  readonly message: string;
  readonly severity: 'info' | 'warning' | 'critical';
}

export interface CompiledRule {
  readonly name: string;
  readonly index: number;
  readonly priority: number;
  readonly condition: Condition;
  readonly thenWrites: ReadonlyMap<string, PointValue>;
  readonly elseWrites: ReadonlyMap<string, PointValue>;
  readonly thenEvents: readonly RuleEvent[];
  readonly elseEvents: readonly RuleEvent[];
  /** Points whose loss makes this rule's writes unsafe. */
  readonly inputs: ReadonlySet<string>;
  readonly rateWindows: ReadonlyMap<string, number>;
}

export interface CompiledOutput {
  readonly ref: string;
  readonly device: string;
  readonly point: string;
  readonly safeValue?: PointValue;
  readonly rateLimit?: { readonly max: number; readonly periodMs: number };
  readonly inputs: ReadonlySet<string>;
  /** Written again when it drifts (RuleEngine); false when its read-back differs by design. */
  readonly reassert: boolean;
}

export interface CompiledRules {
  readonly rules: readonly CompiledRule[];
  readonly outputs: readonly CompiledOutput[];
  readonly interlocks: readonly CompiledInterlock[];
  readonly problems: readonly ConditionProblem[];
}

export function catalogOf(devices: readonly DeviceSpec[]): PointCatalog & { limits(ref: string): { min?: number; max?: number } | undefined } {
  const map = new Map(
    devices.map((d) => [d.id, new Map(d.points.map((p): [string, CatalogPoint] => [p.name, { writable: p.writable, limits: p.limits, ...(p.valueType !== undefined ? { valueType: p.valueType } : {}), ...(p.rawType !== undefined ? { rawType: p.rawType } : {}) }]))]),
  );
  return {
    devices: map,
    limits(ref) {
      const { device, point } = splitRef(ref);
      return map.get(device)?.get(point)?.limits;
    },
  };
}

export function compileRules(config: RulesConfig | undefined, devices: readonly DeviceSpec[] | undefined): CompiledRules {
  const problems: ConditionProblem[] = [];
  const catalog = devices ? catalogOf(devices) : undefined;
  const rules: CompiledRule[] = [];
  const names = new Set<string>();
  const written = new Map<string, Set<string>>();

  const checkValue = (ref: string, value: PointValue, path: (string | number)[], who: string): void => {
    const mismatch = valueTypeProblem(ref, pointValueType(ref, catalog), value, 'cannot be written to it', pointRawType(ref, catalog));
    if (mismatch) {
      problems.push({ path, message: `${who}: ${mismatch}` });
      return;
    }
    const limits = catalog?.limits(ref);
    if (typeof value === 'number' && limits && ((limits.min !== undefined && value < limits.min) || (limits.max !== undefined && value > limits.max))) {
      problems.push({ path, message: `${who}: ${value} is outside the limits of ${ref} [${limits.min ?? '-inf'}, ${limits.max ?? '+inf'}]` });
    }
  };
  const writableRef = (ref: string, path: (string | number)[], who: string): boolean => {
    const scoped: ConditionProblem[] = [];
    if (!checkRef(ref, catalog, path, scoped)) {
      problems.push(...scoped.map((p) => ({ ...p, message: `${who}: ${p.message}` })));
      return false;
    }
    const { device, point } = splitRef(ref);
    if (catalog && !catalog.devices.get(device)?.get(point)?.writable) {
      problems.push({ path, message: `${who}: ${ref} is read-only; a rule can only write writable points` });
      return false;
    }
    return true;
  };
  const actions = (list: readonly ActionConfig[] | undefined, path: (string | number)[], who: string) => {
    const writes = new Map<string, PointValue>();
    const events: RuleEvent[] = [];
    (list ?? []).forEach((a, i) => {
      const at = [...path, i];
      if ((a.write === undefined) === (a.event === undefined)) {
        problems.push({ path: at, message: `${who}: an action is either { write, value } or { event }` });
        return;
      }
      if (a.write !== undefined) {
        if (a.value === undefined) problems.push({ path: [...at, 'value'], message: `${who}: write ${a.write} needs "value"` });
        if (a.severity !== undefined) problems.push({ path: [...at, 'severity'], message: `${who}: "severity" belongs to event actions` });
        if (writes.has(a.write)) problems.push({ path: [...at, 'write'], message: `${who}: ${a.write} is written twice in the same action list` });
        if (writableRef(a.write, [...at, 'write'], who) && a.value !== undefined) {
          checkValue(a.write, a.value, [...at, 'value'], who);
          writes.set(a.write, a.value);
        }
      } else if (a.event !== undefined) {
        if (a.value !== undefined) problems.push({ path: [...at, 'value'], message: `${who}: "value" belongs to write actions` });
        events.push({ message: a.event, severity: a.severity ?? 'warning' });
      }
    });
    return { writes, events };
  };

  (config?.list ?? []).forEach((r, index) => {
    const at: (string | number)[] = ['list', index];
    const who = `rule "${r.name}"`;
    if (names.has(r.name)) problems.push({ path: [...at, 'name'], message: `duplicate rule name "${r.name}"` });
    names.add(r.name);
    const scoped: ConditionProblem[] = [];
    const compiled = compileCondition(r.when, [...at, 'when'], scoped, catalog);
    problems.push(...scoped.map((p) => ({ ...p, message: `${who}: ${p.message}` })));
    const then = actions(r.then, [...at, 'then'], who);
    const otherwise = actions(r.else, [...at, 'else'], who);
    if (r.enabled === false) return;
    // Also when its condition has problems: an output it writes is not "written by no rule" on top of them.
    for (const ref of [...then.writes.keys(), ...otherwise.writes.keys()]) {
      const by = written.get(ref) ?? new Set<string>();
      by.add(r.name);
      written.set(ref, by);
    }
    if (!compiled.condition) return;
    rules.push({
      name: r.name,
      index,
      priority: r.priority ?? 0,
      condition: compiled.condition,
      thenWrites: then.writes,
      elseWrites: otherwise.writes,
      thenEvents: then.events,
      elseEvents: otherwise.events,
      inputs: new Set([...compiled.valueRefs, ...compiled.anomalyRefs]),
      rateWindows: compiled.rateWindows,
    });
  });

  const outputs = new Map<string, CompiledOutput>();
  const configured = new Set<string>();
  (config?.outputs ?? []).forEach((o, i) => {
    const at: (string | number)[] = ['outputs', i];
    const who = `output ${o.point}`;
    if (configured.has(o.point)) problems.push({ path: [...at, 'point'], message: `${who} is listed twice` });
    configured.add(o.point);
    if (!writableRef(o.point, [...at, 'point'], who)) return;
    if (o.safeValue !== undefined) checkValue(o.point, o.safeValue, [...at, 'safeValue'], who);
    if (!written.has(o.point)) problems.push({ path: [...at, 'point'], message: `${who} is not written by any enabled rule, so its safe state would never be used` });
    for (const [j, ref] of (o.inputs ?? []).entries()) checkRef(ref, catalog, [...at, 'inputs', j], problems);
  });
  for (const ref of written.keys()) {
    const o = config?.outputs?.find((x) => x.point === ref);
    const drivers = rules.filter((r) => r.thenWrites.has(ref) || r.elseWrites.has(ref));
    const inputs = new Set<string>([...drivers.flatMap((r) => [...r.inputs]), ...(o?.inputs ?? [])]);
    inputs.delete(ref);
    const { device, point } = splitRef(ref);
    outputs.set(ref, {
      ref,
      device,
      point,
      ...(o?.safeValue !== undefined ? { safeValue: o.safeValue } : {}),
      ...(o?.rateLimit ? { rateLimit: { max: o.rateLimit.max, periodMs: o.rateLimit.periodS * 1000 } } : {}),
      inputs,
      reassert: o?.reassert !== false,
    });
  }

  const interlocks = compileInterlocks(config?.interlocks ?? [], problems, catalog);
  return { rules, outputs: [...outputs.values()], interlocks, problems };
}
