/**
 * Per-unit circuit breaker for shared buses: after failureThreshold consecutive link failures the
 * unit is skipped (its requests fail at once without touching the bus) for openMs; then one probe
 * request is let through. A failed probe re-opens the breaker for twice as long (capped), a
 * successful one closes it. This keeps a dead slave from eating the bus time of live ones.
 */
export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  readonly failureThreshold: number;
  readonly openMs: number;
  /** Longest open period while probes keep failing (default max(openMs, 60 s)). */
  readonly maxOpenMs?: number;
}

export type Admission = 'pass' | 'probe' | 'reject';

export class CircuitBreaker {
  private stateValue: BreakerState = 'closed';
  private failures = 0;
  private openUntil = 0;
  private currentOpenMs: number;
  private readonly maxOpenMs: number;

  constructor(
    private readonly options: BreakerOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.currentOpenMs = options.openMs;
    this.maxOpenMs = options.maxOpenMs ?? Math.max(options.openMs, 60_000);
  }

  get state(): BreakerState {
    return this.stateValue;
  }

  get consecutiveFailures(): number {
    return this.failures;
  }

  /** Milliseconds until the next probe is allowed (0 when not open). */
  retryInMs(): number {
    return this.stateValue === 'open' ? Math.max(0, this.openUntil - this.now()) : 0;
  }

  /** Call before a request: 'probe' means this request is the single half-open trial. */
  admit(): Admission {
    if (this.stateValue === 'closed') return 'pass';
    if (this.stateValue === 'open' && this.now() >= this.openUntil) {
      this.stateValue = 'half-open';
      return 'probe';
    }
    return 'reject';
  }

  success(): void {
    this.stateValue = 'closed';
    this.failures = 0;
    this.currentOpenMs = this.options.openMs;
  }

  failure(): void {
    this.failures++;
    if (this.stateValue === 'half-open') {
      this.currentOpenMs = Math.min(this.currentOpenMs * 2, this.maxOpenMs);
      this.trip();
    } else if (this.stateValue === 'closed' && this.failures >= this.options.failureThreshold) {
      this.trip();
    }
  }

  /** A probe that ended without a verdict (driver stopping): let the next request probe again. */
  abandonProbe(): void {
    if (this.stateValue === 'half-open') {
      this.stateValue = 'open';
      this.openUntil = this.now();
    }
  }

  private trip(): void {
    this.stateValue = 'open';
    this.openUntil = this.now() + this.currentOpenMs;
  }
}
