/** The advisor: the optimisation loop with confidence routing. */
export { Advisor, slopePerHour, type AdvisorOptions, type AnomalySource, type Recommendation, type RoutedRecommendation, type Outcome } from './advisor.js';
export { compileStrategies, type StrategyInstance } from './instances.js';
export { STRATEGIES } from './strategies/index.js';
export type { Strategy, StrategyContext, StrategyProposal, Observation, AnomalyEvidence, ParamValue } from './strategy.js';
export { AdvisorConfigSchema, StrategyConfigSchema, ActionClassPolicySchema } from './schema.js';
export type { AdvisorConfig, StrategyConfig, ActionClassPolicy } from './schema.js';
