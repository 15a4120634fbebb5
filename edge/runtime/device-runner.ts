/**
 * Runs one device: connects its driver (retrying with backoff while the device is unreachable),
 * then either subscribes (drivers that push changes) or polls its points in groups of equal
 * interval. A poll still running when its next tick comes is skipped and counted, never stacked.
 * Each device has its own timers, so a dead or slow device never delays another.
 *
 * A polled device is up while the latest read of at least one of its poll groups had a good
 * reading, and down once the latest read of every group had none (a group not read yet gives no
 * verdict: the state stays). So a group whose points the device refuses (an exception reply to a
 * register its firmware lacks) does not flip the device down while another group reads fine; a
 * device that stops answering is down once each group has polled, within the slowest interval.
 */
import type { Logger } from 'pino';
import { errorMessage, isSwarmgateError } from '../../shared/kit/errors.js';
import { isSubscribable, type DeviceSpec, type Driver, type PointSpec, type Reading, type Subscription } from '../drivers/driver.js';
import type { GatewayMetrics } from './metrics.js';

export type DeviceState = 'starting' | 'up' | 'down' | 'stopped';

/** A poll that has not come back (see DeviceRunner.stalledPolls). */
export interface StalledPoll {
  readonly device: string;
  readonly intervalMs: number;
  readonly runningForMs: number;
}

export interface DeviceRunnerOptions {
  readonly spec: DeviceSpec;
  readonly driver: Driver;
  readonly log: Logger;
  readonly metrics: GatewayMetrics;
  readonly onReadings: (readings: readonly Reading[]) => void;
  /** Called when the device's state changes (starting → up, up → down, ...). */
  readonly onState?: (state: DeviceState) => void;
  /** First reconnect delay; doubles up to maxRetryMs. */
  readonly retryMs?: number;
  readonly maxRetryMs?: number;
}

interface PollGroup {
  readonly intervalMs: number;
  readonly points: readonly PointSpec[];
  running: boolean;
  /** When the poll in flight started (meaningful while running). */
  startedAt: number;
  timer?: NodeJS.Timeout;
  nextAt: number;
  /** Whether the latest read had a good reading; undefined until the group's first read. */
  lastGood?: boolean;
}

export class DeviceRunner {
  private state: DeviceState = 'starting';
  private readonly groups: PollGroup[] = [];
  private retryTimer?: NodeJS.Timeout;
  private retryDelay: number;
  private subscription?: Subscription;
  private skipped = 0;

  constructor(private readonly options: DeviceRunnerOptions) {
    this.retryDelay = options.retryMs ?? 1000;
    const byInterval = new Map<number, PointSpec[]>();
    for (const point of options.spec.points) {
      const list = byInterval.get(point.pollIntervalMs) ?? [];
      list.push(point);
      byInterval.set(point.pollIntervalMs, list);
    }
    for (const [intervalMs, points] of byInterval) this.groups.push({ intervalMs, points, running: false, startedAt: 0, nextAt: 0 });
  }

  get id(): string {
    return this.options.spec.id;
  }

  get status(): { state: DeviceState; pollsSkipped: number } {
    return { state: this.state, pollsSkipped: this.skipped };
  }

  /**
   * Poll groups whose read has been in flight for longer than `stallMs`: the driver never
   * answered (its own timeouts should have), so this device's poll loop makes no progress.
   */
  stalledPolls(now: number, stallMs: number): StalledPoll[] {
    return this.groups
      .filter((g) => g.running && now - g.startedAt > stallMs)
      .map((g) => ({ device: this.id, intervalMs: g.intervalMs, runningForMs: now - g.startedAt }));
  }

  get driver(): Driver {
    return this.options.driver;
  }

  start(): void {
    void this.connect();
  }

  private async connect(): Promise<void> {
    const { driver, log, spec } = this.options;
    try {
      await driver.initialize();
      if (this.state === 'stopped') return;
      if (isSubscribable(driver)) {
        // Up or down from what the subscription reports: down once every point has gone bad
        // (connection lost, not answering), up again with the first good reading.
        const bad = new Set<string>();
        this.subscription = await driver.subscribe(spec.points, (reading) => {
          if (reading.quality === 'good') {
            bad.delete(reading.point);
            this.setState('up');
          } else if (reading.quality === 'bad') {
            bad.add(reading.point);
            if (bad.size >= spec.points.length) this.setState('down', reading.cause);
          }
          this.options.onReadings([reading]);
        });
      } else {
        this.startPolling();
      }
      this.setState('up');
      this.retryDelay = this.options.retryMs ?? 1000;
      log.info({ protocol: spec.protocol, points: spec.points.length, mode: this.subscription ? 'subscribe' : 'poll' }, 'device connected');
    } catch (err) {
      if (this.state === 'stopped') return;
      this.setState('down');
      const cause = isSwarmgateError(err) ? err.toDisplay() : errorMessage(err);
      log.warn({ err: cause, retryInMs: this.retryDelay }, 'device unreachable, will retry');
      const ts = Date.now();
      this.options.onReadings(spec.points.map((p) => ({ device: spec.id, point: p.name, value: null, quality: 'bad', ts, cause })));
      this.retryTimer = setTimeout(() => void this.connect(), this.retryDelay);
      this.retryDelay = Math.min(this.retryDelay * 2, this.options.maxRetryMs ?? 30_000);
    }
  }

  private startPolling(): void {
    const now = Date.now();
    for (const group of this.groups) {
      group.nextAt = now;
      this.schedule(group);
    }
  }

  private schedule(group: PollGroup): void {
    if (this.state === 'stopped') return;
    const delay = Math.max(0, group.nextAt - Date.now());
    group.timer = setTimeout(() => {
      group.nextAt += group.intervalMs;
      // Fell behind by more than one period (e.g. the process was paused): realign instead of bursting.
      if (group.nextAt < Date.now() - group.intervalMs) group.nextAt = Date.now() + group.intervalMs;
      void this.poll(group);
      this.schedule(group);
    }, delay);
  }

  private async poll(group: PollGroup): Promise<void> {
    const { driver, metrics, spec, log } = this.options;
    if (group.running) {
      this.skipped++;
      metrics.pollsSkipped.inc({ device: spec.id });
      return;
    }
    group.running = true;
    group.startedAt = Date.now();
    const end = metrics.pollDuration.startTimer({ device: spec.id });
    try {
      const readings = await driver.read(group.points);
      if (this.state === 'stopped') return;
      group.lastGood = readings.some((r) => r.quality === 'good');
      if (this.groups.some((g) => g.lastGood === true)) this.setState('up');
      else if (this.groups.every((g) => g.lastGood === false)) this.setState('down', readings.find((r) => r.cause !== undefined)?.cause);
      this.options.onReadings(readings);
    } catch (err) {
      // Drivers must not reject read(); if one does, its points go bad and polling goes on.
      log.error({ err: errorMessage(err) }, 'driver read rejected (driver bug): points marked bad');
      const ts = Date.now();
      this.options.onReadings(group.points.map((p) => ({ device: spec.id, point: p.name, value: null, quality: 'bad', ts, cause: errorMessage(err) })));
    } finally {
      end();
      group.running = false;
    }
  }

  private setState(state: DeviceState, cause?: string): void {
    if (this.state === 'stopped') return;
    const previous = this.state;
    this.state = state;
    this.options.metrics.deviceUp.set({ device: this.options.spec.id }, state === 'up' ? 1 : 0);
    if (state === previous) return;
    // The first connect logs itself ('device connected'); later changes are news for whoever reads the log.
    if (state === 'down' && previous === 'up') this.options.log.warn({ err: cause }, 'device down: no point could be read');
    if (state === 'up' && previous === 'down') this.options.log.info('device up again');
    this.options.onState?.(state);
  }

  async stop(force = false): Promise<void> {
    this.state = 'stopped';
    clearTimeout(this.retryTimer);
    for (const group of this.groups) clearTimeout(group.timer);
    try {
      await this.subscription?.close();
    } catch (err) {
      this.options.log.warn({ err: errorMessage(err) }, 'closing subscription failed');
    }
    await this.options.driver.stop(force);
  }
}
