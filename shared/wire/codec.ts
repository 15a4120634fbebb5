/**
 * Encoding and checked decoding of wire messages. Decoding never throws: a payload that is too
 * large, not JSON or not matching its schema comes back as a rejection naming the topic and the
 * offending field, for the caller to count and log. Telemetry may also come in the binary frame
 * of telemetry-binary.ts, told apart by its first byte; decodeTelemetry reads either.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { TelemetryBatchSchema, type TelemetryBatch } from './messages.js';
import { BINARY_TELEMETRY_MAGIC, binaryTelemetryKey, decodeTelemetryBinary } from './telemetry-binary.js';
import { NUL_MESSAGE, nulPath } from '../kit/nul.js';
import { errorText, fieldError } from '../kit/schema-text.js';

/** Default upper bound of one MQTT payload on the wire contract. */
export const MAX_PAYLOAD_BYTES = 256 * 1024;

/** bad-frame: a binary telemetry frame broken in its structure (truncated, unknown version, bad index). */
export type DecodeResult<T> = { ok: true; value: T } | { ok: false; reason: 'too-large' | 'not-json' | 'schema' | 'bad-frame'; error: string };

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

function checker<S extends TSchema>(schema: S): TypeCheck<S> {
  let check = compiled.get(schema) as TypeCheck<S> | undefined;
  if (!check) {
    check = TypeCompiler.Compile(schema);
    compiled.set(schema, check as unknown as TypeCheck<TSchema>);
  }
  return check;
}

/** An escaped NUL in JSON text (not an escaped backslash followed by "u0000"). */
const ESCAPED_NUL = /(?<!\\)((?:\\\\)*)\\u0000/g;

/**
 * A message as JSON. The wire carries no NUL (decode refuses one: PostgreSQL cannot store it), so
 * a NUL in any text a device or config produced (an event message, a unit, a tag) goes as U+FFFD
 * rather than getting the whole message refused.
 */
export function encode<S extends TSchema>(_schema: S, message: Static<S>): Buffer {
  const json = JSON.stringify(message);
  return Buffer.from(json.includes('\\u0000') ? json.replace(ESCAPED_NUL, '$1\\ufffd') : json);
}

export function decode<S extends TSchema>(schema: S, topic: string, payload: Buffer | Uint8Array | string, maxBytes = MAX_PAYLOAD_BYTES): DecodeResult<Static<S>> {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
  if (size > maxBytes) return { ok: false, reason: 'too-large', error: `${topic}: payload of ${size} bytes exceeds the limit of ${maxBytes}` };
  let value: unknown;
  const text = typeof payload === 'string' ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8');
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: 'not-json', error: `${topic}: payload is not JSON (${err instanceof Error ? err.message : String(err)})` };
  }
  // JSON can carry a NUL only escaped; PostgreSQL's text and jsonb cannot keep one, in any field.
  const nul = text.includes('\\u0000') ? nulPath(value) : undefined;
  if (nul !== undefined) return { ok: false, reason: 'schema', error: `${topic}: ${nul || '(message)'}: ${NUL_MESSAGE}` };
  const problem = schemaProblem(schema, value);
  return problem === undefined ? { ok: true, value: value as Static<S> } : { ok: false, reason: 'schema', error: `${topic}: ${problem}` };
}

/** What is wrong with `value` against `schema`, as "<field path>: <what it should be>"; undefined when it fits. */
export function schemaProblem<S extends TSchema>(schema: S, value: unknown): string | undefined {
  const check = checker(schema);
  if (check.Check(value)) return undefined;
  const found = check.Errors(value).First();
  const first = found ? fieldError(found) : undefined;
  const where = first?.path ? first.path : '(message)';
  return `${where}: ${first ? errorText(first) : 'does not match the schema'}`;
}

/** Validates an in-memory value (e.g. before publishing) with the same compiled schema. */
export function isValid<S extends TSchema>(schema: S, value: unknown): value is Static<S> {
  return checker(schema).Check(value);
}

/** A telemetry batch in either encoding (JSON, or the binary frame announced by its first byte), checked alike. */
export function decodeTelemetry(topic: string, payload: Buffer | Uint8Array, maxBytes = MAX_PAYLOAD_BYTES): DecodeResult<TelemetryBatch> {
  if (payload.byteLength === 0 || payload[0] !== BINARY_TELEMETRY_MAGIC) return decode(TelemetryBatchSchema, topic, payload, maxBytes);
  if (payload.byteLength > maxBytes) return { ok: false, reason: 'too-large', error: `${topic}: payload of ${payload.byteLength} bytes exceeds the limit of ${maxBytes}` };
  return decodeTelemetryBinary(topic, payload);
}

/**
 * The batch a telemetry payload names (gateway, bootId, seq), in either encoding, without
 * checking its readings: what a receipt for a refused batch needs. Undefined when it names none.
 */
export function telemetryKey(payload: Buffer | Uint8Array): { gateway: string; bootId: string; seq: number } | undefined {
  if (payload.byteLength > 0 && payload[0] === BINARY_TELEMETRY_MAGIC) return binaryTelemetryKey(payload);
  try {
    const head = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8')) as { gateway?: unknown; bootId?: unknown; seq?: unknown };
    if (typeof head.gateway !== 'string' || typeof head.bootId !== 'string' || typeof head.seq !== 'number') return undefined;
    return { gateway: head.gateway, bootId: head.bootId, seq: head.seq };
  } catch {
    return undefined;
  }
}

/**
 * A telemetry payload this hub accepted before, read back from its ingest journal: JSON parsed
 * without a second schema check, a binary frame decoded (checked as it is read, at no extra cost).
 * Throws when the record is neither.
 */
export function readJournaledTelemetry(payload: Buffer | Uint8Array): TelemetryBatch {
  if (payload.byteLength > 0 && payload[0] === BINARY_TELEMETRY_MAGIC) {
    const r = decodeTelemetryBinary('ingest journal', payload);
    if (!r.ok) throw new Error(r.error);
    return r.value;
  }
  const b = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8')) as TelemetryBatch;
  if (!Array.isArray(b.readings)) throw new Error('no readings array');
  return b;
}
