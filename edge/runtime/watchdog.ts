/**
 * The service watchdog: pets systemd's WatchdogSec= only while the process makes progress, so a
 * gateway that is alive but wedged is restarted by the service manager instead of sitting there.
 *
 * Progress means both:
 * - the event loop turns: the pet timer fires at half the watchdog period (as sd_watchdog_enabled(3)
 *   advises), and the loop's delay over the last period stays under `maxLoopDelayMs` (a loop that
 *   is blocked fires no timer at all; one that crawls is caught by the delay);
 * - every poll loop comes back: no device has a read in flight for longer than `stallMs` (drivers
 *   time out long before that; a read that never returns is a wedged library).
 * A device that is merely down is progress (its polls come back bad): a restart would not fix it.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { StalledPoll } from './device-runner.js';
import type { ServiceNotifier } from './systemd-notify.js';

/** What the watchdog asks the gateway. */
export interface ProgressSource {
  stalledPolls(now: number, stallMs: number): readonly StalledPoll[];
  /** One line for `systemctl status` (STATUS=), sent with each pet. */
  status(): string;
}

export interface WatchdogOptions {
  readonly notifier: ServiceNotifier;
  /** systemd's watchdog period ($WATCHDOG_USEC in ms); the watchdog pets at half of it. */
  readonly timeoutMs: number;
  readonly progress: ProgressSource;
  readonly log: Logger;
  readonly registry?: Registry;
  /** A poll in flight longer than this is stalled. Default 60 s. */
  readonly stallMs?: number;
  /** Event-loop delay (p99 over one period) above which the process is not making progress. Default: half the period. */
  readonly maxLoopDelayMs?: number;
}

export type WithheldReason = 'event-loop' | 'stalled-poll';

export interface Watchdog {
  /** One check now: pets when healthy; returns why it did not. (The timer calls it; tests may too.) */
  check(): WithheldReason | undefined;
  stop(): void;
}

export function startWatchdog(options: WatchdogOptions): Watchdog {
  const periodMs = Math.max(50, options.timeoutMs / 2);
  const stallMs = options.stallMs ?? 60_000;
  const maxDelayMs = options.maxLoopDelayMs ?? periodMs / 2;
  const withheld = new Counter({
    name: 'swarmgate_watchdog_withheld_total',
    help: 'Watchdog periods in which the gateway did not pet systemd, by reason',
    labelNames: ['reason'] as const,
    registers: options.registry ? [options.registry] : [],
  });
  const delay: IntervalHistogram = monitorEventLoopDelay({ resolution: 20 });
  delay.enable();
  let lastWithheld: WithheldReason | undefined;

  let lastCheckAt = Date.now();

  const check = (): WithheldReason | undefined => {
    const now = Date.now();
    // The pet timer's own lateness catches a loop that was blocked outright (the histogram may
    // miss the sample in flight when it is reset); the histogram catches one that crawls.
    const lateMs = now - lastCheckAt - periodMs;
    lastCheckAt = now;
    const loopDelayMs = Math.max(lateMs, delay.percentile(99) / 1e6);
    delay.reset();
    const stalled = options.progress.stalledPolls(now, stallMs);
    const reason: WithheldReason | undefined = loopDelayMs > maxDelayMs ? 'event-loop' : stalled.length > 0 ? 'stalled-poll' : undefined;
    if (!reason) {
      if (lastWithheld) options.log.info({ after: lastWithheld }, 'watchdog: progress again, petting resumed');
      lastWithheld = undefined;
      options.notifier.notify({ WATCHDOG: '1', STATUS: options.progress.status() });
      return undefined;
    }
    withheld.inc({ reason });
    if (reason !== lastWithheld) {
      // Said once per episode; systemd restarts the gateway if it lasts a whole watchdog period.
      options.log.error({ reason, loopDelayMs: Math.round(loopDelayMs), stalled, watchdogMs: options.timeoutMs }, 'watchdog: no progress, not petting (systemd restarts the gateway if this lasts)');
    }
    lastWithheld = reason;
    return reason;
  };

  const timer = setInterval(check, periodMs);
  timer.unref();
  return {
    check,
    stop() {
      clearInterval(timer);
      delay.disable();
    },
  };
}
