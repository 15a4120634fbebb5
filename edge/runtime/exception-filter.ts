/**
 * Report-by-exception: a reading is passed on when its quality changed, its value moved by more
 * than the point's deadband since the last reported value, or nothing was reported for the
 * heartbeat period (so consumers can tell "unchanged" from "gone").
 */
import type { Reading } from '../drivers/driver.js';

interface Last {
  readonly value: Reading['value'];
  readonly quality: Reading['quality'];
  readonly ts: number;
}

export class ExceptionFilter {
  private readonly last = new Map<string, Last>();

  constructor(private readonly heartbeatMs: number) {}

  /** True when the reading should be reported; remembers it when so. */
  accept(reading: Reading, deadband: number): boolean {
    const key = `${reading.device}\u0000${reading.point}`;
    const previous = this.last.get(key);
    if (!previous || this.changed(previous, reading, deadband) || reading.ts - previous.ts >= this.heartbeatMs) {
      this.last.set(key, { value: reading.value, quality: reading.quality, ts: reading.ts });
      return true;
    }
    return false;
  }

  private changed(previous: Last, reading: Reading, deadband: number): boolean {
    if (previous.quality !== reading.quality) return true;
    if (typeof previous.value === 'number' && typeof reading.value === 'number') {
      return deadband > 0 ? Math.abs(reading.value - previous.value) > deadband : reading.value !== previous.value;
    }
    return previous.value !== reading.value;
  }
}
