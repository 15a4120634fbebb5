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
 * 128 bits of SHA-256 over the readings in order (d, p, v, q, ts, c): 32 hex characters. The
 * input is JSON.stringify(readings.map((r) => [r.d, r.p, r.v, r.q, r.ts, r.c ?? null])), written
 * out by hand (no array per reading, no generic walk: about half the cost on the ingest path).
 * Ids, point names and qualities are validated by the wire schema and need no escaping; a finite
 * number's JSON text is its String(); the result is the same text, so stored hashes stay valid.
 */
export function batchContentHash(batch: Pick<TelemetryBatch, 'readings'>): string {
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

/** Stored without a hash (before the hash column existed): a repeat is taken as a plain duplicate. */
export function isConflict(storedHash: string | null | undefined, receivedHash: string): boolean {
  return typeof storedHash === 'string' && storedHash !== receivedHash;
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
