/**
 * The whole check of a gateway config file: schema, profiles, driver manifests, then the rules,
 * interlocks, analytics and advisor that refer to its devices and points. `swarmgate edge check`
 * and remote configuration from the hub use this one function, so both accept the same files.
 *
 * A file with problems is still checked as far as its valid parts allow, so one run reports every
 * problem: references are checked against the devices whose profiles resolved, in the sections
 * that pass their schema; references to devices that did not resolve are left for the next run.
 */
import { resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import type { TSchema } from '@sinclair/typebox';
import { SourceFile, type ConfigProblem } from '../../shared/kit/config-file.js';
import { checkLocalDecisions, localDecisionProblems, type LocalDecisionSections } from '../decisions/check.js';
import { AnalyticsConfigSchema } from '../analytics/schema.js';
import { AdvisorConfigSchema } from '../decisions/advisor/schema.js';
import type { DriverRegistry } from '../drivers/registry.js';
import { RulesConfigSchema } from '../decisions/rules/schema.js';
import { checkConfig, type LoadedConfig, type PartialConfig } from './load.js';

export interface FileCheck {
  /** Present when there are no problems at all. */
  readonly loaded?: LoadedConfig;
  readonly problems: readonly ConfigProblem[];
}

export function checkGatewayConfigFile(file: string, registry: DriverRegistry): FileCheck {
  const checked = checkConfig(file, registry);
  const { loaded, partial } = checked;
  // Local decisions refer to devices and points: checked against every device that resolved.
  const references = loaded ? checkLocalDecisions(loaded) : partial ? partialReferenceProblems(resolve(file), partial) : [];
  const problems = [...checked.problems, ...references];
  return problems.length === 0 && loaded ? { loaded, problems } : { problems };
}

/** A section as the checks after the schema see it (defaults filled in), or undefined when it fails its schema. */
function validSection<T>(schema: TSchema, value: unknown): T | undefined {
  if (value === undefined) return undefined;
  const withDefaults: unknown = Value.Default(schema, structuredClone(value));
  return Value.Check(schema, withDefaults) ? (withDefaults as T) : undefined;
}

function partialReferenceProblems(configFile: string, partial: PartialConfig): ConfigProblem[] {
  const sections: LocalDecisionSections = {
    ...optional('rules', validSection<NonNullable<LocalDecisionSections['rules']>>(RulesConfigSchema, partial.raw.rules)),
    ...optional('analytics', validSection<NonNullable<LocalDecisionSections['analytics']>>(AnalyticsConfigSchema, partial.raw.analytics)),
    ...optional('advisor', validSection<NonNullable<LocalDecisionSections['advisor']>>(AdvisorConfigSchema, partial.raw.advisor)),
  };
  const problems = localDecisionProblems(partial, sections).filter((p) => !refersToUnresolved(partial, p.path));
  if (problems.length === 0) return [];
  const { source } = SourceFile.read(configFile);
  return problems.map((p) => (source ? source.problem(p.path, p.message) : { file: configFile, line: 1, column: 1, path: p.path.join('.'), message: p.message }));
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** Whether the value at a problem's path names a device ("device" or "device/point") whose points are unknown. */
function refersToUnresolved(partial: PartialConfig, path: readonly (string | number)[]): boolean {
  let value: unknown = partial.raw;
  for (const segment of path) {
    if (typeof value !== 'object' || value === null) return false;
    value = (value as Record<string | number, unknown>)[segment];
  }
  if (typeof value !== 'string') return false;
  return partial.unresolved.has(value.split('/')[0] ?? value);
}
