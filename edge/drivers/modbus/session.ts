/**
 * One device (unit id) on a link: retries with exponential backoff, and an optional circuit
 * breaker. Backoff waits happen outside the link queue so other units on a shared bus keep using
 * it while this one waits.
 */
import { SwarmgateError } from '../../../shared/errors.js';
import type { CircuitBreaker } from './breaker.js';
import { isLinkFailure, isRetryable, toModbusError } from './errors.js';
import type { ModbusClient, ModbusLink } from './link.js';

export interface SessionSettings {
  readonly unitId: number;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly backoffMs: number;
}

export interface RequestOptions {
  /** Another unit id than the session's (browse scans). */
  readonly unitId?: number;
  readonly timeoutMs?: number;
  readonly retries?: number;
  /** Do not consult or update the breaker (commissioning scans of arbitrary units). */
  readonly bypassBreaker?: boolean;
}

export class UnitSession {
  private stopped = false;
  private readonly sleeps = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();

  constructor(
    readonly link: ModbusLink,
    readonly settings: SessionSettings,
    readonly breaker?: CircuitBreaker,
  ) {}

  /**
   * Runs `run` against the unit; rejects with a SwarmgateError. `what` describes the request for
   * messages ('reading holding 0+12').
   */
  async request<T>(what: string, run: (client: ModbusClient) => Promise<T>, options: RequestOptions = {}): Promise<T> {
    const unitId = options.unitId ?? this.settings.unitId;
    const label = `${what} of unit ${unitId} on ${this.link.name}`;
    if (this.stopped) throw new SwarmgateError('SWG_ERR_DEVICE_NOT_CONNECTED', `driver stopped (${label})`);
    const breaker = options.bypassBreaker ? undefined : this.breaker;
    const admission = breaker?.admit() ?? 'pass';
    if (admission === 'reject') {
      const seconds = ((breaker?.retryInMs() ?? 0) / 1000).toFixed(1);
      throw new SwarmgateError(
        'SWG_ERR_DEVICE_CIRCUIT_OPEN',
        `unit ${unitId} on ${this.link.name} failed ${breaker?.consecutiveFailures ?? 0} times in a row; skipped, next probe in ${seconds} s`,
        { details: { unitId } },
      );
    }
    // A half-open probe gets a single attempt: it must not hold the bus for retries.
    const retries = admission === 'probe' ? 0 : (options.retries ?? this.settings.retries);
    const timeoutMs = options.timeoutMs ?? this.settings.timeoutMs;
    let lastError: SwarmgateError | undefined;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) {
        await this.sleep(this.settings.backoffMs * 2 ** (attempt - 1));
        if (this.stopped) break;
      }
      try {
        const result = await this.link.exchange(unitId, timeoutMs, label, run);
        breaker?.success();
        return result;
      } catch (err) {
        lastError = toModbusError(err, label);
        if (!isRetryable(lastError)) break;
      }
    }
    const error = lastError ?? new SwarmgateError('SWG_ERR_DEVICE_NOT_CONNECTED', `driver stopped (${label})`);
    if (breaker) {
      if (this.stopped) breaker.abandonProbe();
      else if (isLinkFailure(error)) breaker.failure();
      else breaker.success(); // an exception reply: the unit is alive
    }
    throw error;
  }

  /** Ends backoff waits at once; later requests fail with SWG_ERR_DEVICE_NOT_CONNECTED. */
  stop(): void {
    this.stopped = true;
    for (const sleep of this.sleeps) {
      clearTimeout(sleep.timer);
      sleep.resolve();
    }
    this.sleeps.clear();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.sleeps.delete(entry);
          resolve();
        }, ms),
        resolve,
      };
      this.sleeps.add(entry);
    });
  }
}
