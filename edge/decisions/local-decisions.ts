/**
 * One call that starts the whole local decision layer from the gateway's config — anomaly
 * monitor, rule engine, advisor — wired to each other and to one Reporter. Used by
 * `swarmgate edge`; each part can also be built on its own.
 */
import { join } from 'node:path';
import { SwarmgateError } from '../../shared/kit/errors.js';
import { RuleEngine } from './rules/engine.js';
import type { GatewayPort } from '../runtime/ports.js';
import { loggingReporter, type Reporter } from './rules/reporter.js';
import { AnomalyMonitor } from './anomaly-monitor.js';
import { Advisor } from './advisor/advisor.js';
import { localDecisionProblems, localSections } from './check.js';

export interface LocalDecisions {
  readonly monitor?: AnomalyMonitor;
  readonly rules?: RuleEngine;
  readonly advisor?: Advisor;
  /** Stops the advisor, then the rules, then the monitor (which saves its models). */
  stop(): Promise<void>;
}

export interface LocalDecisionOptions {
  /** A started (or starting) Gateway. Interlocks are not here: pass createInterlockGuard(loaded) to the Gateway. */
  readonly gateway: GatewayPort;
  /** Default: loggingReporter(gateway.log) (no hub). */
  readonly reporter?: Reporter;
}

export async function startLocalDecisions(options: LocalDecisionOptions): Promise<LocalDecisions> {
  const { gateway } = options;
  const loaded = gateway.config;
  const sections = localSections(loaded);
  const problems = localDecisionProblems(loaded, sections);
  if (problems.length > 0) {
    const lines = problems.map((p) => `${p.path.join('.')}: ${p.message}`);
    throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `${lines.length} problem(s) in ${loaded.file}:\n${lines.join('\n')}`, { details: { problems: lines } });
  }
  const reporter = options.reporter ?? loggingReporter(gateway.log);
  const { analytics, rules, advisor } = sections;
  const monitor =
    analytics && analytics.enabled !== false && analytics.points.length > 0
      ? await AnomalyMonitor.start({ gateway, config: analytics, reporter, dataDir: loaded.dataDir })
      : undefined;
  let engine: RuleEngine | undefined;
  let adv: Advisor | undefined;
  try {
    if (rules && rules.enabled !== false && (rules.list?.length ?? 0) > 0) {
      engine = new RuleEngine({ gateway, config: rules, reporter, historyFile: join(loaded.dataDir, 'rule-writes.json'), ...(monitor ? { anomaly: (d: string, p: string) => monitor.score(d, p) } : {}) });
      engine.start();
    }
    if (advisor && advisor.enabled !== false && advisor.strategies.length > 0) {
      adv = new Advisor({ gateway, config: advisor, reporter, ...(monitor ? { anomaly: monitor } : {}) });
      adv.start();
    }
  } catch (err) {
    await engine?.stop();
    await monitor?.stop();
    throw err;
  }
  return {
    ...(monitor ? { monitor } : {}),
    ...(engine ? { rules: engine } : {}),
    ...(adv ? { advisor: adv } : {}),
    async stop() {
      await adv?.stop();
      await engine?.stop();
      await monitor?.stop();
    },
  };
}
