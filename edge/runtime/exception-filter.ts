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
 * for its point before the restart is not reported: a new OPC UA subscription delivers the
 * current value with its original sourceTimestamp, a sample the hub already has. The heartbeat
 * period runs from it; the first reading with a newer timestamp is reported, even with an equal
 * value (as the first reading after a start always is), and the usual rules apply from there.
 */
import type { Reading } from '../drivers/driver.js';

interface Last {
  readonly value: Reading['value'];
  readonly quality: Reading['quality'];
  /** Gateway clock (ms) when this value was last reported. */
  readonly reportedAt: number;
  /** The reported reading's own timestamp. */
  readonly ts: number;
  /** A sample held back after a restart (reported before it): the next newer reading is reported whatever its value. */
  readonly held?: boolean;
}

export interface ExceptionFilterOptions {
  /** Devices whose last reported timestamps are kept for restarts (reportedTimes()). */
  readonly tracked?: ReadonlySet<string>;
}

export class ExceptionFilter {
  private readonly last = new Map<string, Last>();
  /** Last reported timestamps from before a restart, until the point reports a newer reading. */
  private readonly restored = new Map<string, number>();
  private readonly tracked: ReadonlySet<string>;
  private changes = 0;

  constructor(
    readonly heartbeatMs: number,
    options: ExceptionFilterOptions = {},
  ) {
    this.tracked = options.tracked ?? new Set();
  }

  /** True when the reading should be reported; remembers it when so. now: the gateway clock. */
  accept(reading: Reading, deadband: number, now: number = Date.now()): boolean {
    const k = filterKey(reading);
    const before = this.restored.get(k);
    if (before !== undefined && reading.ts <= before) {
      // Reported before the restart: the hub has it. Held back, and the heartbeat runs from now.
      if (!this.last.has(k)) this.last.set(k, { value: reading.value, quality: reading.quality, reportedAt: now, ts: before, held: true });
      return false;
    }
    const previous = this.last.get(k);
    if (!previous || previous.held === true || this.changed(previous, reading, deadband) || now - previous.reportedAt >= this.heartbeatMs) {
      this.remember(reading, now);
      return true;
    }
    return false;
  }

  /** Records a report made outside accept() (a heartbeat). */
  remember(reading: Reading, now: number = Date.now()): void {
    const k = filterKey(reading);
    this.last.set(k, { value: reading.value, quality: reading.quality, reportedAt: now, ts: reading.ts });
    if (this.restored.size > 0 && (this.restored.get(k) ?? Infinity) < reading.ts) this.restored.delete(k);
    if (this.tracked.has(reading.device)) this.changes++;
  }

  /** The last reported timestamps of tracked points before a restart ("device/point" → ms); points of other devices are ignored. */
  restore(times: ReadonlyMap<string, number>): void {
    for (const [ref, ts] of times) {
      const slash = ref.indexOf('/');
      const device = ref.slice(0, slash);
      if (slash > 0 && this.tracked.has(device)) this.restored.set(filterKey({ device, point: ref.slice(slash + 1) }), ts);
    }
  }

  /** Counts reports of tracked points: a caller saves reportedTimes() when it moved. */
  get version(): number {
    return this.changes;
  }

  /** "device/point" → timestamp of the last reading reported, for the tracked devices (what restore() takes after a restart). */
  reportedTimes(): Map<string, number> {
    const out = new Map<string, number>();
    const add = (k: string, ts: number): void => {
      const sep = k.indexOf('\u0000');
      const device = k.slice(0, sep);
      if (this.tracked.has(device)) out.set(`${device}/${k.slice(sep + 1)}`, Math.max(ts, out.get(`${device}/${k.slice(sep + 1)}`) ?? -Infinity));
    };
    for (const [k, ts] of this.restored) add(k, ts);
    for (const [k, last] of this.last) add(k, last.ts);
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
