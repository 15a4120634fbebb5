/**
 * The whole gateway process: the gateway core plus whatever the config turns on around it
 * (federation with the hub). `swarmgate edge` and the demo start it the same way.
 */
import type { Logger } from 'pino';
import { packageVersion } from '../shared/package-info.js';
import type { LoadedConfig } from './config/load.js';
import type { Reading } from './drivers/driver.js';
import type { DriverRegistry } from './drivers/registry.js';
import { federationGateway, startFederation, type Federation } from './federation/index.js';
import { Gateway } from './runtime/gateway.js';

export interface EdgeApp {
  readonly gateway: Gateway;
  readonly federation?: Federation;
  stop(force?: boolean): Promise<void>;
}

export interface EdgeAppOptions {
  readonly log?: Logger;
  /** Registered before the first poll, so no reading is missed (e.g. `edge --print`). */
  readonly onReport?: (reading: Reading) => void;
}

export async function startEdgeApp(loaded: LoadedConfig, registry: DriverRegistry, options: EdgeAppOptions = {}): Promise<EdgeApp> {
  const gateway = new Gateway({ loaded, registry, ...(options.log ? { log: options.log } : {}) });
  if (options.onReport) gateway.onReport(options.onReport);
  let federation: Federation | undefined;
  if (loaded.config.federation) {
    // Federation first: the outbox must be listening before the first reading is reported.
    federation = await startFederation({
      gateway: federationGateway(gateway),
      config: loaded.config.federation,
      dataDir: loaded.dataDir,
      log: gateway.log.child({ part: 'federation' }),
      registry: gateway.metrics.registry,
      version: packageVersion(),
    });
  }
  await gateway.start();
  return {
    gateway,
    federation,
    async stop(force = false) {
      await gateway.stop(force);
      await federation?.stop();
    },
  };
}
