/**
 * The advisor (optimisation loop with confidence routing) and the one-call wiring of the whole
 * local decision layer (startLocalDecisions).
 */
export { Advisor, slopePerHour, type AdvisorOptions, type AnomalySource, type Recommendation, type RoutedRecommendation, type Outcome } from './advisor.js';
export { startLocalDecisions, type LocalDecisions, type LocalDecisionOptions } from './local-decisions.js';
export { checkLocalDecisions, localDecisionProblems, localSections, type LocalDecisionSections } from './check.js';
export { compileStrategies, type StrategyInstance } from './instances.js';
export { STRATEGIES } from './strategies/index.js';
export type { Strategy, StrategyContext, StrategyProposal, Observation, AnomalyEvidence, ParamValue } from './strategy.js';
export { AdvisorConfigSchema, AnalyticsConfigSchema, AnalyticsPointSchema, StrategyConfigSchema, ActionClassPolicySchema } from './schema.js';
export type { AdvisorConfig, AnalyticsConfig, AnalyticsPointConfig, StrategyConfig, ActionClassPolicy } from './schema.js';
