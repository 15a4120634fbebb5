/**
 * Physical plausibility of a telemetry batch beyond its schema: every reading's timestamp lies in
 * a window around the hub's clock. Readings from the future (a gateway clock that jumped, a bad
 * RTC, an OPC UA server whose clock runs ahead) or from before anything the hub would keep are
 * never stored where they would poison history, rollups and retention: ingest quarantines them.
 * A batch mixes every device of its gateway, so only the readings outside the window are
 * refused; the others of the batch are stored (splitByTime). Historical replay (a gateway's
 * outbox after a long outage) is inside the window by default: a year back.
 */
import type { TelemetryBatch, WireReading } from '../../shared/wire/messages.js';

export interface TimeWindow {
  /** How far ahead of the hub's clock a reading may be (clock skew). */
  readonly maxFutureMs: number;
  /** How far back a reading may be (historical replay). */
  readonly maxPastMs: number;
}

export const DEFAULT_TIME_WINDOW: TimeWindow = { maxFutureMs: 10 * 60_000, maxPastMs: 366 * 86_400_000 };

const iso = (ts: number): string => new Date(ts).toISOString();

/** What is wrong with reading i's timestamp (its field path first), or undefined when it is inside the window. */
function problemAt(ts: number, i: number, now: number, window: TimeWindow): string | undefined {
  if (ts > now + window.maxFutureMs) return `/readings/${i}/ts: ${iso(ts)} is ${Math.round((ts - now) / 60_000)} min ahead of the hub clock (at most ${window.maxFutureMs / 60_000} min allowed)`;
  if (ts < now - window.maxPastMs) return `/readings/${i}/ts: ${iso(ts)} is older than the ${Math.round(window.maxPastMs / 86_400_000)} days of history the hub accepts`;
  return undefined;
}

export interface ImplausibleReading {
  /** Its index in the batch as sent. */
  readonly index: number;
  readonly reading: WireReading;
  /** Field path (of the batch as sent) and what is wrong. */
  readonly problem: string;
}

export interface TimeSplit {
  /** The readings inside the window, in their order. */
  readonly plausible: WireReading[];
  /** The readings outside it, in their order; never empty. */
  readonly implausible: ImplausibleReading[];
}

/** undefined when every reading is inside the window (the common case: nothing is copied), else the batch split in two. */
export function splitByTime(batch: TelemetryBatch, now: number, window: TimeWindow = DEFAULT_TIME_WINDOW): TimeSplit | undefined {
  const readings = batch.readings;
  let first = -1;
  for (let i = 0; i < readings.length && first < 0; i++) if (problemAt(readings[i]!.ts, i, now, window)) first = i;
  if (first < 0) return undefined;
  const plausible = readings.slice(0, first);
  const implausible: ImplausibleReading[] = [];
  for (let i = first; i < readings.length; i++) {
    const reading = readings[i]!;
    const problem = problemAt(reading.ts, i, now, window);
    if (problem) implausible.push({ index: i, reading, problem });
    else plausible.push(reading);
  }
  return { plausible, implausible };
}
