/**
 * The health agent (the gateway's own daemon doctor): every interval it samples the process —
 * event-loop delay, memory, free disk for the outbox, outbox growth, devices down for long, clock
 * skew against the hub — judges each (checks.ts), remedies what it can, and escalates to the hub
 * only what stays wrong:
 *
 * | check             | remedy (before escalating)                                    |
 * | ----------------- | ------------------------------------------------------------- |
 * | devices           | restart the driver of a device down for long (once per period) |
 * | event-loop, memory| shed analytics (slow loop, or over the memory budget; resumes) |
 * | disk, outbox      | compact the outbox (free pages back to the file system)        |
 * | clock             | none on the gateway: escalate (NTP is the operating system's)  |
 *
 * A check that turns warn or critical is reported as a `system` event once per change (critical
 * events reach the technicians' phones); its return to ok is reported as info. The current
 * verdicts ride in the gateway's retained state message, so the hub's fleet view shows them.
 */
import { statfs } from 'node:fs/promises';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import { errorMessage } from '../../shared/kit/errors.js';
import { evaluateHealth, worse, worstStatus, type HealthCheck, type HealthSample, type HealthStatus } from './checks.js';
import type { HealthLimits } from './schema.js';

/** What the agent needs of the gateway process around it (edge/app.ts builds it). */
export interface HealthHost {
  readonly dataDir: string;
  deviceStates(): Readonly<Record<string, { readonly state: string }>>;
  restartDevice(device: string): Promise<void>;
  readonly outbox?: {
    stats(): { readonly bytes: number };
    readonly maxBytes: number;
    connected(): boolean;
    /** Bytes given back to the file system. */
    compact(): number;
    /** How many messages are set aside in the dead-letter table. */
    deadLetters?(): number;
  };
  /** Hub clock minus ours; undefined before the first stored receipt. */
  clockSkewMs?(): number | undefined;
  /** Analytics that can pause to shed load; absent when the gateway runs none. */
  readonly analytics?: { shed(on: boolean): void };
  /** A `system` event for the hub (and the log). */
  report(event: { severity: 'info' | 'warning' | 'critical'; message: string; device?: string; data: Record<string, unknown> }): void;
}

export interface HealthAgentOptions {
  readonly host: HealthHost;
  readonly limits: HealthLimits;
  readonly log: Logger;
  readonly registry?: Registry;
  readonly clock?: () => number;
}

/** Outbox bytes grew at this many samples in a row while connected: the drain does not keep up. */
const GROWTH_SAMPLES = 4;
/** Shedding ends after this many healthy samples in a row (no flapping). */
const CALM_SAMPLES = 3;
const COMPACT_EVERY_MS = 3_600_000;
/** The first round, this long after start at most (startup's own work is done by then). */
const FIRST_ROUND_MS = 10_000;

export class HealthAgent {
  private readonly loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: 20 });
  private readonly downSince = new Map<string, number>();
  private readonly lastRestart = new Map<string, number>();
  private readonly statusGauge: Gauge<'check'>;
  private last: HealthCheck[] = [];
  private previousOutboxBytes: number | undefined;
  private growthRun = 0;
  private shedding = false;
  private calmRun = 0;
  private lastCompactAt = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private first: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly clock: () => number;

  constructor(private readonly options: HealthAgentOptions) {
    this.clock = options.clock ?? Date.now;
    this.statusGauge = new Gauge({
      name: 'swarmgate_health_status',
      help: "The health agent's verdict per check: 0 ok, 1 warn, 2 critical",
      labelNames: ['check'] as const,
      registers: options.registry ? [options.registry] : [],
    });
  }

  start(): void {
    this.loopDelay.enable();
    this.timer = setInterval(() => void this.tick(), this.options.limits.intervalMs);
    this.timer.unref();
    // A first verdict soon (an update's health gate waits for one), not a whole interval later.
    const first = setTimeout(() => void this.tick(), Math.min(FIRST_ROUND_MS, this.options.limits.intervalMs));
    first.unref();
    this.first = first;
  }

  /** The latest verdicts (empty before the first tick), for the state message. */
  get checks(): readonly HealthCheck[] {
    return this.last;
  }

  get status(): HealthStatus {
    return worstStatus(this.last);
  }

  /** One round: sample, judge, remedy, report. Rounds never overlap. */
  tick(): Promise<void> {
    this.running ??= this.round().finally(() => (this.running = undefined));
    return this.running;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearTimeout(this.first);
    this.loopDelay.disable();
    await this.running;
    if (this.shedding) this.options.host.analytics?.shed(false);
  }

  private async round(): Promise<void> {
    try {
      const checks = evaluateHealth(await this.sample(), this.options.limits);
      await this.remedy(checks);
      this.escalate(checks);
      this.last = checks;
      for (const c of checks) this.statusGauge.set({ check: c.name }, c.status === 'ok' ? 0 : c.status === 'warn' ? 1 : 2);
    } catch (err) {
      this.options.log.error({ err: errorMessage(err) }, 'health round failed');
    }
  }

  private async sample(): Promise<HealthSample> {
    const { host } = this.options;
    const now = this.clock();
    const loopDelayMs = this.loopDelay.percentile(99) / 1e6;
    this.loopDelay.reset();
    const states = host.deviceStates();
    const devicesDown: { id: string; downForMs: number }[] = [];
    for (const [id, s] of Object.entries(states)) {
      if (s.state === 'down') {
        const since = this.downSince.get(id) ?? now;
        this.downSince.set(id, since);
        devicesDown.push({ id, downForMs: now - since });
      } else this.downSince.delete(id);
    }
    let outbox: HealthSample['outbox'];
    if (host.outbox) {
      const bytes = host.outbox.stats().bytes;
      const grew = this.previousOutboxBytes !== undefined && bytes > this.previousOutboxBytes && host.outbox.connected();
      this.growthRun = grew ? this.growthRun + 1 : 0;
      this.previousOutboxBytes = bytes;
      const deadLetters = host.outbox.deadLetters?.();
      outbox = { bytes, maxBytes: host.outbox.maxBytes, growingWhileConnected: this.growthRun >= GROWTH_SAMPLES, ...(deadLetters ? { deadLetters } : {}) };
    }
    const skew = host.clockSkewMs?.();
    return {
      loopDelayMs,
      rssBytes: process.memoryUsage().rss,
      ...(await freeBytes(host.dataDir).then((b) => (b === undefined ? {} : { diskFreeBytes: b }))),
      ...(outbox ? { outbox } : {}),
      devicesDown,
      devicesTotal: Object.keys(states).length,
      ...(skew !== undefined ? { clockSkewMs: skew } : {}),
    };
  }

  private async remedy(checks: readonly HealthCheck[]): Promise<void> {
    const { host, limits, log } = this.options;
    const now = this.clock();
    const status = (name: HealthCheck['name']): HealthStatus => checks.find((c) => c.name === name)?.status ?? 'ok';

    for (const [device, since] of this.downSince) {
      if (now - since < limits.deviceDownRestartMs) continue;
      if (now - (this.lastRestart.get(device) ?? Number.NEGATIVE_INFINITY) < limits.deviceDownRestartMs) continue;
      this.lastRestart.set(device, now);
      try {
        await host.restartDevice(device);
        host.report({ severity: 'info', device, message: `health: ${device} down for ${Math.round((now - since) / 60_000)} min; its driver was restarted`, data: { remedy: 'restart-driver' } });
      } catch (err) {
        log.warn({ device, err: errorMessage(err) }, 'health: driver restart failed');
      }
    }

    // A slow loop sheds at once; memory only once over budget (above 80 % it is reported, not acted on).
    const overloaded = status('event-loop') !== 'ok' || status('memory') === 'critical';
    if (host.analytics) {
      if (overloaded && !this.shedding) {
        this.shedding = true;
        host.analytics.shed(true);
        host.report({ severity: 'info', message: 'health: gateway overloaded; anomaly scoring paused until it recovers', data: { remedy: 'shed-analytics' } });
      }
      this.calmRun = overloaded ? 0 : this.calmRun + 1;
      if (this.shedding && this.calmRun >= CALM_SAMPLES) {
        this.shedding = false;
        host.analytics.shed(false);
      }
    }

    if (host.outbox && (status('disk') !== 'ok' || status('outbox') !== 'ok') && now - this.lastCompactAt >= COMPACT_EVERY_MS) {
      this.lastCompactAt = now;
      const freed = host.outbox.compact();
      log.info({ freedBytes: freed }, 'health: outbox compacted');
    }
  }

  /** One event per change of a check's status. */
  private escalate(checks: readonly HealthCheck[]): void {
    for (const c of checks) {
      const before = this.last.find((p) => p.name === c.name)?.status ?? 'ok';
      if (c.status === before) continue;
      if (worse(c.status, before)) {
        this.options.host.report({ severity: c.status === 'critical' ? 'critical' : 'warning', message: `health: ${c.name} ${c.status}: ${c.detail}`, data: { check: c.name, status: c.status } });
      } else {
        this.options.host.report({ severity: 'info', message: `health: ${c.name} ${c.status} again: ${c.detail}`, data: { check: c.name, status: c.status } });
      }
    }
  }
}

async function freeBytes(dir: string): Promise<number | undefined> {
  try {
    const s = await statfs(dir);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}
