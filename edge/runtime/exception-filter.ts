/**
 * Report-by-exception: a reading is passed on when its quality changed, its value moved by more
 * than the point's deadband since the last reported value, or nothing was reported for the
 * heartbeat period (so consumers can tell "unchanged" from "gone").
 *
 * The heartbeat period is measured on the gateway's clock from the last report, not from reading
 * timestamps: an OPC UA reading carries its source timestamp, which stays put while the value does.
 * A polled point gets its heartbeat from its next poll; a point nothing new arrives for (subscribed
 * points that do not change, slow polls) is found by due() and re-reported by the gateway.
 *
 * After a restart (restore()), a reading whose timestamp is not newer than the last one reported
 * for its point before the restart, and whose quality is the same, is not reported: a new OPC UA
 * subscription delivers the current value with its original sourceTimestamp, a sample the hub
 * already has. The heartbeat period runs from it; the first reading with a newer timestamp is
 * reported, even with an equal value (as the first reading after a start always is), and the usual
 * rules apply from there.
 * Only source timestamps are kept and compared: those of good and uncertain readings the driver
 * delivered (accept(); an OPC UA Uncertain status carries the server's sourceTimestamp as a good
 * one does), never a heartbeat's (remember(), gateway clock) nor a bad reading's (the runner's and
 * drivers' "not connected" readings carry the gateway clock). A point whose last report was bad
 * has no kept timestamp, and a reading whose quality differs from the last one reported is never
 * held back. A kept timestamp ahead of the gateway clock (a source clock running ahead) is
 * dropped rather than holding back later readings.
 */
import type { Reading } from '../drivers/driver.js';

interface Last {
  readonly value: Reading['value'];
  readonly quality: Reading['quality'];
  /** Gateway clock (ms) when this value was last reported. */
  readonly reportedAt: number;
  /** A sample held back after a restart (reported before it): the next newer reading is reported whatever its value. */
  readonly held?: boolean;
}

/** Qualities whose readings carry the device's own timestamp (bad ones may carry the gateway's). */
export type KeptQuality = 'good' | 'uncertain';

/** The source timestamp and quality of the last sample reported for a point. */
export interface KeptSample {
  readonly ts: number;
  readonly quality: KeptQuality;
}

function keptQuality(quality: Reading['quality']): quality is KeptQuality {
  return quality !== 'bad';
}

export interface ExceptionFilterOptions {
  /** Devices whose last reported timestamps are kept for restarts (reportedTimes()). */
  readonly tracked?: ReadonlySet<string>;
}

export class ExceptionFilter {
  private readonly last = new Map<string, Last>();
  /**
   * Last reported samples from before a restart (source clock), until the point reports a newer
   * one. Their presence says the point's last report before the restart had that quality.
   */
  private readonly restored = new Map<string, KeptSample>();
  /** Tracked points: the last good or uncertain driver reading reported (never a heartbeat nor a bad reading). */
  private readonly sourceTs = new Map<string, KeptSample>();
  private readonly tracked: ReadonlySet<string>;
  private changes = 0;

  constructor(
    readonly heartbeatMs: number,
    options: ExceptionFilterOptions = {},
  ) {
    this.tracked = options.tracked ?? new Set();
  }

  /** True when the reading (as the driver delivered it) should be reported; remembers it when so. now: the gateway clock. */
  accept(reading: Reading, deadband: number, now: number = Date.now()): boolean {
    const k = filterKey(reading);
    const previous = this.last.get(k);
    let before = this.restored.get(k);
    if (before !== undefined && before.ts > now) {
      // Saved from a source clock running ahead of ours: it would hold back every reading until the source passes it.
      this.restored.delete(k);
      this.changes++;
      before = undefined;
    }
    // Held back only a sample of the quality last reported before the restart, and since: a quality change is news.
    if (before !== undefined && reading.ts <= before.ts && reading.quality === before.quality && (previous === undefined || previous.quality === reading.quality)) {
      // Reported before the restart: the hub has it. Held back, and the heartbeat runs from now.
      if (!previous) this.last.set(k, { value: reading.value, quality: reading.quality, reportedAt: now, held: true });
      return false;
    }
    if (!previous || previous.held === true || this.changed(previous, reading, deadband) || now - previous.reportedAt >= this.heartbeatMs) {
      this.record(reading, now, true);
      return true;
    }
    return false;
  }

  /** Records a report made outside accept() (a heartbeat: its ts is the gateway clock, not kept as a source timestamp). */
  remember(reading: Reading, now: number = Date.now()): void {
    this.record(reading, now, false);
  }

  private record(reading: Reading, now: number, fromDriver: boolean): void {
    const k = filterKey(reading);
    const previousQuality = this.last.get(k)?.quality;
    this.last.set(k, { value: reading.value, quality: reading.quality, reportedAt: now });
    if (!this.tracked.has(reading.device)) return;
    let moved = previousQuality !== reading.quality;
    if (fromDriver && keptQuality(reading.quality)) {
      const kept = this.sourceTs.get(k);
      if (kept?.ts !== reading.ts || kept.quality !== reading.quality) moved = true;
      this.sourceTs.set(k, { ts: reading.ts, quality: reading.quality });
      if ((this.restored.get(k)?.ts ?? Infinity) < reading.ts) this.restored.delete(k);
    }
    if (moved) this.changes++;
  }

  /** The last reported samples of tracked points before a restart ("device/point" → sample); points of other devices are ignored. */
  restore(samples: ReadonlyMap<string, KeptSample>): void {
    for (const [ref, sample] of samples) {
      const slash = ref.indexOf('/');
      const device = ref.slice(0, slash);
      if (slash > 0 && this.tracked.has(device)) this.restored.set(filterKey({ device, point: ref.slice(slash + 1) }), sample);
    }
  }

  /** Counts changes of reportedTimes(): a caller saves it when this moved. */
  get version(): number {
    return this.changes;
  }

  /**
   * "device/point" → source timestamp and quality of the last sample reported, for the tracked
   * points whose last report had that quality, good or uncertain (what restore() takes after a restart).
   */
  reportedTimes(): Map<string, KeptSample> {
    const out = new Map<string, KeptSample>();
    const add = (k: string, sample: KeptSample): void => {
      const last = this.last.get(k);
      if (last !== undefined && last.quality !== sample.quality) return;
      const sep = k.indexOf('\u0000');
      const device = k.slice(0, sep);
      const ref = `${device}/${k.slice(sep + 1)}`;
      if (this.tracked.has(device) && sample.ts > (out.get(ref)?.ts ?? -Infinity)) out.set(ref, sample);
    };
    for (const [k, sample] of this.restored) add(k, sample);
    for (const [k, sample] of this.sourceTs) add(k, sample);
    return out;
  }

  /** Whether this point has gone a whole heartbeat period without a report (false if never reported). */
  due(device: string, point: string, now: number): boolean {
    const previous = this.last.get(filterKey({ device, point }));
    return previous !== undefined && now - previous.reportedAt >= this.heartbeatMs;
  }

  /** Gateway-clock time when the earliest point falls due; undefined when nothing was reported yet. */
  nextDue(): number | undefined {
    let earliest: number | undefined;
    for (const { reportedAt } of this.last.values()) if (earliest === undefined || reportedAt < earliest) earliest = reportedAt;
    return earliest === undefined ? undefined : earliest + this.heartbeatMs;
  }

  private changed(previous: Last, reading: Reading, deadband: number): boolean {
    if (previous.quality !== reading.quality) return true;
    if (typeof previous.value === 'number' && typeof reading.value === 'number') {
      return deadband > 0 ? Math.abs(reading.value - previous.value) > deadband : reading.value !== previous.value;
    }
    return previous.value !== reading.value;
  }
}

function filterKey(reading: Pick<Reading, 'device' | 'point'>): string {
  return `${reading.device}\u0000${reading.point}`;
}
