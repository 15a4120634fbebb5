/**
 * A telemetry batch is identified by (gateway, bootId, seq); a gateway sends the same batch again
 * after a lost PUBACK or from its outbox after an outage, with a new sentAt and `historical` set but
 * the same readings. The same key with other readings is a gateway bug or a reused boot id: the
 * store keeps what it has (exactly once) and says "conflict" instead of dropping it silently.
 * Each batch key is stored with a hash of its readings, so telling the two apart is one compare.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../../shared/kit/log.js';
import type { TelemetryBatch } from '../../shared/wire/messages.js';

/**
 * Version 1: 128 bits of SHA-256 over the readings in order (d, p, v, q, ts, c): 32 hex characters.
 * The input is JSON.stringify(readings.map((r) => [r.d, r.p, r.v, r.q, r.ts, r.c ?? null])), written
 * out by hand (no array per reading, no generic walk). Ids, point names and qualities are validated
 * by the wire schema and need no escaping; a finite number's JSON text is its String(). Keys stored
 * before version 2 carry this hash; a batch compared with one is hashed this way then (isConflict).
 */
export function batchContentHashV1(batch: Pick<TelemetryBatch, 'readings'>): string {
  const readings = batch.readings;
  let canonical = '[';
  for (let i = 0; i < readings.length; i++) {
    const r = readings[i]!;
    const v = r.v;
    const value = typeof v === 'string' ? JSON.stringify(v) : String(v);
    canonical += `${i === 0 ? '' : ','}["${r.d}","${r.p}",${value},"${r.q}",${r.ts},${r.c === undefined ? 'null' : JSON.stringify(r.c)}]`;
  }
  canonical += ']';
  return createHash('sha256').update(canonical).digest('hex').slice(0, 32);
}

/** Version 2 hashes start with this; version 1 hashes are 32 bare hex characters. */
const V2 = '2:';

/** Words of the batch being hashed (reused: hashing is synchronous). */
let words = new Uint32Array(4096);
let n = 0;
const f64 = new Float64Array(1);
const f64Words = new Uint32Array(f64.buffer);

function room(more: number): void {
  if (n + more <= words.length) return;
  const bigger = new Uint32Array(Math.max(words.length * 2, n + more + 4));
  bigger.set(words.subarray(0, n));
  words = bigger;
}

function text(tag: number, s: string): void {
  const len = s.length;
  const w = words;
  let at = n;
  w[at++] = tag;
  w[at++] = len;
  let i = 0;
  for (; i + 1 < len; i += 2) w[at++] = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16);
  if (i < len) w[at++] = s.charCodeAt(i);
  n = at;
}

function number(tag: number, x: number): void {
  f64[0] = x === 0 ? 0 : x;
  const w = words;
  w[n] = tag;
  w[n + 1] = f64Words[0]!;
  w[n + 2] = f64Words[1]!;
  n += 3;
}

/**
 * The content hash new keys are stored with (version 2): '2:' and 32 hex characters, a 128-bit
 * MurmurHash3-style mix (x86_128 rounds) over the readings in order (d, p, v, q, ts, c), each
 * string as its length and UTF-16 units, each number as its float64 bits (-0 as 0, as version 1's
 * JSON text had it), each field tagged with its type. About half of version 1's CPU on the ingest
 * path (no canonical text, no UTF-8 copy, no SHA-256). Not cryptographic, nor needs to be: it only
 * tells a resend (same readings) from a conflict (other readings under the same key), and the
 * stored batch is kept either way. A batch decoded from JSON or from the binary frame gives the
 * same readings and so the same hash.
 */
export function batchContentHash(batch: Pick<TelemetryBatch, 'readings'>): string {
  const readings = batch.readings;
  n = 0;
  for (let i = 0; i < readings.length; i++) {
    const r = readings[i]!;
    const v = r.v;
    const c = r.c;
    // Every field's words: tag + length + half its UTF-16 units rounded up, or tag + 2 for a number.
    room(16 + ((r.d.length + r.p.length + r.q.length + (typeof v === 'string' ? v.length : 0) + (c === undefined ? 0 : c.length)) >>> 1) + 5);
    text(1, r.d);
    text(2, r.p);
    if (typeof v === 'number') number(3, v);
    else if (typeof v === 'string') text(4, v);
    else words[n++] = v === null ? 5 : v ? 6 : 7;
    text(8, r.q);
    number(9, r.ts);
    if (c === undefined) words[n++] = 10;
    else text(11, c);
  }
  return V2 + mix128(words, n);
}

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** MurmurHash3 x86_128 rounds over n words (the last block zero-padded), as 32 hex characters. */
function mix128(w: Uint32Array, n: number): string {
  let h1 = 0x9747b28c | 0;
  let h2 = h1;
  let h3 = h1;
  let h4 = h1;
  const c1 = 0x239b961b;
  const c2 = 0xab0e9789;
  const c3 = 0x38b34ae5;
  const c4 = 0xa1e38b93;
  for (let i = 0; i < n; i += 4) {
    let k1 = w[i]!;
    let k2 = i + 1 < n ? w[i + 1]! : 0;
    let k3 = i + 2 < n ? w[i + 2]! : 0;
    let k4 = i + 3 < n ? w[i + 3]! : 0;
    k1 = Math.imul(rotl(Math.imul(k1, c1), 15), c2);
    h1 ^= k1;
    h1 = (Math.imul(rotl(h1, 19) + h2, 5) + 0x561ccd1b) | 0;
    k2 = Math.imul(rotl(Math.imul(k2, c2), 16), c3);
    h2 ^= k2;
    h2 = (Math.imul(rotl(h2, 17) + h3, 5) + 0x0bcaa747) | 0;
    k3 = Math.imul(rotl(Math.imul(k3, c3), 17), c4);
    h3 ^= k3;
    h3 = (Math.imul(rotl(h3, 15) + h4, 5) + 0x96cd1c35) | 0;
    k4 = Math.imul(rotl(Math.imul(k4, c4), 18), c1);
    h4 ^= k4;
    h4 = (Math.imul(rotl(h4, 13) + h1, 5) + 0x32ac3b17) | 0;
  }
  h1 ^= n;
  h2 ^= n;
  h3 ^= n;
  h4 ^= n;
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  h1 = fmix(h1);
  h2 = fmix(h2);
  h3 = fmix(h3);
  h4 = fmix(h4);
  h1 = (h1 + h2 + h3 + h4) >>> 0;
  h2 = (h2 + h1) >>> 0;
  h3 = (h3 + h1) >>> 0;
  h4 = (h4 + h1) >>> 0;
  return hex8(h1) + hex8(h2) + hex8(h3) + hex8(h4);
}

function hex8(x: number): string {
  return x.toString(16).padStart(8, '0');
}

/**
 * Whether a batch whose key was stored before carries other readings. The stored hash may be of
 * an older version than `receivedHash` (version 1 before version 2 existed): the batch is then
 * hashed the stored way to compare like with like. Stored without a hash (before the hash column
 * existed): a repeat is taken as a plain duplicate.
 */
export function isConflict(storedHash: string | null | undefined, receivedHash: string, batch: Pick<TelemetryBatch, 'readings'>): boolean {
  if (typeof storedHash !== 'string') return false;
  if (storedHash.startsWith(V2) === receivedHash.startsWith(V2)) return storedHash !== receivedHash;
  const received = storedHash.startsWith(V2) ? batchContentHash(batch) : batchContentHashV1(batch);
  return storedHash !== received;
}

const WINDOW_MS = 60_000;
const MAX_GATEWAYS = 1000;

/**
 * Warns about conflicts, at most once per gateway per minute; the next warning says how many were
 * held back meanwhile, so a gateway repeating a boot id cannot flood the log.
 */
export class ConflictLog {
  private readonly gateways = new Map<string, { until: number; held: number }>();

  constructor(
    private readonly log: Logger,
    private readonly windowMs = WINDOW_MS,
  ) {}

  report(batch: Pick<TelemetryBatch, 'gateway' | 'bootId' | 'seq'>, storedHash: string, receivedHash: string, now = Date.now()): void {
    const g = this.gateways.get(batch.gateway);
    if (g && g.until > now) {
      g.held++;
      return;
    }
    if (this.gateways.size >= MAX_GATEWAYS) for (const [k, v] of this.gateways) if (v.until <= now) this.gateways.delete(k);
    if (this.gateways.size >= MAX_GATEWAYS) this.gateways.clear();
    this.gateways.set(batch.gateway, { until: now + this.windowMs, held: 0 });
    this.log.warn(
      { gateway: batch.gateway, bootId: batch.bootId, seq: batch.seq, storedHash, receivedHash, ...(g && g.held > 0 ? { heldBack: g.held } : {}) },
      'telemetry batch conflict: this (gateway, bootId, seq) was stored before with other readings; the stored batch is kept and this one is not stored (a gateway bug or a reused boot id)',
    );
  }
}
