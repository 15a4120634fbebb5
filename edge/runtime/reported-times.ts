/**
 * The timestamp of the last reading reported per point, kept across restarts for devices whose
 * readings carry the device's own timestamp (DriverManifest.sourceTimestamps: OPC UA). A new
 * subscription after a restart delivers each point's current value with the server's original
 * sourceTimestamp: a sample the gateway reported before the restart. The exception filter holds
 * those back (edge/runtime/exception-filter.ts restore()), so the hub does not store the sample again.
 *
 * One small JSON file under the data folder, replaced atomically (temp file, fsync, rename) at most
 * once per SAVE_INTERVAL_MS while something changed, and on stop. A crash loses at most that
 * window: a point that changed in it may report its last sample once more after the restart. A file
 * written at a later gateway-clock time than now (the clock went back across the restart) is not
 * used: its timestamps would hold back fresh readings. Nor is a timestamp later than the gateway
 * clock when the file was written: it came from a source clock running ahead, and would hold back
 * the point's readings after the source's clock is set right. Version 1 files (which could hold
 * heartbeat times, on the gateway's clock) are not used.
 *
 * Points whose last report was uncertain (an OPC UA Uncertain status, with the server's source
 * timestamp) are kept in `uncertain`, beside the good ones in `points`: a release that does not
 * know that field still reads the file and only reports those samples once more.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { Logger } from 'pino';
import { errorMessage } from '../../shared/kit/errors.js';
import type { KeptSample } from './exception-filter.js';

export const REPORTED_TIMES_FILE = 'reported-times.json';
/** Throttle of the file writes. */
export const SAVE_INTERVAL_MS = 30_000;

const ReportedTimesSchema = Type.Object({
  v: Type.Literal(2),
  /** Gateway clock (ms since the epoch) when the file was written. */
  savedAt: Type.Number(),
  /** "device/point" → source timestamp (ms since the epoch) of the last good reading reported, for points whose last report was good. */
  points: Type.Record(Type.String(), Type.Number()),
  /** The same for points whose last report was uncertain (absent in files of earlier releases). */
  uncertain: Type.Optional(Type.Record(Type.String(), Type.Number())),
});

export function reportedTimesFile(dataDir: string): string {
  return join(dataDir, REPORTED_TIMES_FILE);
}

/** "device/point" keys (ids and point names hold no "/") → last reported samples; empty when there is no usable file. */
export function loadReportedTimes(file: string, log: Logger, now: number = Date.now()): Map<string, KeptSample> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ file, err: errorMessage(err) }, 'cannot read the last reported timestamps; readings repeated by a new subscription may be reported again');
    return new Map();
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    log.warn({ file, err: errorMessage(err) }, 'the last reported timestamps are not JSON; starting without them');
    return new Map();
  }
  if (typeof doc === 'object' && doc !== null && (doc as { v?: unknown }).v === 1) {
    log.info({ file }, 'the last reported timestamps file is of version 1 (may hold heartbeat times); starting without it');
    return new Map();
  }
  if (!Value.Check(ReportedTimesSchema, doc)) {
    log.warn({ file }, 'the last reported timestamps file has an unknown layout; starting without it');
    return new Map();
  }
  if (doc.savedAt > now) {
    log.warn({ file, savedAt: new Date(doc.savedAt).toISOString(), now: new Date(now).toISOString() }, 'the gateway clock is behind the time the last reported timestamps were saved (clock went back); not using them');
    return new Map();
  }
  const points = new Map<string, KeptSample>();
  const ahead: string[] = [];
  const take = (saved: Record<string, number>, quality: KeptSample['quality']): void => {
    for (const [ref, ts] of Object.entries(saved)) {
      if (ts > doc.savedAt) ahead.push(ref);
      else if (ts > (points.get(ref)?.ts ?? -Infinity)) points.set(ref, { ts, quality });
    }
  };
  take(doc.points, 'good');
  take(doc.uncertain ?? {}, 'uncertain');
  if (ahead.length > 0) log.warn({ file, points: ahead.slice(0, 10), count: ahead.length, savedAt: new Date(doc.savedAt).toISOString() }, 'last reported timestamps later than the gateway clock when they were saved (source clock ahead); not using them');
  return points;
}

/** Replaces the file atomically; a failure is logged (only the suppression of repeated samples after a restart is at stake). */
export function saveReportedTimes(file: string, samples: ReadonlyMap<string, KeptSample>, log: Logger, now: number = Date.now()): boolean {
  const tmp = `${file}.tmp-${process.pid}`;
  const points: Record<string, number> = {};
  const uncertain: Record<string, number> = {};
  for (const [ref, { ts, quality }] of samples) (quality === 'good' ? points : uncertain)[ref] = ts;
  const doc: Static<typeof ReportedTimesSchema> = { v: 2, savedAt: now, points, ...(Object.keys(uncertain).length > 0 ? { uncertain } : {}) };
  try {
    const fd = openSync(tmp, 'w', 0o644);
    try {
      writeSync(fd, JSON.stringify(doc));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    return true;
  } catch (err) {
    log.warn({ file, err: errorMessage(err) }, 'could not save the last reported timestamps');
    return false;
  }
}
