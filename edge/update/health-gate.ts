/**
 * The health verdict on a new release: it must be healthy — connected to the hub, every device
 * up, the outbox draining, the health agent not critical — without a break for `healthyForMs`,
 * before the deadline. Otherwise the reason names what was wrong last.
 */
import type { HealthStatus } from '../../shared/wire/messages.js';

export interface UpdateHealthSample {
  readonly connected: boolean;
  readonly devices: Readonly<Record<string, { readonly state: string }>>;
  /** Messages waiting in the outbox. */
  readonly outboxMessages: number;
  /** The health agent's worst verdict (absent without one; 'pending' before its first). */
  readonly status?: HealthStatus | 'pending';
}

export interface UpdateHealthProbe {
  sample(): UpdateHealthSample;
}

/** Outbox depths up to this count as drained whatever the trend. */
const SMALL_OUTBOX = 200;

/** What is wrong with a sample (empty: healthy). `previousOutbox` is the depth one sample earlier. */
export function unhealthyBecause(s: UpdateHealthSample, previousOutbox: number | undefined): string[] {
  const why: string[] = [];
  if (!s.connected) why.push('not connected to the hub');
  const states = Object.entries(s.devices);
  const down = states.filter(([, d]) => d.state !== 'up').map(([id, d]) => `${id} ${d.state}`);
  if (down.length > 0) why.push(`${states.length - down.length}/${states.length} devices up (${down.slice(0, 5).join(', ')})`);
  if (s.outboxMessages > SMALL_OUTBOX && previousOutbox !== undefined && s.outboxMessages > previousOutbox) why.push(`outbox growing (${s.outboxMessages} messages)`);
  if (s.status === 'critical') why.push('health agent critical');
  return why;
}

export interface HealthGateOptions {
  readonly probe: UpdateHealthProbe;
  readonly deadline: number;
  readonly healthyForMs: number;
  readonly intervalMs?: number;
  readonly clock?: () => number;
  readonly signal?: AbortSignal;
}

export type HealthVerdict = { readonly healthy: true } | { readonly healthy: false; readonly reason: string };

export async function awaitHealthy(options: HealthGateOptions): Promise<HealthVerdict> {
  const clock = options.clock ?? Date.now;
  const interval = options.intervalMs ?? 1000;
  let since: number | undefined;
  let previousOutbox: number | undefined;
  let last = 'no health sample yet';
  for (;;) {
    if (options.signal?.aborted) return { healthy: false, reason: 'stopped before a verdict' };
    const now = clock();
    const sample = options.probe.sample();
    const why = unhealthyBecause(sample, previousOutbox);
    previousOutbox = sample.outboxMessages;
    if (why.length === 0) {
      since ??= now;
      // Not before the health agent has judged the new release once (memory, disk, event loop).
      if (now - since >= options.healthyForMs && sample.status !== 'pending') return { healthy: true };
      if (sample.status === 'pending') last = 'the health agent has not judged it yet';
    } else {
      since = undefined;
      last = why.join('; ');
    }
    if (now >= options.deadline) return { healthy: false, reason: `not healthy for ${Math.round(options.healthyForMs / 1000)} s before the deadline: ${since === undefined || sample.status === 'pending' ? last : 'healthy too briefly'}` };
    await new Promise((r) => setTimeout(r, Math.max(10, Math.min(interval, options.deadline - now))));
  }
}
