/**
 * Rate-limited warnings for refusals (denied publishes and subscriptions, refused connections,
 * rejected messages). A misbehaving client can cause thousands of refusals a second; each is
 * still counted in the metrics by the caller, but the log gets the first refusal per (client,
 * cause) and then at most one summary line per interval with how many were left out. Distinct
 * keys are bounded too (a client can mint new client ids): past `maxLinesPerInterval` first lines
 * in one interval, further new keys are only summed into one line for the interval.
 */
import type { Logger } from 'pino';

export interface LogLimiterOptions {
  /** Summaries at most this often per key; default 10 s. */
  readonly intervalMs?: number;
  /** First lines (new keys) logged per interval at most; default 100. */
  readonly maxLinesPerInterval?: number;
}

interface KeyState {
  /** Refusals left out of the log since the last line for this key. */
  suppressed: number;
  /** The fields and message of the last one left out (shown in the summary). */
  last: { fields: Record<string, unknown>; msg: string } | undefined;
  /** Intervals this key has been quiet; it is forgotten after one. */
  idle: boolean;
}

export class LogLimiter {
  private readonly keys = new Map<string, KeyState>();
  private readonly intervalMs: number;
  private readonly maxLines: number;
  private linesThisInterval = 0;
  /** New keys refused a line this interval (over maxLinesPerInterval). */
  private overflow = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: Logger,
    options: LogLimiterOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 10_000;
    this.maxLines = options.maxLinesPerInterval ?? 100;
  }

  /**
   * Logs a warning for (client, cause) unless one was logged for the same pair this interval;
   * then it is counted and reported in the next summary line.
   */
  warn(client: string, cause: string, fields: Record<string, unknown>, msg: string): void {
    const key = `${client}\u0000${cause}`;
    const state = this.keys.get(key);
    if (state) {
      state.suppressed++;
      state.last = { fields, msg };
      state.idle = false;
      return;
    }
    this.ensureTimer();
    if (this.linesThisInterval >= this.maxLines) {
      this.overflow++;
      return;
    }
    this.linesThisInterval++;
    this.keys.set(key, { suppressed: 0, last: undefined, idle: false });
    this.log.warn(fields, msg);
  }

  /** Writes the pending summaries now and stops the timer (call when the owner closes). */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.flush();
    this.keys.clear();
  }

  private ensureTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.flush(), this.intervalMs);
    this.timer.unref();
  }

  private flush(): void {
    for (const [key, state] of this.keys) {
      if (state.suppressed > 0 && state.last) {
        this.log.warn({ ...state.last.fields, suppressed: state.suppressed, intervalMs: this.intervalMs }, `${state.last.msg} (${state.suppressed} more like it not logged)`);
        state.suppressed = 0;
        state.last = undefined;
        state.idle = false;
      } else if (state.idle) {
        this.keys.delete(key);
      } else {
        state.idle = true;
      }
    }
    if (this.overflow > 0) this.log.warn({ suppressed: this.overflow, intervalMs: this.intervalMs }, `${this.overflow} more refusals from other clients not logged (too many distinct clients)`);
    this.overflow = 0;
    this.linesThisInterval = 0;
    if (this.keys.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
