/**
 * Semantic checks of the local decision sections (rules, analytics, advisor) against the devices
 * of a loaded config, as ConfigProblems with file, line and column — the same shape the config
 * loader reports schema errors in, so `swarmgate edge check` can print them together.
 */
import type { GatewayConfigView } from '../runtime/ports.js';
import { SourceFile, type ConfigProblem } from '../../shared/kit/config-file.js';
import type { ConditionProblem } from './rules/conditions.js';
import { catalogOf, compileRules } from './rules/compile.js';
import { checkRef } from './rules/conditions.js';
import type { RulesConfig } from './rules/schema.js';
import { compileStrategies } from './advisor/instances.js';
import type { AnalyticsConfig } from '../analytics/schema.js';
import type { AdvisorConfig } from './advisor/schema.js';

export interface LocalDecisionSections {
  readonly rules?: RulesConfig;
  readonly analytics?: AnalyticsConfig;
  readonly advisor?: AdvisorConfig;
  /** Only whether it is there: fleet learning goes through the hub. */
  readonly federation?: unknown;
}

/** The three optional sections of a loaded config (present once schema.ts declares them). */
export function localSections(loaded: GatewayConfigView): LocalDecisionSections {
  return loaded.config as unknown as LocalDecisionSections;
}

/** Problems with paths relative to the config root, without positions. */
export function localDecisionProblems(loaded: Pick<GatewayConfigView, 'devices'>, sections: LocalDecisionSections): ConditionProblem[] {
  const problems: ConditionProblem[] = [];
  const catalog = catalogOf(loaded.devices);
  if (sections.rules) {
    problems.push(...compileRules(sections.rules, loaded.devices).problems.map((p) => ({ ...p, path: ['rules', ...p.path] })));
  }
  if (sections.analytics) {
    const seen = new Set<string>();
    sections.analytics.points.forEach((p, i) => {
      const path = ['analytics', 'points', i, 'point'];
      if (seen.has(p.point)) problems.push({ path, message: `${p.point} is listed twice` });
      seen.add(p.point);
      checkRef(p.point, catalog, path, problems);
    });
    const fleet = sections.analytics.fleetLearning;
    if (fleet && (fleet.share || fleet.use) && !sections.federation) {
      problems.push({ path: ['analytics', 'fleetLearning'], message: `${fleet.share ? 'share' : 'use'}: true needs a federation section (priors go to and come from the hub)` });
    }
  }
  if (sections.advisor) {
    problems.push(...compileStrategies(sections.advisor, catalog).problems.map((p) => ({ ...p, path: ['advisor', ...p.path] })));
  }
  return problems;
}

/** Semantic problems of rules/analytics/advisor, positioned in the config file. */
export function checkLocalDecisions(loaded: GatewayConfigView): ConfigProblem[] {
  const problems = localDecisionProblems(loaded, localSections(loaded));
  if (problems.length === 0) return [];
  const { source } = SourceFile.read(loaded.file);
  return problems.map((p) =>
    source ? source.problem(p.path, p.message) : { file: loaded.file, line: 1, column: 1, path: p.path.join('.'), message: p.message },
  );
}
