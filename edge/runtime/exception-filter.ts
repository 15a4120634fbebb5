/**
 * Report-by-exception: a reading is passed on when its quality changed, its value moved by more
 * than the point's deadband since the last reported value, or nothing was reported for the
 * heartbeat period (so consumers can tell "unchanged" from "gone").
 *
 * The heartbeat period is measured on the gateway's clock from the last report, not from reading
 * timestamps: an OPC UA reading carries its source timestamp, which stays put while the value does.
 * A polled point gets its heartbeat from its next poll; a point nothing new arrives for (subscribed
 * points that do not change, slow polls) is found by due() and re-reported by the gateway.
 */
import type { Reading } from '../drivers/driver.js';

interface Last {
  readonly value: Reading['value'];
  readonly quality: Reading['quality'];
  /** Gateway clock (ms) when this value was last reported. */
  readonly reportedAt: number;
}

export class ExceptionFilter {
  private readonly last = new Map<string, Last>();

  constructor(readonly heartbeatMs: number) {}

  /** True when the reading should be reported; remembers it when so. now: the gateway clock. */
  accept(reading: Reading, deadband: number, now: number = Date.now()): boolean {
    const previous = this.last.get(filterKey(reading));
    if (!previous || this.changed(previous, reading, deadband) || now - previous.reportedAt >= this.heartbeatMs) {
      this.remember(reading, now);
      return true;
    }
    return false;
  }

  /** Records a report made outside accept() (a heartbeat). */
  remember(reading: Reading, now: number = Date.now()): void {
    this.last.set(filterKey(reading), { value: reading.value, quality: reading.quality, reportedAt: now });
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
