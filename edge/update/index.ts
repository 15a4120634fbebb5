/**
 * The updater wired to a gateway's federation: desired updates arrive on update/desired (retained,
 * so an offline gateway gets it on connect), statuses leave on update/status through the outbox.
 * edge/app.ts starts it when the config has an `update:` section; test gateways start it the same way.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { packageRoot, packageVersion } from '../../shared/kit/package-info.js';
import { UpdateStatusSchema, encode, gatewayTopic, type UpdateStatus } from '../../shared/wire/index.js';
import type { Federation } from '../federation/index.js';
import type { UpdateHealthProbe } from './health-gate.js';
import type { UpdateSettings } from './schema.js';
import { Updater, type UpdaterOptions } from './updater.js';

export { UpdateConfigSchema, updateSettings, type UpdateConfig, type UpdateSettings } from './schema.js';
export { Updater, type UpdateReport } from './updater.js';
export { GUARD_FILE, writeStartGuard } from './guard.js';
export type { UpdateHealthProbe, UpdateHealthSample } from './health-gate.js';

export interface StartUpdaterOptions {
  readonly site: string;
  readonly gateway: string;
  readonly federation: Pick<Federation, 'outbox' | 'publisher'>;
  readonly settings: UpdateSettings;
  readonly probe: UpdateHealthProbe;
  readonly restart: (reason: string) => void;
  readonly log: Logger;
  readonly clock?: () => number;
  readonly tuning?: Pick<UpdaterOptions, 'healthIntervalMs' | 'downloadAttempts' | 'retryDelayMs' | 'onStep'>;
}

export function startUpdater(options: StartUpdaterOptions): Updater {
  const { federation, site, gateway } = options;
  const clock = options.clock ?? Date.now;
  const statusTopic = gatewayTopic(site, gateway, 'update/status');
  const updater = new Updater({
    settings: options.settings,
    probe: options.probe,
    restart: options.restart,
    log: options.log,
    clock,
    ...options.tuning,
    report: (r) => {
      const status: UpdateStatus = { v: 1, gateway, ts: clock(), ...r };
      federation.outbox.enqueue(statusTopic, 'other', encode(UpdateStatusSchema, status));
    },
  });
  updater.start();
  federation.publisher.subscribe(gatewayTopic(site, gateway, 'update/desired'), 1, (_topic, payload) => void updater.handle(payload));
  return updater;
}

/** The health probe of a gateway process: the federation link, device states, outbox depth, health agent. */
export function gatewayProbe(parts: {
  readonly federation: Pick<Federation, 'outbox' | 'publisher'>;
  deviceStates(): Readonly<Record<string, { readonly state: string }>>;
  healthStatus?(): 'ok' | 'warn' | 'critical' | 'pending' | undefined;
}): UpdateHealthProbe {
  return {
    sample: () => {
      const status = parts.healthStatus?.();
      return { connected: parts.federation.publisher.connected, devices: parts.deviceStates(), outboxMessages: parts.federation.outbox.stats().messages, ...(status ? { status } : {}) };
    },
  };
}

/**
 * The version this process runs: the release it was installed as (the updater writes the manifest
 * into each release folder as .swarmgate-release.json), else package.json's version (a checkout).
 */
export function runningVersion(root: string = packageRoot()): string {
  try {
    const manifest = JSON.parse(readFileSync(join(root, '.swarmgate-release.json'), 'utf8')) as { version?: unknown };
    if (typeof manifest.version === 'string' && manifest.version.length > 0) return manifest.version;
  } catch {
    // not an installed release
  }
  return packageVersion();
}
