/**
 * The health checks: one sample of the gateway process in, one verdict per check out. Pure, so
 * every threshold is tested without waiting for a process to get sick.
 */
import type { HealthCheck, HealthStatus } from '../../shared/wire/messages.js';
import type { HealthLimits } from './schema.js';

export type { HealthCheck, HealthStatus };

export interface HealthSample {
  /** Event-loop delay, p99 over the last interval. */
  readonly loopDelayMs: number;
  readonly rssBytes: number;
  /** Free bytes on the data folder's file system; undefined when it could not be read. */
  readonly diskFreeBytes?: number;
  readonly outbox?: {
    readonly bytes: number;
    readonly maxBytes: number;
    /** Grew at every sample of the last few while connected: the link drains slower than readings arrive. */
    readonly growingWhileConnected: boolean;
    /** Messages the broker kept refusing, set aside for a technician (`swarmgate edge dead-letters`). */
    readonly deadLetters?: number;
  };
  /** Devices down, with how long. */
  readonly devicesDown: readonly { readonly id: string; readonly downForMs: number }[];
  readonly devicesTotal: number;
  /** Hub clock minus ours, from the last stored receipt; undefined without a hub. */
  readonly clockSkewMs?: number;
}

const MB = 1024 * 1024;
const mb = (bytes: number): string => `${Math.round(bytes / MB)} MB`;
const check = (name: HealthCheck['name'], status: HealthStatus, detail: string): HealthCheck => ({ name, status, detail });

export function evaluateHealth(sample: HealthSample, limits: HealthLimits): HealthCheck[] {
  const out: HealthCheck[] = [];
  const lag = Math.round(sample.loopDelayMs);
  out.push(
    check('event-loop', lag > 4 * limits.maxLoopDelayMs ? 'critical' : lag > limits.maxLoopDelayMs ? 'warn' : 'ok', `p99 delay ${lag} ms (limit ${limits.maxLoopDelayMs} ms)`),
  );
  const rss = sample.rssBytes;
  out.push(
    check('memory', rss > limits.memoryBudgetBytes ? 'critical' : rss > 0.8 * limits.memoryBudgetBytes ? 'warn' : 'ok', `rss ${mb(rss)} of a ${mb(limits.memoryBudgetBytes)} budget`),
  );
  if (sample.diskFreeBytes !== undefined) {
    const free = sample.diskFreeBytes;
    out.push(
      check('disk', free < limits.minFreeDiskBytes ? 'critical' : free < 2 * limits.minFreeDiskBytes ? 'warn' : 'ok', `${mb(free)} free for the outbox (needs ${mb(limits.minFreeDiskBytes)})`),
    );
  }
  if (sample.outbox) {
    const { bytes, maxBytes, growingWhileConnected, deadLetters = 0 } = sample.outbox;
    const share = maxBytes > 0 ? bytes / maxBytes : 0;
    const status: HealthStatus = share > 0.9 ? 'critical' : share > 0.5 || growingWhileConnected || deadLetters > 0 ? 'warn' : 'ok';
    const dead = deadLetters > 0 ? `, ${deadLetters} dead letter${deadLetters === 1 ? '' : 's'} the broker refused (swarmgate edge dead-letters list)` : '';
    out.push(check('outbox', status, `${mb(bytes)} of ${mb(maxBytes)}${growingWhileConnected ? ', growing while connected' : ''}${dead}`));
  }
  const longDown = sample.devicesDown.filter((d) => d.downForMs >= limits.deviceDownRestartMs);
  const allDown = sample.devicesTotal > 0 && longDown.length === sample.devicesTotal;
  out.push(
    check(
      'devices',
      allDown ? 'critical' : longDown.length > 0 ? 'warn' : 'ok',
      longDown.length > 0
        ? `down for long: ${longDown.map((d) => `${d.id} (${Math.round(d.downForMs / 60_000)} min)`).join(', ')}`
        : `${sample.devicesTotal - sample.devicesDown.length}/${sample.devicesTotal} up`,
    ),
  );
  if (sample.clockSkewMs !== undefined) {
    const skew = Math.abs(sample.clockSkewMs);
    out.push(
      check('clock', skew > 12 * limits.maxClockSkewMs ? 'critical' : skew > limits.maxClockSkewMs ? 'warn' : 'ok', `${(sample.clockSkewMs / 1000).toFixed(1)} s from the hub's clock`),
    );
  }
  return out;
}

const RANK: Record<HealthStatus, number> = { ok: 0, warn: 1, critical: 2 };

export function worse(a: HealthStatus, b: HealthStatus): boolean {
  return RANK[a] > RANK[b];
}

export function worstStatus(checks: readonly HealthCheck[]): HealthStatus {
  return checks.reduce<HealthStatus>((w, c) => (worse(c.status, w) ? c.status : w), 'ok');
}
