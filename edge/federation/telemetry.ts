/**
 * Telemetry batch encoding. Readings are serialised once, when they enter the outbox; a batch's
 * head (seq, sentAt, historical) is rebuilt at publish time without re-parsing the readings, so
 * replaying a large backlog costs a buffer copy per message, not a JSON round trip. A batch is
 * JSON or, with `federation.telemetryEncoding: binary`, the binary frame of
 * shared/wire/telemetry-binary.ts (its head is rewritten in place the same way).
 */
import { MAX_ABS_VALUE, WireReadingSchema, isValid, retagTelemetryBinary, telemetryEncodingOf, type TelemetryHead, type WireReading } from '../../shared/wire/index.js';
import type { Reading } from '../drivers/driver.js';

/** Upper bound of one batch's encoded readings; keeps every message well below MAX_PAYLOAD_BYTES. */
export const MAX_BATCH_BYTES = 192 * 1024;

const VALUE_MAX = 1024;
const CAUSE_MAX = 512;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Text as UTF-8 and both hub stores can carry it: a lone surrogate (a string cut inside a pair, a
 * device's bad bytes) and a NUL (which PostgreSQL's text cannot hold, so the wire refuses it)
 * become U+FFFD here, so a reading is the same in JSON and in the binary frame (and hashes the
 * same at the hub whichever way it travels).
 */
function wellFormed(s: string): string {
  return s.replace(LONE_SURROGATE, '\uFFFD').replace(/\u0000/g, '\uFFFD');
}

/** Wire form of a reading, or undefined when it cannot satisfy the wire schema (bad ids). */
export function toWireReading(r: Reading): WireReading | undefined {
  let v: WireReading['v'] = r.value;
  let q = r.quality;
  let cause = r.cause;
  if (typeof v === 'number' && !Number.isFinite(v)) v = null;
  else if (typeof v === 'number' && Math.abs(v) > MAX_ABS_VALUE) {
    // No store keeps it and no sensor means it: the reading goes as bad, with the reason.
    v = null;
    q = 'bad';
    cause = `value ${r.value as number} out of range`;
  } else if (typeof v === 'string') v = wellFormed(v.length > VALUE_MAX ? v.slice(0, VALUE_MAX) : v);
  const wire: WireReading = { d: r.device, p: r.point, v, q, ts: Math.max(0, Math.round(r.ts)) };
  if (cause !== undefined) wire.c = wellFormed(cause.slice(0, CAUSE_MAX));
  return isValid(WireReadingSchema, wire) ? wire : undefined;
}

/** The head of a batch (the wire's TelemetryHead): what names it and when it was sent. */
export type BatchHead = TelemetryHead;

const READINGS_KEY = ',"readings":';

/** gateway and bootId are validated ids ([A-Za-z0-9_-]), so they need no JSON escaping. */
function head(h: BatchHead): string {
  return `{"v":1,"gateway":"${h.gateway}","bootId":"${h.bootId}","seq":${h.seq},"sentAt":${h.sentAt},"historical":${h.historical}`;
}

/** A whole TelemetryBatch message from readings already serialised with JSON.stringify. */
export function encodeBatch(h: BatchHead, readingsJson: readonly string[]): Buffer {
  return Buffer.from(`${head(h)}${READINGS_KEY}[${readingsJson.join(',')}]}`);
}

/**
 * The same batch with a new head (historical flag, send time, and the gateway id it goes out
 * under: the current one, also for a batch queued before a re-enrollment under a new id); bootId,
 * seq and readings never change, so the hub's (gateway, bootId, seq) still names one batch.
 */
export function retagBatch(payload: Buffer, h: BatchHead): Buffer {
  if (telemetryEncodingOf(payload) === 'binary') return retagTelemetryBinary(payload, h.sentAt, h.historical, h.gateway);
  const at = payload.indexOf(READINGS_KEY);
  if (at < 0) {
    // Not written by encodeBatch: fall back to a full round trip rather than send a wrong flag.
    const parsed = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
    return Buffer.from(JSON.stringify({ ...parsed, gateway: h.gateway, sentAt: h.sentAt, historical: h.historical }));
  }
  return Buffer.concat([Buffer.from(head(h)), payload.subarray(at)]);
}
