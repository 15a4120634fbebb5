/**
 * Physical plausibility of a telemetry batch beyond its schema: every reading's timestamp lies in
 * a window around the hub's clock. Readings from the future (a gateway clock that jumped, a bad
 * RTC) or from before anything the hub would keep are refused as a whole batch and quarantined,
 * never stored where they would poison history, rollups and retention. Historical replay (a
 * gateway's outbox after a long outage) is inside the window by default: a year back.
 */
import type { TelemetryBatch } from '../../shared/wire/messages.js';

export interface TimeWindow {
  /** How far ahead of the hub's clock a reading may be (clock skew). */
  readonly maxFutureMs: number;
  /** How far back a reading may be (historical replay). */
  readonly maxPastMs: number;
}

export const DEFAULT_TIME_WINDOW: TimeWindow = { maxFutureMs: 10 * 60_000, maxPastMs: 366 * 86_400_000 };

const iso = (ts: number): string => new Date(ts).toISOString();

/** undefined when every reading is inside the window, else what is wrong and where. */
export function implausibleTimes(batch: TelemetryBatch, now: number, window: TimeWindow = DEFAULT_TIME_WINDOW): string | undefined {
  const latest = now + window.maxFutureMs;
  const earliest = now - window.maxPastMs;
  for (let i = 0; i < batch.readings.length; i++) {
    const ts = batch.readings[i]!.ts;
    if (ts > latest) return `/readings/${i}/ts: ${iso(ts)} is ${Math.round((ts - now) / 60_000)} min ahead of the hub clock (at most ${window.maxFutureMs / 60_000} min allowed)`;
    if (ts < earliest) return `/readings/${i}/ts: ${iso(ts)} is older than the ${Math.round(window.maxPastMs / 86_400_000)} days of history the hub accepts`;
  }
  return undefined;
}
