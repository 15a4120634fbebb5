/**
 * Local rules, interlocks and the Reporter the local decision layer reports through.
 * Wiring (see edge/decisions/local-decisions.ts for the whole layer):
 *   const guard = createInterlockGuard(loaded);            // before the Gateway
 *   const gateway = new Gateway({ loaded, registry, guards: guard ? [guard] : [] });
 *   const engine = new RuleEngine({ gateway, config: loaded.config.rules, reporter, anomaly: (d, p) => monitor.score(d, p) });
 *   engine.start(); ... await engine.stop();
 */
import { SwarmgateError } from '../../../shared/kit/errors.js';
import type { GatewayConfigView, WriteGuard } from '../../runtime/ports.js';
import { catalogOf } from './compile.js';
import type { ConditionProblem } from './conditions.js';
import { compileInterlocks, interlockGuard } from './interlocks.js';
import type { RulesConfig } from './schema.js';

export { RuleEngine, type RuleEngineOptions, type RuleStatus, type OutputStatus } from './engine.js';
export { compileRules, catalogOf, type CompiledRules, type CompiledRule, type CompiledOutput } from './compile.js';
export { compileCondition, snapshotInputs, type Condition, type ConditionInputs, type ConditionProblem, type Tri } from './conditions.js';
export { checkInterlocks, compileInterlocks, interlockGuard, type CompiledInterlock, type LatestLookup } from './interlocks.js';
export { loggingReporter, teeReporter, MemoryReporter, makeEvent, type Reporter, type EventInput } from './reporter.js';
export type { GatewayPort } from '../../runtime/ports.js';
export { RulesConfigSchema, RuleSchema, ConditionSchema, ActionSchema, OutputSchema, InterlockSchema, PointRefSchema, splitRef } from './schema.js';
export type { RulesConfig, RuleConfig, ConditionConfig, ActionConfig, OutputConfig, InterlockConfig } from './schema.js';

/**
 * The interlock WriteGuard for a loaded config (undefined when it has no interlocks). Pass it to
 * the Gateway so every write — hub command, rule, advisor — is checked. Throws
 * SWG_ERR_CONFIG_INVALID when an interlock names an unknown or read-only point.
 */
export function createInterlockGuard(loaded: GatewayConfigView): WriteGuard | undefined {
  const rules = (loaded.config as { rules?: RulesConfig }).rules;
  if (!rules?.interlocks?.length) return undefined;
  const problems: ConditionProblem[] = [];
  const compiled = compileInterlocks(rules.interlocks, problems, catalogOf(loaded.devices));
  if (problems.length > 0) {
    const lines = problems.map((p) => `rules.${p.path.join('.')}: ${p.message}`);
    throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `${lines.length} problem(s) in the interlocks:\n${lines.join('\n')}`, { details: { problems: lines } });
  }
  return interlockGuard(compiled);
}
