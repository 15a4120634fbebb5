/**
 * The binary telemetry frame: what goes in comes out (every value kind, quality, cause, unicode,
 * the extremes of every field), it is told from JSON by its first byte, and a frame that breaks a
 * rule of TelemetryBatchSchema or its own structure is refused with the batch, the reading and
 * the field named, exactly where the JSON decoder refuses the same batch.
 */
import { describe, expect, it } from 'vitest';
import {
  BINARY_TELEMETRY_MAGIC,
  MAX_ABS_VALUE,
  MAX_TS,
  TelemetryBatchSchema,
  binaryReadingBound,
  decode,
  decodeTelemetry,
  encode,
  encodeTelemetryBinary,
  retagTelemetryBinary,
  telemetryEncodingOf,
  telemetryKey,
  type TelemetryBatch,
  type WireReading,
} from '../../shared/wire/index.js';

const TOPIC = 'swarmgate/v1/site-a/gw-1/telemetry';
const T = 1_700_000_000_000;

function batchOf(readings: WireReading[], over: Partial<TelemetryBatch> = {}): TelemetryBatch {
  return { v: 1, gateway: 'gw-1', bootId: 'boot-0001', seq: 7, sentAt: T + 5, historical: false, readings, ...over };
}

const frame = (b: TelemetryBatch): Buffer => encodeTelemetryBinary(b, b.readings);

function roundTrip(b: TelemetryBatch): TelemetryBatch {
  const r = decodeTelemetry(TOPIC, frame(b));
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

/** The error of a refused payload (fails the test when it is accepted). */
function refusal(payload: Buffer): { reason: string; error: string } {
  const r = decodeTelemetry(TOPIC, payload);
  expect(r.ok).toBe(false);
  return r.ok ? { reason: '', error: '' } : { reason: r.reason, error: r.error };
}

describe('binary telemetry frame', () => {
  it('round-trips every value kind, quality and cause, equal to what JSON gives', () => {
    const readings: WireReading[] = [
      { d: 'ahu1', p: 'supply_air_temp', v: 13.5, q: 'good', ts: T },
      { d: 'ahu1', p: 'fan_speed', v: 20.123456789, q: 'good', ts: T + 1 },
      { d: 'ahu1', p: 'count', v: 42, q: 'good', ts: T + 1 },
      { d: 'ahu1', p: 'negative', v: -7, q: 'uncertain', ts: T - 10, c: 'stale' },
      { d: 'ahu1', p: 'zero', v: 0, q: 'good', ts: T },
      { d: 'ahu1', p: 'tiny', v: 5e-324, q: 'good', ts: T },
      { d: 'ahu1', p: 'on', v: true, q: 'good', ts: T },
      { d: 'ahu1', p: 'off', v: false, q: 'good', ts: T },
      { d: 'ahu1', p: 'missing', v: null, q: 'bad', ts: T, c: 'timeout after 3 tries' },
      { d: 'vav_2', p: 'mode', v: 'occupied', q: 'good', ts: T + 60_000 },
      { d: 'vav_2', p: 'label', v: 'Zone 3 — Küche ❄️ 温度', q: 'good', ts: T, c: 'capteur déplacé ✓' },
      { d: 'vav_2', p: 'empty', v: '', q: 'good', ts: T, c: '' },
    ];
    const b = batchOf(readings);
    const decoded = roundTrip(b);
    expect(decoded).toEqual(b);
    // The same object as the JSON path returns for the same batch.
    const viaJson = decode(TelemetryBatchSchema, TOPIC, JSON.stringify(b)); // as a peer could send it
    expect(viaJson.ok && viaJson.value).toEqual(decoded);
    expect(Object.keys(decoded.readings[3]!)).toEqual(['d', 'p', 'v', 'q', 'ts', 'c']);
    expect(Object.keys(decoded.readings[0]!)).toEqual(['d', 'p', 'v', 'q', 'ts']);
  });

  it('round-trips the extremes of every field', () => {
    const id64 = `A${'b'.repeat(63)}`;
    const point64 = `p${'_'.repeat(63)}`;
    const readings: WireReading[] = [
      { d: id64, p: point64, v: MAX_ABS_VALUE, q: 'good', ts: MAX_TS },
      { d: 'd', p: 'p', v: -MAX_ABS_VALUE, q: 'good', ts: 0 },
      { d: 'd', p: 'p', v: Number.MAX_SAFE_INTEGER, q: 'good', ts: MAX_TS },
      { d: 'd', p: 'p', v: Number.MIN_SAFE_INTEGER, q: 'good', ts: 1 },
      { d: 'd', p: 'p', v: 2 ** 52, q: 'good', ts: 1 },
      { d: 'd', p: 'p', v: -(2 ** 52) - 1, q: 'good', ts: 1 },
      { d: 'd', p: 'p', v: 0.5, q: 'good', ts: 1 },
      { d: 'd', p: 'p', v: 'x'.repeat(1024), q: 'good', ts: 1, c: 'é'.repeat(512) },
      { d: 'd', p: 'p', v: '😀'.repeat(512), q: 'bad', ts: 1 },
    ];
    const b = batchOf(readings, { gateway: id64, bootId: 'b'.repeat(64), seq: Number.MAX_SAFE_INTEGER, sentAt: MAX_TS, historical: true });
    expect(roundTrip(b)).toEqual(b);
    const small = batchOf([{ d: 'd', p: 'p', v: 1, q: 'good', ts: 0 }], { bootId: '12345678', seq: 0, sentAt: 0 });
    expect(roundTrip(small)).toEqual(small);
    // -0 travels as 0, as in JSON.
    expect(roundTrip(batchOf([{ d: 'd', p: 'p', v: -0, q: 'good', ts: 0 }])).readings[0]!.v).toBe(0);
  });

  it('holds 5000 readings, names once each, and is several times smaller than JSON', () => {
    const readings: WireReading[] = Array.from({ length: 5000 }, (_, i) => ({ d: `dev${i % 10}`, p: `point_${i % 100}`, v: 20 + Math.sin(i), q: 'good', ts: T + Math.floor(i / 100) * 1000 }));
    const b = batchOf(readings);
    const bin = frame(b);
    expect(roundTrip(b)).toEqual(b);
    expect(bin.length * 3).toBeLessThan(encode(TelemetryBatchSchema, b).length);
    // The bound the gateway uses to seal a batch before it outgrows its limit holds.
    expect(bin.length).toBeLessThanOrEqual(64 + readings.reduce((n, r) => n + binaryReadingBound(r), 0));
  });

  it('is told from JSON by its first byte, and names its batch from its head alone', () => {
    const b = batchOf([{ d: 'd', p: 'p', v: 1, q: 'good', ts: T }]);
    expect(frame(b)[0]).toBe(BINARY_TELEMETRY_MAGIC);
    expect(telemetryEncodingOf(frame(b))).toBe('binary');
    expect(telemetryEncodingOf(encode(TelemetryBatchSchema, b))).toBe('json');
    expect(telemetryKey(frame(b))).toEqual({ gateway: 'gw-1', bootId: 'boot-0001', seq: 7 });
    expect(telemetryKey(encode(TelemetryBatchSchema, b))).toEqual({ gateway: 'gw-1', bootId: 'boot-0001', seq: 7 });
    // A frame broken after its head still names its batch (so a refusal can be receipted).
    expect(telemetryKey(frame(b).subarray(0, 30))).toEqual({ gateway: 'gw-1', bootId: 'boot-0001', seq: 7 });
    expect(telemetryKey(Buffer.from([BINARY_TELEMETRY_MAGIC, 1, 0]))).toBeUndefined();
  });

  it('retags a frame (send time, historical) without touching its readings', () => {
    const b = batchOf([{ d: 'd', p: 'p', v: 1.25, q: 'good', ts: T }]);
    const original = frame(b);
    const copy = Buffer.from(original);
    const retagged = retagTelemetryBinary(original, T + 99, true);
    expect(original.equals(copy)).toBe(true);
    expect(roundTrip(b)).toEqual(b);
    const r = decodeTelemetry(TOPIC, retagged);
    expect(r.ok && r.value).toEqual({ ...b, sentAt: T + 99, historical: true });
  });

  it('retags a frame with another gateway id (a re-enrolled gateway), of another length, readings untouched', () => {
    const b = batchOf([{ d: 'd', p: 'p', v: 1.25, q: 'good', ts: T }, { d: 'e', p: 'q', v: 'x', q: 'bad', ts: T + 5, c: 'why' }]);
    for (const gateway of ['gw-1', 'g', 'gateway-with-a-much-longer-id_0123456789']) {
      const r = decodeTelemetry(TOPIC.replace('gw-1', gateway), retagTelemetryBinary(frame(b), T + 1, false, gateway));
      expect(r.ok && r.value).toEqual({ ...b, gateway, sentAt: T + 1, historical: false });
    }
    expect(() => retagTelemetryBinary(frame(b), T, false, 'bad/id')).toThrow(/not a valid id/);
  });

  describe('refuses what the schema refuses, naming the batch, reading and field', () => {
    const good: WireReading = { d: 'ahu1', p: 'temp', v: 1, q: 'good', ts: T };
    const cases: { name: string; readings: WireReading[]; over?: Partial<TelemetryBatch>; path: string }[] = [
      { name: 'a bad point name', readings: [good, { ...good, p: 'Temp' }], path: '/readings/1/p' },
      { name: 'a bad device id', readings: [good, good, { ...good, d: '-x' }], path: '/readings/2/d' },
      { name: 'a unicode device id', readings: [{ ...good, d: 'kühler' }], path: '/readings/0/d' },
      { name: 'a value beyond ±1e300', readings: [good, { ...good, v: 1e301 }], path: '/readings/1/v' },
      { name: 'a string value of 1025 characters', readings: [{ ...good, v: 'x'.repeat(1025) }], path: '/readings/0/v' },
      { name: 'a string value holding a NUL (PostgreSQL cannot store it)', readings: [good, { ...good, v: 'bad\u0000nul' }], path: '/readings/1/v' },
      { name: 'a cause holding a NUL', readings: [good, { ...good, q: 'bad', v: null, c: 'lost\u0000link' }], path: '/readings/1/c' },
      { name: 'a cause of 513 characters', readings: [{ ...good, c: 'x'.repeat(513) }], path: '/readings/0/c' },
      { name: 'a timestamp after 2100', readings: [good, good, good, { ...good, ts: MAX_TS + 1 }], path: '/readings/3/ts' },
      { name: 'a timestamp before the epoch', readings: [{ ...good, ts: -1 }], path: '/readings/0/ts' },
      { name: 'a bad gateway id', readings: [good], over: { gateway: 'gw/1' }, path: '/gateway' },
      { name: 'a short boot id', readings: [good], over: { bootId: 'short' }, path: '/bootId' },
      { name: 'a send time after 2100', readings: [good], over: { sentAt: MAX_TS + 1 }, path: '/sentAt' },
    ];
    it.each(cases)('$name', ({ readings, over, path }) => {
      const b = batchOf(readings, over);
      // Written by hand where the encoder would refuse: the frame a buggy or hostile peer could send.
      const payload = rawFrame(b);
      const { reason, error } = refusal(payload);
      expect(reason).toBe('schema');
      expect(error).toContain(TOPIC);
      expect(error).toContain(path);
      if (path.startsWith('/readings')) expect(error).toContain('batch gw-1/boot-0001/7');
      // The JSON decoder refuses the same batch at the same place.
      const viaJson = decode(TelemetryBatchSchema, TOPIC, JSON.stringify(b)); // as a peer could send it
      expect(viaJson.ok).toBe(false);
      if (!viaJson.ok) expect(viaJson.error).toContain(path);
    });

    it('a batch of no readings, and a NaN or infinite value', () => {
      expect(refusal(rawFrame(batchOf([]))).error).toContain('/readings: 0 readings');
      for (const v of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
        const { reason, error } = refusal(rawFrame(batchOf([good, { ...good, v }])));
        expect(reason).toBe('schema');
        expect(error).toContain('/readings/1/v');
        expect(error).toContain('not a finite number');
      }
    });
  });

  describe('refuses a broken frame, saying where', () => {
    const b = batchOf([
      { d: 'ahu1', p: 'temp', v: 21.5, q: 'good', ts: T },
      { d: 'ahu1', p: 'mode', v: 'auto', q: 'uncertain', ts: T + 1, c: 'stale' },
    ]);
    const whole = frame(b);

    it('truncated at every length: never accepted, never thrown, always named', () => {
      for (let n = 0; n < whole.length; n++) {
        const r = decodeTelemetry(TOPIC, whole.subarray(0, n));
        expect(r.ok, `truncated to ${n} bytes`).toBe(false);
        if (!r.ok) expect(r.error).toMatch(n === 0 ? /not JSON/ : /ends inside .*\(byte \d+\)$/);
      }
    });

    it('every single byte flipped: refused or still a valid batch, never a throw', () => {
      for (let i = 0; i < whole.length; i++)
        for (const bit of [0x01, 0x10, 0x80]) {
          const bad = Buffer.from(whole);
          bad[i]! ^= bit;
          const r = decodeTelemetry(TOPIC, bad);
          if (r.ok) expect(decode(TelemetryBatchSchema, TOPIC, encode(TelemetryBatchSchema, r.value)).ok).toBe(true);
          // The first byte flipped makes it a (broken) JSON payload.
          else expect(r.error).toMatch(i === 0 ? /not JSON/ : /\(byte \d+\)$/);
        }
    });

    it('trailing bytes, an unknown version, unknown flags, an index outside the string table', () => {
      expect(refusal(Buffer.concat([whole, Buffer.from([0])])).error).toContain('1 bytes after the last reading');
      const version = Buffer.from(whole);
      version[1] = 2;
      expect(refusal(version)).toMatchObject({ reason: 'bad-frame', error: expect.stringContaining('frame version 2 is not known') });
      const flags = Buffer.from(whole);
      flags[2] = 0x80;
      expect(refusal(flags).error).toContain('unknown flag bits');
      // Reading 1's device index points past the two names of the table.
      const names = batchOf([{ d: 'a', p: 'b', v: 1, q: 'good', ts: T }]);
      const f = frame(names);
      // After the table: count 1, then the reading: device 0, point 1, tag 3 (an integer, good).
      const at = f.lastIndexOf(Buffer.from([1, 0, 1, 3]));
      expect(at).toBeGreaterThan(0);
      const idx = Buffer.from(f);
      idx[at + 1] = 9; // device index 9 of 2 names
      expect(refusal(idx)).toMatchObject({ reason: 'bad-frame', error: expect.stringContaining('/readings/0/d: name 9 is not in the string table') });
    });

    it('too large, before reading it', () => {
      const r = decodeTelemetry(TOPIC, whole, 10);
      expect(r).toMatchObject({ ok: false, reason: 'too-large' });
    });
  });
});

/**
 * A frame written field by field without the encoder's checks (the encoder refuses non-finite
 * values and bad ids): what a buggy or hostile peer could send. Mirrors the layout documented in
 * shared/wire/telemetry-binary.ts.
 */
function rawFrame(b: TelemetryBatch): Buffer {
  const out: number[] = [];
  const varint = (v: number): void => {
    while (v >= 0x80) {
      out.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    out.push(v);
  };
  const zigzag = (v: number): void => varint(v >= 0 ? v * 2 : -v * 2 - 1);
  const bytes = (s: string): void => {
    const buf = Buffer.from(s, 'utf8');
    varint(buf.length);
    out.push(...buf);
  };
  const f64 = (v: number): void => {
    const buf = Buffer.alloc(8);
    buf.writeDoubleLE(v);
    out.push(...buf);
  };
  out.push(BINARY_TELEMETRY_MAGIC, 1, b.historical ? 1 : 0);
  f64(b.sentAt);
  varint(b.seq);
  out.push(b.gateway.length, ...Buffer.from(b.gateway, 'latin1'));
  out.push(b.bootId.length, ...Buffer.from(b.bootId, 'latin1'));
  const names = [...new Set(b.readings.flatMap((r) => [r.d, r.p]))];
  varint(names.length);
  for (const n of names) bytes(n);
  varint(b.readings.length);
  let prev = 0;
  for (const r of b.readings) {
    varint(names.indexOf(r.d));
    varint(names.indexOf(r.p));
    const q = { good: 0, uncertain: 1, bad: 2 }[r.q] << 3;
    const c = r.c !== undefined ? 0x20 : 0;
    if (r.v === null) out.push(0 | q | c);
    else if (typeof r.v === 'boolean') out.push((r.v ? 2 : 1) | q | c);
    else if (typeof r.v === 'string') {
      out.push(6 | q | c);
      bytes(r.v);
    } else {
      out.push(5 | q | c);
      f64(r.v);
    }
    zigzag(r.ts - prev);
    prev = r.ts;
    if (r.c !== undefined) bytes(r.c);
  }
  return Buffer.from(out);
}
