/**
 * The log of gateway status changes, coalesced. One gateway going offline is one line, at once; a
 * site's network dropping takes thousands of gateways with it within a second, and a line each
 * (with the work of writing it) is noise that slows the hub exactly when it is busiest. The first
 * change in a quiet window is logged as it happens; the rest of the window's changes become one
 * summary line at its end: how many went online and offline, and the first few gateway ids.
 */
import { BurstWindow } from '../../shared/kit/burst-window.js';
import type { Logger } from '../../shared/kit/log.js';

const SAMPLE = 10;

interface Change {
  readonly site: string;
  readonly gateway: string;
  readonly status: string;
  readonly version?: string | undefined;
}

interface Summary {
  readonly counts: Map<string, number>;
  readonly sample: string[];
}

export class StatusLog {
  private readonly window: BurstWindow<Change, Summary> | undefined;

  constructor(log: Logger | undefined, windowMs = 1000) {
    this.window = log
      ? new BurstWindow<Change, Summary>({
          windowMs,
          single: (change) => log.info(change, 'gateway status changed'),
          start: () => ({ counts: new Map(), sample: [] }),
          add: ({ counts, sample }, change) => {
            counts.set(change.status, (counts.get(change.status) ?? 0) + 1);
            if (sample.length < SAMPLE) sample.push(`${change.site}/${change.gateway}:${change.status}`);
          },
          summary: ({ counts, sample }, changes) =>
            log.info({ changes, byStatus: Object.fromEntries(counts), first: sample, windowMs }, `gateway status changed for ${changes} more gateways (${[...counts].map(([s, n]) => `${n} ${s}`).join(', ')})`),
        })
      : undefined;
  }

  changed(change: Change): void {
    this.window?.push(change);
  }

  /** Writes the window's summary now (when there is one) and starts a quiet window. */
  flush(): void {
    this.window?.flush();
  }
}
