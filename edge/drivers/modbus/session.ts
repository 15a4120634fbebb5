/**
 * One device (unit id) on a link: retries with exponential backoff, and an optional circuit
 * breaker. Backoff waits happen outside the link queue so other units on a shared bus keep using
 * it while this one waits.
 */
import { SwarmgateError } from '../../../shared/kit/errors.js';
import type { CircuitBreaker } from './breaker.js';
import { isLinkFailure, isRetryable, toModbusError } from './errors.js';
import type { ModbusLink } from './link.js';
import type { ModbusRequest } from './requests.js';

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

const NO_OPTIONS: RequestOptions = {};
const MAX_LABELS = 256;

interface Attempt<T> {
  readonly unitId: number;
  readonly label: string;
  readonly run: ModbusRequest<T>;
  readonly breaker: CircuitBreaker | undefined;
  readonly retries: number;
  readonly timeoutMs: number;
}

export class UnitSession {
  private stopped = false;
  private readonly labels = new Map<string, string>();
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
  request<T>(what: string, run: ModbusRequest<T>, options: RequestOptions = NO_OPTIONS): Promise<T> {
    const unitId = options.unitId ?? this.settings.unitId;
    const label = this.labelOf(what, unitId);
    if (this.stopped) return Promise.reject(new SwarmgateError('SWG_ERR_DEVICE_NOT_CONNECTED', `driver stopped (${label})`));
    const breaker = options.bypassBreaker ? undefined : this.breaker;
    const admission = breaker?.admit() ?? 'pass';
    if (admission === 'reject') {
      const seconds = ((breaker?.retryInMs() ?? 0) / 1000).toFixed(1);
      return Promise.reject(
        new SwarmgateError(
          'SWG_ERR_DEVICE_CIRCUIT_OPEN',
          `unit ${unitId} on ${this.link.name} failed ${breaker?.consecutiveFailures ?? 0} times in a row; skipped, next probe in ${seconds} s`,
          { details: { unitId } },
        ),
      );
    }
    const attempt: Attempt<T> = {
      unitId,
      label,
      run,
      breaker,
      // A half-open probe gets a single attempt: it must not hold the bus for retries.
      retries: admission === 'probe' ? 0 : (options.retries ?? this.settings.retries),
      timeoutMs: options.timeoutMs ?? this.settings.timeoutMs,
    };
    // The first attempt without an async frame: it is the only one of a healthy poll.
    return this.link.exchange(unitId, attempt.timeoutMs, label, run).then(
      (result) => {
        breaker?.success();
        return result;
      },
      (err: unknown) => this.retry(attempt, toModbusError(err, label)),
    );
  }

  /**
   * 'reading holding 0..19 of unit 1 on tcp 10.0.0.5:502'. A poll asks with the same few texts
   * every time, so they are kept (bounded: browse scans produce many distinct ones).
   */
  private labelOf(what: string, unitId: number): string {
    if (unitId !== this.settings.unitId) return `${what} of unit ${unitId} on ${this.link.name}`;
    let label = this.labels.get(what);
    if (label === undefined) {
      label = `${what} of unit ${unitId} on ${this.link.name}`;
      if (this.labels.size >= MAX_LABELS) this.labels.clear();
      this.labels.set(what, label);
    }
    return label;
  }

  /** Attempts 1..retries after a failed first one, then the breaker verdict. */
  private async retry<T>(attempt: Attempt<T>, first: SwarmgateError): Promise<T> {
    const { unitId, label, run, breaker } = attempt;
    let error = first;
    if (isRetryable(error)) {
      for (let n = 1; n <= attempt.retries; n++) {
        await this.sleep(this.settings.backoffMs * 2 ** (n - 1));
        if (this.stopped) break;
        try {
          const result = await this.link.exchange(unitId, attempt.timeoutMs, label, run);
          breaker?.success();
          return result;
        } catch (err) {
          error = toModbusError(err, label);
          if (!isRetryable(error)) break;
        }
      }
    }
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
