/**
 * The log of gateway status changes, coalesced. One gateway going offline is one line, at once; a
 * site's network dropping takes thousands of gateways with it within a second, and a line each
 * (with the work of writing it) is noise that slows the hub exactly when it is busiest. The first
 * change in a quiet window is logged as it happens; the rest of the window's changes become one
 * summary line at its end: how many went online and offline, and the first few gateway ids.
 */
import type { Logger } from '../../shared/kit/log.js';

const SAMPLE = 10;

interface Change {
  readonly site: string;
  readonly gateway: string;
  readonly status: string;
  readonly version?: string | undefined;
}

export class StatusLog {
  private timer: NodeJS.Timeout | undefined;
  private readonly counts = new Map<string, number>();
  private readonly sample: string[] = [];
  private pending = 0;

  constructor(
    private readonly log: Logger | undefined,
    private readonly windowMs = 1000,
  ) {}

  changed(change: Change): void {
    if (!this.log) return;
    if (!this.timer) {
      this.log.info(change, 'gateway status changed');
      this.timer = setTimeout(() => this.flush(), this.windowMs);
      this.timer.unref();
      return;
    }
    this.pending++;
    this.counts.set(change.status, (this.counts.get(change.status) ?? 0) + 1);
    if (this.sample.length < SAMPLE) this.sample.push(`${change.site}/${change.gateway}:${change.status}`);
  }

  /** Writes the window's summary now (when there is one) and starts a quiet window. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending === 0 || !this.log) return;
    const byStatus = Object.fromEntries(this.counts);
    this.log.info({ changes: this.pending, byStatus, first: [...this.sample], windowMs: this.windowMs }, `gateway status changed for ${this.pending} more gateways (${[...this.counts].map(([s, n]) => `${n} ${s}`).join(', ')})`);
    this.pending = 0;
    this.counts.clear();
    this.sample.length = 0;
  }
}
