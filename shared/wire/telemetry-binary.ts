/**
 * The compact binary encoding of a TelemetryBatch, for gateways federating to a Swarmgate hub
 * (JSON stays the default and what integrators read). It is announced by its first byte: 0xB7 is
 * a UTF-8 continuation byte, so no JSON text (nor any UTF-8 text) can start with it, and the hub
 * picks the decoder from the payload alone, on the same topic, on any broker (MQTT 3.1.1 has no
 * content type).
 *
 * Frame, version 1 (varint: unsigned LEB128 of at most 8 bytes; zigzag: signed as unsigned):
 *
 *   0     0xB7                     magic
 *   1     0x01                     frame version
 *   2     u8 flags                 bit 0: historical; the other bits are 0
 *   3     f64 LE sentAt            fixed place, so a resend rewrites it without re-encoding
 *   11    varint seq
 *         u8 len, bytes            gateway (ASCII id)
 *         u8 len, bytes            bootId
 *         varint n, n x (varint len, UTF-8 bytes)   string table: device and point names
 *         varint count             readings
 *         count x reading:
 *           varint device          index into the string table
 *           varint point           index into the string table
 *           u8 tag                 bits 0-2 value kind (KIND below), bits 3-4 quality
 *                                  (good, uncertain, bad), bit 5 a cause follows; bits 6-7 are 0
 *           value                  int: zigzag varint; f32/f64: LE; string: varint len, UTF-8
 *           zigzag varint          ts minus the previous reading's ts (the first: minus 0)
 *           [varint len, UTF-8]    cause, when bit 5
 *
 * The frame ends with the last reading; anything after it is refused. Decoding checks every rule
 * of TelemetryBatchSchema while it reads (ids and point names against their patterns, finite and
 * bounded numbers, string lengths, timestamps before 2100, 1..5000 readings), so a decoded batch
 * is as valid as a JSON one that passed its schema; errors name the batch, the reading and the
 * field (/readings/17/ts) like the schema's do, and say at which byte.
 */
import { MAX_ABS_VALUE as ABS_LIMIT, MAX_TS as TS_LIMIT, type Quality, type TelemetryBatch, type WireReading } from './messages.js';

/** Read once: the decoding loop uses plain constants, not module bindings. */
const MAX_TS: number = TS_LIMIT;
const MAX_ABS_VALUE: number = ABS_LIMIT;

export const BINARY_TELEMETRY_MAGIC = 0xb7;
export const BINARY_TELEMETRY_VERSION = 1;
/** Bytes before the varint seq: magic, version, flags, sentAt. */
const FIXED_HEAD = 11;
const FLAG_HISTORICAL = 1;

const KIND = { null: 0, false: 1, true: 2, int: 3, f32: 4, f64: 5, string: 6 } as const;
const QUALITIES: readonly Quality[] = ['good', 'uncertain', 'bad'];
const QUALITY_CODE: Readonly<Record<Quality, number>> = { good: 0, uncertain: 1, bad: 2 };
const HAS_CAUSE = 0x20;

/** The schema's limits (messages.ts), in one place for encoder and decoder. */
const MAX_READINGS = 5000;
const MAX_VALUE_CHARS = 1024;
const MAX_CAUSE_CHARS = 512;
const MAX_NAME_BYTES = 64;
/** Integers of this magnitude and more go as f64 (the zigzag of smaller ones is an exact integer). */
const MAX_VARINT_INT = 2 ** 52;
const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const UUID = /^[A-Za-z0-9_-]{8,64}$/;
const POINT = /^[a-z][a-z0-9_]{0,63}$/;

/** The head of a batch: what names it and when it was sent. */
export interface TelemetryHead {
  readonly gateway: string;
  readonly bootId: string;
  readonly seq: number;
  readonly sentAt: number;
  readonly historical: boolean;
}

export type TelemetryEncoding = 'json' | 'binary';

/** Which encoding a telemetry payload is in, by its first byte. */
export function telemetryEncodingOf(payload: Uint8Array): TelemetryEncoding {
  return payload.byteLength > 0 && payload[0] === BINARY_TELEMETRY_MAGIC ? 'binary' : 'json';
}

// ---------------------------------------------------------------------------------------------
// Encoding

/**
 * Upper bound of the bytes one reading adds to a frame (its names counted as if new to the
 * table), so a batch can be sealed before it outgrows a size bound without encoding it.
 */
export function binaryReadingBound(r: WireReading): number {
  let n = 3 + 3 + 1 + 9 + 8 + r.d.length + r.p.length + 2;
  if (typeof r.v === 'string') n += 3 + 3 * r.v.length;
  if (r.c !== undefined) n += 2 + 3 * r.c.length;
  return n;
}

class Writer {
  buf: Buffer;
  off = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  ensure(n: number): void {
    if (this.off + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.off + n));
    this.buf.copy(next, 0, 0, this.off);
    this.buf = next;
  }

  u8(b: number): void {
    this.ensure(1);
    this.buf[this.off++] = b;
  }

  varint(v: number): void {
    this.ensure(8);
    const buf = this.buf;
    while (v >= 0x80) {
      buf[this.off++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    buf[this.off++] = v;
  }

  zigzag(v: number): void {
    this.varint(v >= 0 ? v * 2 : -v * 2 - 1);
  }

  f64(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.off);
    this.off += 8;
  }

  f32(v: number): void {
    this.ensure(4);
    this.buf.writeFloatLE(v, this.off);
    this.off += 4;
  }

  utf8(s: string): void {
    const bytes = Buffer.byteLength(s);
    this.varint(bytes);
    this.ensure(bytes);
    this.buf.write(s, this.off, bytes, 'utf8');
    this.off += bytes;
  }

  ascii8(s: string): void {
    this.u8(s.length);
    this.ensure(s.length);
    this.buf.write(s, this.off, s.length, 'latin1');
    this.off += s.length;
  }
}

/**
 * A whole binary frame. The readings must already satisfy the wire schema (toWireReading on the
 * gateway); what does not (a name no table entry can hold, a non-finite number) throws.
 */
export function encodeTelemetryBinary(head: TelemetryHead, readings: readonly WireReading[]): Buffer {
  if (!ID.test(head.gateway) || !UUID.test(head.bootId)) throw new RangeError(`binary telemetry: gateway "${head.gateway}" / bootId "${head.bootId}" are not valid ids`);
  const w = new Writer(64 + readings.length * 24);
  w.u8(BINARY_TELEMETRY_MAGIC);
  w.u8(BINARY_TELEMETRY_VERSION);
  w.u8(head.historical ? FLAG_HISTORICAL : 0);
  w.f64(head.sentAt);
  w.varint(head.seq);
  w.ascii8(head.gateway);
  w.ascii8(head.bootId);
  const table = new Map<string, number>();
  const names: string[] = [];
  const index = (name: string): number => {
    let i = table.get(name);
    if (i === undefined) {
      i = names.length;
      table.set(name, i);
      names.push(name);
    }
    return i;
  };
  const refs = new Uint32Array(readings.length * 2);
  for (let i = 0; i < readings.length; i++) {
    const r = readings[i]!;
    refs[2 * i] = index(r.d);
    refs[2 * i + 1] = index(r.p);
  }
  w.varint(names.length);
  for (const name of names) {
    if (name.length > MAX_NAME_BYTES) throw new RangeError(`binary telemetry: name "${name.slice(0, 80)}" is longer than ${MAX_NAME_BYTES}`);
    w.utf8(name);
  }
  w.varint(readings.length);
  let prevTs = 0;
  for (let i = 0; i < readings.length; i++) {
    const r = readings[i]!;
    w.varint(refs[2 * i]!);
    w.varint(refs[2 * i + 1]!);
    const q = QUALITY_CODE[r.q] << 3;
    const cause = r.c !== undefined ? HAS_CAUSE : 0;
    const v = r.v;
    if (v === null) w.u8(KIND.null | q | cause);
    else if (v === false) w.u8(KIND.false | q | cause);
    else if (v === true) w.u8(KIND.true | q | cause);
    else if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new RangeError(`binary telemetry: reading ${i} has a non-finite value`);
      if (Number.isInteger(v) && Math.abs(v) < MAX_VARINT_INT) {
        w.u8(KIND.int | q | cause);
        w.zigzag(v);
      } else if (Math.fround(v) === v) {
        w.u8(KIND.f32 | q | cause);
        w.f32(v);
      } else {
        w.u8(KIND.f64 | q | cause);
        w.f64(v);
      }
    } else {
      w.u8(KIND.string | q | cause);
      w.utf8(v);
    }
    w.zigzag(r.ts - prevTs);
    prevTs = r.ts;
    if (r.c !== undefined) w.utf8(r.c);
  }
  return w.buf.subarray(0, w.off);
}

/**
 * The same frame with a new send time and historical flag (seq and readings never change), and,
 * when `gateway` is given and differs from the frame's (a gateway re-enrolled under a new id
 * sending what it queued before), that gateway id in its head.
 */
export function retagTelemetryBinary(frame: Uint8Array, sentAt: number, historical: boolean, gateway?: string): Buffer {
  if (frame.byteLength < FIXED_HEAD || frame[0] !== BINARY_TELEMETRY_MAGIC) throw new RangeError('not a binary telemetry frame');
  let out = Buffer.from(frame);
  if (gateway !== undefined) {
    if (!ID.test(gateway)) throw new RangeError(`binary telemetry: gateway "${gateway}" is not a valid id`);
    const r = new Reader(out);
    r.off = FIXED_HEAD;
    r.varint('/seq');
    const at = r.off;
    const old = r.ascii8('/gateway', ID, 'a gateway id');
    if (old !== gateway) out = Buffer.concat([out.subarray(0, at), Buffer.from([gateway.length]), Buffer.from(gateway, 'ascii'), out.subarray(r.off)]);
  }
  out[2] = (out[2]! & ~FLAG_HISTORICAL) | (historical ? FLAG_HISTORICAL : 0);
  out.writeDoubleLE(sentAt, 3);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Decoding

export type BinaryDecodeResult = { ok: true; value: TelemetryBatch } | { ok: false; reason: 'bad-frame' | 'schema'; error: string };

/** A frame that breaks its own structure (truncated, bad index) or a rule of the schema. */
class FrameError extends Error {
  constructor(
    readonly reason: 'bad-frame' | 'schema',
    readonly where: string,
    message: string,
    readonly at: number,
  ) {
    super(message);
  }
}

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });

class Reader {
  off = 0;
  readonly end: number;

  constructor(readonly buf: Buffer) {
    this.end = buf.length;
  }

  need(n: number, where: string): void {
    if (this.off + n > this.end) throw new FrameError('bad-frame', where, `the frame ends inside it (${this.end} bytes, ${n} more needed)`, this.off);
  }

  u8(where: string): number {
    if (this.off >= this.end) throw new FrameError('bad-frame', where, `the frame ends inside it (${this.end} bytes)`, this.off);
    return this.buf[this.off++]!;
  }

  /** Unsigned LEB128 up to Number.MAX_SAFE_INTEGER. */
  varint(where: string): number {
    const buf = this.buf;
    const start = this.off;
    let b = this.off < this.end ? buf[this.off++]! : -1;
    if (b < 0) throw new FrameError('bad-frame', where, `the frame ends inside it (${this.end} bytes)`, start);
    if (b < 0x80) return b;
    let v = b & 0x7f;
    let scale = 0x80;
    for (let i = 1; ; i++) {
      if (this.off >= this.end) throw new FrameError('bad-frame', where, `the frame ends inside a number (${this.end} bytes)`, start);
      b = buf[this.off++]!;
      v += (b & 0x7f) * scale;
      if (b < 0x80) break;
      if (i >= 7) throw new FrameError('bad-frame', where, 'a number longer than 8 bytes', start);
      scale *= 0x80;
    }
    if (v > Number.MAX_SAFE_INTEGER) throw new FrameError('schema', where, `${v} is beyond the exact integers (${Number.MAX_SAFE_INTEGER})`, start);
    return v;
  }

  zigzag(where: string): number {
    const z = this.varint(where);
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }

  /** An ASCII id of at most 255 bytes, checked against its pattern. */
  ascii8(where: string, pattern: RegExp, what: string): string {
    const start = this.off;
    const n = this.u8(where);
    this.need(n, where);
    const s = this.buf.toString('latin1', this.off, this.off + n);
    this.off += n;
    if (!pattern.test(s)) throw new FrameError('schema', where, `${JSON.stringify(s)} is not ${what}`, start);
    return s;
  }

  /** UTF-8 text of at most maxChars UTF-16 units (the schema's maxLength), invalid UTF-8 refused. */
  utf8(where: string, maxChars: number): string {
    const start = this.off;
    const n = this.varint(where);
    if (n > maxChars * 3) throw new FrameError('schema', where, `${n} bytes of text, more than the ${maxChars} characters allowed`, start);
    this.need(n, where);
    const from = this.off;
    this.off += n;
    let ascii = true;
    for (let i = from; i < this.off; i++) if (this.buf[i]! >= 0x80) (ascii = false), (i = this.off);
    // Every text field (names, values, causes): PostgreSQL cannot store a NUL (U+0000).
    const nul = this.buf.subarray(from, this.off).indexOf(0);
    if (nul !== -1) throw new FrameError('schema', where, 'text must not contain NUL characters (U+0000)', from + nul);
    let s: string;
    if (ascii) s = this.buf.toString('latin1', from, this.off);
    else
      try {
        s = fatalUtf8.decode(this.buf.subarray(from, this.off));
      } catch {
        throw new FrameError('schema', where, 'not valid UTF-8', from);
      }
    if (s.length > maxChars) throw new FrameError('schema', where, `${s.length} characters, more than the ${maxChars} allowed`, start);
    return s;
  }
}

/**
 * Names in the table, decoded and checked once per process, not once per frame: a gateway sends
 * the same few hundred names in every batch. Keyed by a hash of the bytes and confirmed against
 * them; `flags` records the patterns the name was found to match (on first use as a device id or
 * a point name). Bounded: emptied when it grows past NAME_CACHE_MAX.
 */
interface CachedName {
  readonly s: string;
  flags: number;
}
const ID_OK = 1;
const POINT_OK = 2;
const ID_BAD = 4;
const POINT_BAD = 8;
const NAME_CACHE_MAX = 65_536;
const nameCache = new Map<number, CachedName>();

function cachedName(buf: Buffer, from: number, to: number): CachedName {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
  h = (h ^ (to - from)) >>> 0;
  const hit = nameCache.get(h);
  if (hit !== undefined && hit.s.length === to - from) {
    let same = true;
    for (let i = from, k = 0; i < to; i++, k++)
      if (hit.s.charCodeAt(k) !== buf[i]) {
        same = false;
        break;
      }
    if (same) return hit;
  }
  const entry: CachedName = { s: buf.toString('latin1', from, to), flags: 0 };
  if (nameCache.size >= NAME_CACHE_MAX) nameCache.clear();
  nameCache.set(h, entry);
  return entry;
}

function isDeviceId(name: CachedName): boolean {
  if ((name.flags & (ID_OK | ID_BAD)) === 0) name.flags |= ID.test(name.s) ? ID_OK : ID_BAD;
  return (name.flags & ID_OK) !== 0;
}

function isPointName(name: CachedName): boolean {
  if ((name.flags & (POINT_OK | POINT_BAD)) === 0) name.flags |= POINT.test(name.s) ? POINT_OK : POINT_BAD;
  return (name.flags & POINT_OK) !== 0;
}

/**
 * Decodes and validates a binary frame. Never throws: a bad frame comes back naming the topic,
 * the batch (once its head is read), the field and the byte.
 */
export function decodeTelemetryBinary(topic: string, payload: Uint8Array): BinaryDecodeResult {
  const buf = Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const r = new Reader(buf);
  let batchName = 'binary telemetry';
  /** The reading being decoded: a field of it is named '.d', '.v', ... until an error says /readings/<i>/v. */
  let current = -1;
  try {
    if (r.u8('(frame)') !== BINARY_TELEMETRY_MAGIC) throw new FrameError('bad-frame', '(frame)', 'not a binary telemetry frame (first byte)', 0);
    const version = r.u8('(frame)');
    if (version !== BINARY_TELEMETRY_VERSION) throw new FrameError('bad-frame', '(frame)', `frame version ${version} is not known (this hub reads ${BINARY_TELEMETRY_VERSION})`, 1);
    const flags = r.u8('/historical');
    if ((flags & ~FLAG_HISTORICAL) !== 0) throw new FrameError('bad-frame', '(frame)', `unknown flag bits 0x${flags.toString(16)}`, 2);
    r.need(8, '/sentAt');
    const sentAt = buf.readDoubleLE(r.off);
    r.off += 8;
    if (!Number.isInteger(sentAt) || sentAt < 0 || sentAt > MAX_TS) throw new FrameError('schema', '/sentAt', `${sentAt} is not a time in milliseconds between the epoch and 2100`, 3);
    const seq = r.varint('/seq');
    const gateway = r.ascii8('/gateway', ID, 'a gateway id');
    const bootId = r.ascii8('/bootId', UUID, 'a boot id (8 to 64 of A-Z a-z 0-9 _ -)');
    batchName = `batch ${gateway}/${bootId}/${seq}`;

    const tableStart = r.off;
    const nNames = r.varint('(string table)');
    if (nNames > 2 * MAX_READINGS) throw new FrameError('bad-frame', '(string table)', `${nNames} names, more than two per reading`, tableStart);
    const names: CachedName[] = new Array<CachedName>(nNames);
    for (let i = 0; i < nNames; i++) {
      const start = r.off;
      const n = r.varint('(string table)');
      if (n > MAX_NAME_BYTES) throw new FrameError('schema', `(string table entry ${i})`, `${n} bytes, longer than any id or point name (${MAX_NAME_BYTES})`, start);
      r.need(n, `(string table entry ${i})`);
      // Ids and point names are ASCII by their patterns: anything else fails them on use.
      names[i] = cachedName(buf, r.off, r.off + n);
      r.off += n;
    }

    const countAt = r.off;
    const count = r.varint('/readings');
    if (count < 1 || count > MAX_READINGS) throw new FrameError('schema', '/readings', `${count} readings; a batch holds 1 to ${MAX_READINGS}`, countAt);
    const readings: WireReading[] = new Array<WireReading>(count);
    let ts = 0;
    for (let i = 0; i < count; i++) {
      current = i;
      const at = r.off;
      const di = r.varint('.d');
      if (di >= nNames) throw new FrameError('bad-frame', '.d', `name ${di} is not in the string table (${nNames} names)`, at);
      const dn = names[di]!;
      if ((dn.flags & ID_OK) === 0 && !isDeviceId(dn)) throw new FrameError('schema', '.d', `${JSON.stringify(dn.s)} is not a device id`, at);
      const pAt = r.off;
      const pi = r.varint('.p');
      if (pi >= nNames) throw new FrameError('bad-frame', '.p', `name ${pi} is not in the string table (${nNames} names)`, pAt);
      const pn = names[pi]!;
      if ((pn.flags & POINT_OK) === 0 && !isPointName(pn)) throw new FrameError('schema', '.p', `${JSON.stringify(pn.s)} is not a point name (a-z, 0-9, _; a letter first)`, pAt);
      const d = dn.s;
      const p = pn.s;
      const tagAt = r.off;
      const tag = r.u8('.v');
      if (tag & 0xc0) throw new FrameError('bad-frame', '.v', `unknown tag bits 0x${tag.toString(16)}`, tagAt);
      const qc = (tag >> 3) & 3;
      if (qc === 3) throw new FrameError('schema', '.q', 'quality code 3 is none of good, uncertain, bad', tagAt);
      let v: WireReading['v'];
      switch (tag & 7) {
        case KIND.null:
          v = null;
          break;
        case KIND.false:
          v = false;
          break;
        case KIND.true:
          v = true;
          break;
        case KIND.int: {
          // At most MAX_SAFE_INTEGER (varint), so within ±2^52.
          const z = r.varint('.v');
          v = z % 2 === 0 ? z / 2 : -(z + 1) / 2;
          break;
        }
        case KIND.f32:
          r.need(4, '.v');
          v = buf.readFloatLE(r.off);
          r.off += 4;
          if (!Number.isFinite(v)) throw new FrameError('schema', '.v', `${v} is not a finite number`, tagAt + 1);
          break;
        case KIND.f64:
          r.need(8, '.v');
          v = buf.readDoubleLE(r.off);
          r.off += 8;
          if (!(v >= -MAX_ABS_VALUE && v <= MAX_ABS_VALUE)) throw new FrameError('schema', '.v', `${v} is not a finite number within ±${MAX_ABS_VALUE}`, tagAt + 1);
          break;
        case KIND.string:
          v = r.utf8('.v', MAX_VALUE_CHARS);
          break;
        default:
          throw new FrameError('bad-frame', '.v', `value kind ${tag & 7} is not known`, tagAt);
      }
      const tsAt = r.off;
      const tb = r.off < r.end ? buf[r.off]! : 0x80;
      if (tb < 0x80) {
        r.off++;
        ts += tb & 1 ? -(tb + 1) / 2 : tb / 2;
      } else ts += r.zigzag('.ts');
      if (ts < 0 || ts > MAX_TS) throw new FrameError('schema', '.ts', `${ts} is not a time in milliseconds between the epoch and 2100`, tsAt);
      const q = QUALITIES[qc]!;
      if (tag & HAS_CAUSE) readings[i] = { d, p, v, q, ts, c: r.utf8('.c', MAX_CAUSE_CHARS) };
      else readings[i] = { d, p, v, q, ts };
    }
    if (r.off !== r.end) throw new FrameError('bad-frame', '(frame)', `${r.end - r.off} bytes after the last reading`, r.off);
    return { ok: true, value: { v: 1, gateway, bootId, seq, sentAt, historical: (flags & FLAG_HISTORICAL) !== 0, readings } };
  } catch (err) {
    if (!(err instanceof FrameError)) throw err;
    const where = err.where.startsWith('.') ? `/readings/${current}/${err.where.slice(1)}` : err.where;
    return { ok: false, reason: err.reason, error: `${topic}: ${batchName}: ${where}: ${err.message} (byte ${err.at})` };
  }
}

/**
 * The batch a frame names (gateway, bootId, seq), read from its head alone: a frame refused for a
 * bad reading can still be receipted to its gateway. Undefined when even the head is unreadable.
 */
export function binaryTelemetryKey(payload: Uint8Array): { gateway: string; bootId: string; seq: number } | undefined {
  const buf = Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (buf.length < FIXED_HEAD || buf[0] !== BINARY_TELEMETRY_MAGIC || buf[1] !== BINARY_TELEMETRY_VERSION) return undefined;
  const r = new Reader(buf);
  r.off = FIXED_HEAD;
  try {
    const seq = r.varint('/seq');
    const gateway = r.ascii8('/gateway', ID, 'a gateway id');
    const bootId = r.ascii8('/bootId', UUID, 'a boot id');
    return { gateway, bootId, seq };
  } catch (err) {
    if (err instanceof FrameError) return undefined;
    throw err;
  }
}
