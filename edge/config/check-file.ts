/**
 * The whole check of a gateway config file: schema, profiles, driver manifests, then the rules,
 * interlocks, analytics and advisor that refer to its devices and points. `swarmgate edge check`
 * and remote configuration from the hub use this one function, so both accept the same files.
 */
import type { ConfigProblem } from '../../shared/config-file.js';
import { checkLocalDecisions } from '../advisor/index.js';
import type { DriverRegistry } from '../drivers/registry.js';
import { checkConfig, type LoadedConfig } from './load.js';

export interface FileCheck {
  /** Present when there are no problems at all. */
  readonly loaded?: LoadedConfig;
  readonly problems: readonly ConfigProblem[];
}

export function checkGatewayConfigFile(file: string, registry: DriverRegistry): FileCheck {
  const checked = checkConfig(file, registry);
  const { loaded } = checked;
  // Local decisions refer to devices and points: checked once those resolve.
  const problems = [...checked.problems, ...(loaded ? checkLocalDecisions(loaded) : [])];
  return problems.length === 0 && loaded ? { loaded, problems } : { problems };
}
