/**
 * Strategy instances from the advisor config: kind looked up in the registry, every role bound to
 * an existing point (written roles to writable ones), parameters known and of the right type.
 */
import type { ConditionProblem, PointCatalog } from '../rules/conditions.js';
import { checkRef } from '../rules/conditions.js';
import { splitRef } from '../rules/schema.js';
import { kindOfType } from '../../drivers/driver.js';
import { describePointType } from '../rules/value-types.js';
import type { AdvisorConfig } from './schema.js';
import type { ParamValue, Strategy } from './strategy.js';
import { STRATEGIES } from './strategies/index.js';

export interface StrategyInstance {
  readonly name: string;
  readonly strategy: Strategy;
  readonly actionClass: string;
  readonly bindings: ReadonlyMap<string, { readonly ref: string; readonly device: string; readonly point: string }>;
  readonly params: Readonly<Record<string, ParamValue>>;
}

export function compileStrategies(
  config: AdvisorConfig | undefined,
  catalog: PointCatalog | undefined,
  registry: ReadonlyMap<string, Strategy> = STRATEGIES,
): { instances: StrategyInstance[]; problems: ConditionProblem[] } {
  const problems: ConditionProblem[] = [];
  const instances: StrategyInstance[] = [];
  const names = new Set<string>();
  (config?.strategies ?? []).forEach((s, i) => {
    const at = ['strategies', i];
    const name = s.name ?? s.kind;
    const who = `strategy "${name}"`;
    const before = problems.length;
    if (names.has(name)) problems.push({ path: [...at, 'name'], message: `${who}: duplicate name; give each instance of a kind its own "name"` });
    names.add(name);
    const strategy = registry.get(s.kind);
    if (!strategy) {
      problems.push({ path: [...at, 'kind'], message: `${who}: unknown strategy kind "${s.kind}" (known: ${[...registry.keys()].join(', ')})` });
      return;
    }
    const known = new Set([...strategy.roles.required, ...strategy.roles.optional]);
    for (const role of strategy.roles.required) {
      if (s.bindings[role] === undefined) problems.push({ path: [...at, 'bindings'], message: `${who}: role "${role}" must be bound to a point (device/point)` });
    }
    const bindings = new Map<string, { ref: string; device: string; point: string }>();
    for (const [role, ref] of Object.entries(s.bindings)) {
      if (!known.has(role)) {
        problems.push({ path: [...at, 'bindings', role], message: `${who}: unknown role "${role}" (roles: ${[...known].join(', ')})` });
        continue;
      }
      const scoped: ConditionProblem[] = [];
      if (!checkRef(ref, catalog, [...at, 'bindings', role], scoped)) {
        problems.push(...scoped.map((p) => ({ ...p, message: `${who}: ${p.message}` })));
        continue;
      }
      const { device, point } = splitRef(ref);
      if (strategy.roles.written.includes(role) && catalog && !catalog.devices.get(device)?.get(point)?.writable) {
        problems.push({ path: [...at, 'bindings', role], message: `${who}: role "${role}" is written by the advisor but ${ref} is read-only` });
        continue;
      }
      const type = catalog?.devices.get(device)?.get(point)?.valueType;
      const kind = strategy.roles.kinds[role];
      if (type !== undefined && kind !== undefined && kindOfType(type) !== kind) {
        problems.push({ path: [...at, 'bindings', role], message: `${who}: role "${role}" takes a ${kind} point, but ${ref} is ${describePointType(type)}` });
        continue;
      }
      bindings.set(role, { ref, device, point });
    }
    const params: Record<string, ParamValue> = { ...strategy.defaults };
    for (const [key, value] of Object.entries(s.params ?? {})) {
      const dflt = strategy.defaults[key];
      if (dflt === undefined) problems.push({ path: [...at, 'params', key], message: `${who}: unknown parameter "${key}" (parameters: ${Object.keys(strategy.defaults).join(', ')})` });
      else if (typeof dflt !== typeof value) problems.push({ path: [...at, 'params', key], message: `${who}: parameter "${key}" must be a ${typeof dflt}` });
      else params[key] = value;
    }
    if (problems.length > before || s.enabled === false) return;
    instances.push({ name, strategy, actionClass: s.actionClass ?? strategy.actionClass, bindings, params });
  });
  return { instances, problems };
}
