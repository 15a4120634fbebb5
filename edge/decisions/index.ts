/**
 * The gateway's local decision layer: rules and interlocks (rules/), the advisor (advisor/), the
 * anomaly monitor, and the one-call wiring of all three (startLocalDecisions). It reaches the
 * gateway only through the ports in edge/runtime/ports.ts.
 */
export { startLocalDecisions, type LocalDecisions, type LocalDecisionOptions } from './local-decisions.js';
export { checkLocalDecisions, localDecisionProblems, localSections, type LocalDecisionSections } from './check.js';
export { AnomalyMonitor } from './anomaly-monitor.js';
