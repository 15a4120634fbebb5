/**
 * The gateway process core: one DeviceRunner per configured device, report-by-exception, the
 * latest value of every point, the write path and the metrics endpoint. Consumers (stdout printer,
 * outbox, analytics, rules) subscribe to samples (every reading) or reports (after the deadband).
 *
 * Heartbeat: every point is reported at least once per heartbeatMs, however it is read. A polled
 * point usually gets it from its next poll; for the rest (subscribed points that do not change,
 * polls slower than the heartbeat) one timer per gateway re-reports the point's latest sample.
 * A heartbeat is a report, not a sample: it goes to report listeners (printer, outbox, plain
 * topics, Sparkplug), not to analytics or rules. Its ts is the time of the heartbeat: "the value
 * is still this as of ts", which is what a poll's ts says too; the value and quality are those of
 * the latest sample (a bad point stays bad, with its cause). A device whose runner is not up is
 * never heartbeated good: its points are reported bad.
 *
 * Points of devices with source timestamps (OPC UA) keep their last reported source timestamp
 * across restarts (<dataDir>/reported-times.json): the first values of a new subscription, which
 * repeat samples reported before the restart, are not reported again. Only good and uncertain
 * driver readings set it: a heartbeat (remember()) and a runner's "not connected" reading carry
 * the gateway clock.
 */
import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { SwarmgateError, errorMessage, isSwarmgateError } from '../../shared/kit/errors.js';
import { createLogger } from '../../shared/kit/log.js';
import { isRelinquishable, plausibleReading, type DeviceSpec, type Reading, type WriteValue } from '../drivers/driver.js';
import type { DriverRegistry } from '../drivers/registry.js';
import type { LoadedConfig } from '../config/load.js';
import { DEFAULT_METRICS_PORT } from '../config/schema.js';
import type { WriteGuard, WriteRequest } from './ports.js';
import { DeviceRunner, type DeviceState, type StalledPoll } from './device-runner.js';
import { ExceptionFilter } from './exception-filter.js';
import { SAVE_INTERVAL_MS, loadReportedTimes, reportedTimesFile, saveReportedTimes } from './reported-times.js';
import { GatewayMetrics } from './metrics.js';
import { checkWrite, findPoint } from './point-write.js';

export type ReadingListener = (reading: Reading) => void;

export type { WriteGuard, WriteRequest };

export interface GatewayOptions {
  readonly loaded: LoadedConfig;
  readonly registry: DriverRegistry;
  readonly log?: Logger;
  readonly metrics?: GatewayMetrics;
  readonly guards?: readonly WriteGuard[];
}

export class Gateway {
  readonly log: Logger;
  readonly metrics: GatewayMetrics;
  private readonly runners = new Map<string, DeviceRunner>();
  private readonly latestValues = new Map<string, Reading>();
  private readonly sampleListeners = new Set<ReadingListener>();
  private readonly writeListeners = new Set<(write: WriteRequest) => void>();
  private readonly reportListeners = new Set<ReadingListener>();
  private readonly stateListeners = new Set<(device: string, state: DeviceState) => void>();
  private readonly filter: ExceptionFilter;
  private readonly deadbands = new Map<string, number>();
  private metricsServer?: Server;
  private heartbeatTimer?: NodeJS.Timeout;
  private saveTimer?: NodeJS.Timeout;
  private savedVersion = 0;
  private started = false;
  private stopped = false;

  constructor(private readonly options: GatewayOptions) {
    const { config } = options.loaded;
    this.log = options.log ?? createLogger(`edge:${config.gateway.id}`, config.log?.level);
    this.metrics = options.metrics ?? new GatewayMetrics();
    const tracked = new Set(options.loaded.devices.filter((d) => options.registry.has(d.protocol) && options.registry.get(d.protocol).sourceTimestamps === true).map((d) => d.id));
    this.filter = new ExceptionFilter(config.polling?.heartbeatMs ?? 60_000, { tracked });
    for (const device of options.loaded.devices) {
      for (const point of device.points) this.deadbands.set(key(device.id, point.name), point.deadband);
    }
  }

  get id(): string {
    return this.options.loaded.config.gateway.id;
  }

  get config(): LoadedConfig {
    return this.options.loaded;
  }

  /** Every reading as taken (analytics, rules). */
  onSample(listener: ReadingListener): () => void {
    this.sampleListeners.add(listener);
    return () => this.sampleListeners.delete(listener);
  }

  /** Writes that were applied, whoever asked (the rule engine tells its own from an operator's). */
  onWrite(listener: (write: WriteRequest) => void): () => void {
    this.writeListeners.add(listener);
    return () => this.writeListeners.delete(listener);
  }

  /** A device's state changed (up, down): the retained state document is published again. */
  onDeviceState(listener: (device: string, state: DeviceState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /** Readings that passed report-by-exception (printing, forwarding). */
  onReport(listener: ReadingListener): () => void {
    this.reportListeners.add(listener);
    return () => this.reportListeners.delete(listener);
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const { loaded } = this.options;
    mkdirSync(loaded.dataDir, { recursive: true });
    if (loaded.devices.some((d) => this.options.registry.has(d.protocol) && this.options.registry.get(d.protocol).sourceTimestamps === true)) {
      this.filter.restore(loadReportedTimes(reportedTimesFile(loaded.dataDir), this.log));
      this.savedVersion = this.filter.version;
      this.saveTimer = setInterval(() => this.saveReportedTimes(), SAVE_INTERVAL_MS);
      this.saveTimer.unref();
    }
    for (const spec of loaded.devices) this.runners.set(spec.id, this.createRunner(spec));
    for (const runner of this.runners.values()) runner.start();
    this.scheduleHeartbeat(Date.now() + this.filter.heartbeatMs);
    const m = loaded.config.metrics;
    if (m?.enabled !== false) {
      const host = m?.host ?? '127.0.0.1';
      const wanted = m?.port ?? DEFAULT_METRICS_PORT;
      try {
        const { server, port } = await this.metrics.serve(host, wanted);
        this.metricsServer = server;
        this.log.info({ url: `http://${host}:${port}/metrics` }, 'metrics endpoint');
      } catch (err) {
        // Monitoring is not worth stopping the gateway's control for: it runs on, loudly.
        this.log.error({ host, port: wanted, err: errorMessage(err) }, `metrics endpoint could not listen on ${host}:${wanted}; the gateway runs without it (set metrics.port, or metrics.enabled: false)`);
      }
    }
    this.log.info({ gateway: this.id, site: loaded.config.gateway.site, devices: loaded.devices.length }, 'gateway started');
  }

  /** A fresh driver for the device, run by a fresh runner (not started). */
  private createRunner(spec: DeviceSpec): DeviceRunner {
    const { loaded, registry } = this.options;
    const log = this.log.child({ device: spec.id });
    const driver = registry.get(spec.protocol).create(spec, { log, dataDir: loaded.dataDir });
    const onState = (state: DeviceState): void => {
      for (const listener of this.stateListeners) {
        try {
          listener(spec.id, state);
        } catch (err) {
          this.log.error({ err: errorMessage(err), device: spec.id }, 'device state listener failed');
        }
      }
    };
    return new DeviceRunner({ spec, driver, log, metrics: this.metrics, onReadings: (r) => this.accept(r), onState });
  }

  /**
   * Stops the device's driver (forcefully) and starts it again from a fresh instance: the health
   * agent's remedy for a device that stays down while its peer may have come back.
   */
  async restartDevice(device: string): Promise<void> {
    const old = this.runners.get(device);
    const spec = this.options.loaded.devices.find((d) => d.id === device);
    if (!old || !spec || this.stopped) throw new SwarmgateError('SWG_ERR_DEVICE_NOT_CONNECTED', `device ${device} is not running (gateway stopped or not started)`);
    await old.stop(true);
    if (this.stopped) return;
    const runner = this.createRunner(spec);
    this.runners.set(device, runner);
    runner.start();
    this.log.warn({ device }, 'device driver restarted');
  }

  private accept(readings: readonly Reading[]): void {
    for (const raw of readings) {
      const reading = plausibleReading(raw);
      this.metrics.readings.inc({ device: reading.device, quality: reading.quality });
      const pointKey = key(reading.device, reading.point);
      this.latestValues.set(pointKey, reading);
      for (const listener of this.sampleListeners) this.safely(listener, reading);
      if (this.filter.accept(reading, this.deadbands.get(pointKey) ?? 0)) this.report(reading);
    }
  }

  private report(reading: Reading): void {
    this.metrics.reported.inc({ device: reading.device });
    for (const listener of this.reportListeners) this.safely(listener, reading);
  }

  /**
   * One timer for all points. Due points are collected in one pass; the next pass is at the
   * earliest due time but at least a tenth of the period later, so points falling due close
   * together share a pass (a heartbeat is at most 10 % late) and a pass costs O(points).
   */
  private scheduleHeartbeat(at: number): void {
    if (this.stopped) return;
    const delay = Math.max(at - Date.now(), this.filter.heartbeatMs / 10);
    this.heartbeatTimer = setTimeout(() => {
      this.heartbeatTimer = undefined;
      this.heartbeat();
      this.scheduleHeartbeat(this.filter.nextDue() ?? Date.now() + this.filter.heartbeatMs);
    }, delay);
  }

  private heartbeat(): void {
    const now = Date.now();
    for (const latest of this.latestValues.values()) {
      if (!this.filter.due(latest.device, latest.point, now)) continue;
      const reading = this.heartbeatOf(latest, now);
      // Its ts is the gateway clock: remember() does not keep it as the point's source timestamp.
      this.filter.remember(reading, now);
      this.report(reading);
    }
  }

  private heartbeatOf(latest: Reading, now: number): Reading {
    const state = this.runners.get(latest.device)?.status.state;
    if (state !== 'up' && latest.quality !== 'bad') {
      return { device: latest.device, point: latest.point, value: null, quality: 'bad', ts: now, cause: `device ${state ?? 'stopped'} (SWG_ERR_DEVICE_NOT_CONNECTED)` };
    }
    return { ...latest, ts: now };
  }

  /** Writes the last reported timestamps when reports changed them since the last write. */
  private saveReportedTimes(): void {
    const version = this.filter.version;
    if (version === this.savedVersion) return;
    if (saveReportedTimes(reportedTimesFile(this.options.loaded.dataDir), this.filter.reportedTimes(), this.log)) this.savedVersion = version;
  }

  private safely(listener: ReadingListener, reading: Reading): void {
    try {
      listener(reading);
    } catch (err) {
      this.log.error({ err: errorMessage(err), device: reading.device, point: reading.point }, 'reading listener failed');
    }
  }

  latest(device: string, point: string): Reading | undefined {
    return this.latestValues.get(key(device, point));
  }

  /** Polls in flight for longer than `stallMs`, over every device (the watchdog's progress check). */
  stalledPolls(now: number, stallMs: number): StalledPoll[] {
    return [...this.runners.values()].flatMap((r) => r.stalledPolls(now, stallMs));
  }

  deviceStates(): Record<string, { state: DeviceState; pollsSkipped: number }> {
    return Object.fromEntries([...this.runners].map(([id, r]) => [id, r.status]));
  }

  /**
   * Writes a point through its driver after the write checks; every outcome is logged and counted.
   * value null relinquishes the gateway's command (drivers with command priorities, e.g. BACnet).
   */
  async write(device: string, point: string, given: WriteValue, origin = 'local'): Promise<void> {
    let value = given;
    try {
      const found = findPoint(this.options.loaded.devices, device, point);
      value = checkWrite(device, found.point, given);
      for (const guard of this.options.guards ?? []) guard({ device, point, value, origin }, (d, p) => this.latest(d, p));
      const runner = this.runners.get(device);
      if (!runner) throw new SwarmgateError('SWG_ERR_DEVICE_NOT_CONNECTED', `device ${device} is not running (gateway stopped or not started)`);
      if (value !== null) await runner.driver.write(found.point, value);
      else if (isRelinquishable(runner.driver)) await runner.driver.relinquish(found.point);
      else throw new SwarmgateError('SWG_ERR_POINT_RELINQUISH', `${device}/${point}: protocol ${found.device.protocol} has no command priorities to relinquish`, { details: { device, point } });
      this.metrics.writes.inc({ device, outcome: 'applied' });
      this.log.info({ audit: 'write', device, point, value, origin }, 'point written');
      for (const listener of this.writeListeners) {
        try {
          listener({ device, point, value, origin });
        } catch (err) {
          this.log.error({ err: errorMessage(err) }, 'write listener threw');
        }
      }
    } catch (err) {
      // Unknown device names (from a bad command) must not create new metric series.
      this.metrics.writes.inc({ device: this.runners.has(device) ? device : 'unknown', outcome: 'rejected' });
      this.log.warn({ audit: 'write', device, point, value, origin, err: isSwarmgateError(err) ? err.code : errorMessage(err) }, 'point write refused');
      throw err;
    }
  }

  async stop(force = false): Promise<void> {
    this.stopped = true;
    clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    await Promise.all([...this.runners.values()].map((r) => r.stop(force)));
    this.runners.clear();
    if (this.saveTimer) {
      clearInterval(this.saveTimer);
      this.saveTimer = undefined;
      this.saveReportedTimes();
    }
    await new Promise<void>((resolve) => (this.metricsServer ? this.metricsServer.close(() => resolve()) : resolve()));
    this.log.info({ gateway: this.id }, 'gateway stopped');
  }
}

function key(device: string, point: string): string {
  return `${device}/${point}`;
}
