/**
 * The whole gateway process: the gateway core plus whatever the config turns on around it —
 * interlocks on every write, federation with the hub, and the local decision layer (anomaly
 * monitor, rules, advisor). `swarmgate edge` and the demo start it the same way.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { startLocalDecisions, type LocalDecisions } from './decisions/index.js';
import { checkGatewayConfigFile } from './config/check-file.js';
import type { LoadedConfig } from './config/load.js';
import type { Reading } from './drivers/driver.js';
import type { DriverRegistry } from './drivers/registry.js';
import { federationGateway, startFederation, type Federation } from './federation/index.js';
import { FleetPriors, fleetKeys } from './federation/fleet-priors.js';
import { createInterlockGuard, loggingReporter, teeReporter, type Reporter } from './decisions/rules/index.js';
import { registerAnalyticsMetrics } from './analytics/metrics.js';
import { Gateway } from './runtime/gateway.js';
import { openServiceNotifier, watchdogTimeoutMs, type NotifyEnvironment, type ServiceNotifier } from './runtime/systemd-notify.js';
import { HealthAgent, type HealthHost } from './health/agent.js';
import { healthLimits } from './health/schema.js';
import { startWatchdog, type ProgressSource, type Watchdog } from './runtime/watchdog.js';
import { gatewayProbe, runningVersion, startUpdater, updateSettings, type Updater } from './update/index.js';
import { dirname, isAbsolute, resolve } from 'node:path';

export interface EdgeApp {
  readonly gateway: Gateway;
  readonly federation?: Federation;
  readonly local: LocalDecisions;
  /** The health agent (absent with `health: { enabled: false }`). */
  readonly health?: HealthAgent;
  /** The software updater (present with an `update:` section and federation). */
  readonly updater?: Updater;
  stop(force?: boolean): Promise<void>;
}

export interface EdgeAppOptions {
  readonly log?: Logger;
  /** Registered before the first poll (no reading is missed) and after the outbox (e.g. `edge --print`). */
  readonly onReport?: (reading: Reading) => void;
  /**
   * The hub installed a new config file (remote configuration, loaded.file replaced): stop the app
   * and start it again. Without it the gateway logs that a restart is needed.
   */
  readonly onRestart?: (version: number) => void;
  /**
   * The updater switched `current` (to a new release, or back after a failed health check): stop
   * and start again from `current`. Without it the gateway logs that a restart is needed.
   */
  readonly onUpdateRestart?: (reason: string) => void;
  /**
   * Where events and review requests go besides the hub. Default: the log (JSON lines); the demo
   * prints what reaches its hub instead.
   */
  readonly reporter?: Reporter;
  /**
   * Where the service manager's settings are read ($NOTIFY_SOCKET, $WATCHDOG_USEC, $WATCHDOG_PID);
   * default process.env. Under systemd (Type=notify) the gateway reports READY=1 once its devices
   * are started and pets WatchdogSec= while it makes progress (runtime/watchdog.ts).
   */
  readonly env?: NotifyEnvironment;
}

/** `3/4 devices up` for STATUS=. */
function devicesSummary(gateway: Gateway): string {
  const states = Object.values(gateway.deviceStates());
  return `${states.filter((s) => s.state === 'up').length}/${states.length} devices up`;
}

export async function startEdgeApp(loaded: LoadedConfig, registry: DriverRegistry, options: EdgeAppOptions = {}): Promise<EdgeApp> {
  const guard = createInterlockGuard(loaded);
  const gateway = new Gateway({ loaded, registry, guards: guard ? [guard] : [], ...(options.log ? { log: options.log } : {}) });
  // Before anything starts: a Type=notify unit we cannot answer fails now, with the reason.
  const notifier = openServiceNotifier(options.env ?? process.env, gateway.log.child({ part: 'service' }));
  let health: HealthAgent | undefined;
  let federation: Federation | undefined;
  if (loaded.config.federation) {
    // Federation first: the outbox must be listening before the first reading is reported.
    federation = await startFederation({
      gateway: federationGateway(gateway),
      config: loaded.config.federation,
      dataDir: loaded.dataDir,
      log: gateway.log.child({ part: 'federation' }),
      registry: gateway.metrics.registry,
      version: runningVersion(),
      configFile: loaded.file,
      checkConfig: (file) => checkGatewayConfigFile(file, registry),
      ...(options.onRestart ? { onRestart: options.onRestart } : {}),
      health: () => (health ? { status: health.status, checks: [...health.checks] } : undefined),
    });
  }
  // After the outbox's listener: a reading is printed only once it is in the outbox.
  if (options.onReport) gateway.onReport(options.onReport);
  await gateway.start();
  // Events and review requests go to the hub through the outbox (kept while offline) and to the log.
  const fed = federation;
  const reporters: Reporter[] = [options.reporter ?? loggingReporter(gateway.log)];
  if (fed) reporters.unshift({ event: (e) => fed.enqueueEvent(e), review: (r) => fed.enqueueReview(r) });
  const reporter = teeReporter(reporters, gateway.log);
  let local: LocalDecisions;
  try {
    local = await startLocalDecisions({ gateway, reporter });
    if (local.monitor) {
      const points = (loaded.config.analytics?.points ?? []).map((p) => {
        const [device = '', point = ''] = p.point.split('/');
        return { device, point };
      });
      registerAnalyticsMetrics(gateway.metrics.registry, local.monitor, points);
    }
  } catch (err) {
    notifier?.close();
    await gateway.stop(true);
    await federation?.stop();
    throw err;
  }
  const fleet = startFleetLearning(loaded, federation, local, gateway.log.child({ part: 'fleet-learning' }));
  if (loaded.config.health?.enabled !== false) {
    health = new HealthAgent({ host: healthHost(gateway, federation, local, reporter), limits: healthLimits(loaded.config.health), log: gateway.log.child({ part: 'health' }), registry: gateway.metrics.registry });
    health.start();
  }
  let updater: Updater | undefined;
  if (loaded.config.update) {
    // `edge check` refuses an update section without federation; a config that skipped the check runs without updates.
    if (!federation) gateway.log.warn('update: needs a federation section (updates come from the hub); updates are off');
    else {
      const log = gateway.log.child({ part: 'update' });
      const fed = federation;
      updater = startUpdater({
        site: loaded.config.gateway.site,
        gateway: gateway.id,
        federation: fed,
        settings: updateSettings(loaded.config.update, (p) => (isAbsolute(p) ? p : resolve(dirname(loaded.file), p))),
        probe: gatewayProbe({ federation: fed, deviceStates: () => gateway.deviceStates(), healthStatus: () => (health ? (health.checks.length === 0 ? 'pending' : health.status) : undefined) }),
        restart: (reason) => (options.onUpdateRestart ? options.onUpdateRestart(reason) : log.warn({ reason }, 'restart the gateway to run the current release')),
        log,
      });
    }
  }
  const watchdog = notifier ? superviseByServiceManager(gateway, notifier, options.env ?? process.env) : undefined;
  return {
    gateway,
    federation,
    local,
    ...(health ? { health } : {}),
    ...(updater ? { updater } : {}),
    async stop(force = false) {
      notifier?.notify({ STOPPING: '1', STATUS: 'stopping' });
      watchdog?.stop();
      notifier?.close();
      await updater?.stop();
      await health?.stop();
      await fleet?.stop();
      await local.stop();
      await gateway.stop(force);
      await federation?.stop();
    },
  };
}

/**
 * Fleet learning (analytics.fleetLearning: share and/or use) between the anomaly monitor and the
 * hub, when the gateway has both; nothing runs (nor publishes, nor subscribes) otherwise.
 */
function startFleetLearning(loaded: LoadedConfig, federation: Federation | undefined, local: LocalDecisions, log: Logger): FleetPriors | undefined {
  const settings = loaded.config.analytics?.fleetLearning;
  const monitor = local.monitor;
  if (!settings || (!settings.share && !settings.use) || !monitor) return undefined;
  if (!federation) {
    log.warn('analytics.fleetLearning needs a federation section (priors go through the hub); fleet learning is off');
    return undefined;
  }
  const points = monitor.monitored.flatMap((ref) => {
    const [device = '', point = ''] = ref.split('/');
    const spec = loaded.devices.find((d) => d.id === device)?.points.find((p) => p.name === point);
    const profile = loaded.profiles.get(device)?.profile;
    if (!spec || !profile) return [];
    return [{ ref, profile, point, ...(spec.tags ? { tags: spec.tags } : {}), ...(spec.unit !== undefined ? { unit: spec.unit } : {}) }];
  });
  const fleet = new FleetPriors({ settings, site: loaded.config.gateway.site, gateway: loaded.config.gateway.id, publisher: federation.publisher, host: monitor, keys: fleetKeys(points, settings.key, (ref, key, problem) => log.warn({ point: ref, key: key.slice(0, 400), problem }, 'fleet key refused by the wire schema: this point learns alone')), log });
  fleet.start();
  log.info({ share: settings.share, use: settings.use, points: points.length }, 'fleet learning on');
  return fleet;
}

/** The health agent's view of this gateway process; its events go where the decision layer's go. */
function healthHost(gateway: Gateway, federation: Federation | undefined, local: LocalDecisions, reporter: Reporter): HealthHost {
  const monitor = local.monitor;
  return {
    dataDir: gateway.config.dataDir,
    deviceStates: () => gateway.deviceStates(),
    restartDevice: (device) => gateway.restartDevice(device),
    ...(federation
      ? {
          outbox: {
            stats: () => federation.outbox.stats(),
            maxBytes: federation.outbox.maxBytes,
            connected: () => federation.publisher.connected,
            compact: () => federation.outbox.compact(),
            deadLetters: () => federation.outbox.deadLetterSummary().count,
          },
          clockSkewMs: () => federation.publisher.clockSkewMs,
        }
      : {}),
    ...(monitor ? { analytics: { shed: (on: boolean) => monitor.shed(on) } } : {}),
    report: ({ severity, message, device, data }) =>
      reporter.event({ v: 1, id: randomUUID(), gateway: gateway.id, ts: Date.now(), kind: 'system', severity, message, ...(device ? { device } : {}), data }),
  };
}

/** READY=1 now (devices started), then the watchdog when the unit has WatchdogSec=. */
function superviseByServiceManager(gateway: Gateway, notifier: ServiceNotifier, env: NotifyEnvironment): Watchdog | undefined {
  notifier.notify({ READY: '1', STATUS: devicesSummary(gateway) });
  const timeoutMs = watchdogTimeoutMs(env);
  if (timeoutMs === undefined) return undefined;
  const log = gateway.log.child({ part: 'service' });
  const progress: ProgressSource = { stalledPolls: (now, stallMs) => gateway.stalledPolls(now, stallMs), status: () => devicesSummary(gateway) };
  log.info({ watchdogMs: timeoutMs }, 'systemd watchdog on: petting while the event loop and poll loops make progress');
  return startWatchdog({ notifier, timeoutMs, progress, log, registry: gateway.metrics.registry });
}
