/**
 * Journaled telemetry for the PostgreSQL store (optional: store.journal in the hub config): a batch
 * is checked against the keys buffered and stored, appended to this process's ingest journal
 * (../ingest-journal.ts: durable against a crash of the hub when ingestBatch resolves, against
 * power loss too with fsync) and buffered; every flushMs the buffer is written to PostgreSQL in
 * one transaction (writer.ts), so a point's samples of that interval make one chunk however many
 * batches brought them, then the journal segments it covered are deleted. A restart replays what
 * was journaled and not written. The batch key decides at write time too: a batch that another
 * hub process stored meanwhile is dropped from the write (stored once).
 *
 * While PostgreSQL is away, batches are still journaled (up to MAX_BUFFERED_READINGS readings, then
 * refused with SWG_ERR_HUB_STORE_BUSY and left to the broker and the gateways: ../buffer-limit.ts)
 * and written once it is back.
 *
 * Each hub process needs a journal folder of its own; a process that finds the folder held by
 * another writes through (every batch committed before ingestBatch resolves).
 */
import type pg from 'pg';
import { errorMessage } from '../../../shared/kit/errors.js';
import type { Logger } from '../../../shared/kit/log.js';
import type { TelemetryBatch } from '../../../shared/wire/messages.js';
import { readJournaledTelemetry } from '../../../shared/wire/codec.js';
import { batchContentHash, isConflict, type ConflictLog } from '../batch-conflicts.js';
import { BufferLimit, MAX_BUFFERED_READINGS } from '../buffer-limit.js';
import { IngestJournal } from '../ingest-journal.js';
import type { IngestResult, TelemetryStoreStats } from '../types.js';
import { TelemetryBuffer, batchKey, type Generation } from './buffer.js';
import type { ChunkWriter, PendingBatch } from './writer.js';

export const DEFAULT_PG_FLUSH_MS = 2000;
/** Flush early once this many readings wait. */
const FLUSH_READINGS = 200_000;

export interface JournaledOptions {
  readonly dir: string;
  readonly flushMs?: number;
  readonly fsync?: boolean;
  /** While writes fail, batches are journaled up to this many readings, then refused (../buffer-limit.ts); default MAX_BUFFERED_READINGS. */
  readonly maxBufferedReadings?: number;
}

/** Timestamps a day partition can be named for (years 1970 to 9999). */
const LAST_TS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/**
 * A batch PostgreSQL would refuse (text cannot hold NUL) or that has no day partition name is
 * written through instead, to fail (and be quarantined) alone rather than hold up every flush.
 */
function mustWriteThrough(batch: TelemetryBatch): boolean {
  if (batch.gateway.includes('\u0000') || batch.bootId.includes('\u0000')) return true;
  for (const r of batch.readings) {
    if (r.d.includes('\u0000') || r.p.includes('\u0000') || (typeof r.v === 'string' && r.v.includes('\u0000')) || r.c?.includes('\u0000')) return true;
    if (!(r.ts >= 0 && r.ts <= LAST_TS)) return true;
  }
  return false;
}

export class JournaledTelemetry {
  readonly buffer = new TelemetryBuffer();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private failures = 0;
  private lastFlushMs = 0;
  private readonly limit: BufferLimit;

  private constructor(
    private readonly journal: IngestJournal,
    private readonly pool: pg.Pool,
    private readonly writer: ChunkWriter,
    private readonly conflicts: ConflictLog,
    private readonly log: Logger,
    maxBufferedReadings: number,
  ) {
    this.limit = new BufferLimit(maxBufferedReadings, 'PostgreSQL', log);
  }

  /** Takes the journal folder and replays it; undefined when another live process holds it. */
  static async open(options: JournaledOptions, pool: pg.Pool, writer: ChunkWriter, conflicts: ConflictLog, log: Logger): Promise<JournaledTelemetry | undefined> {
    const journal = IngestJournal.acquire(options.dir, { fsync: options.fsync });
    if (!journal) {
      log.info({ journal: options.dir }, 'another process owns the ingest journal; telemetry written here goes straight to PostgreSQL');
      return undefined;
    }
    let t: JournaledTelemetry;
    try {
      t = new JournaledTelemetry(journal, pool, writer, conflicts, log, options.maxBufferedReadings ?? MAX_BUFFERED_READINGS);
    } catch (err) {
      journal.close();
      throw err;
    }
    try {
      await t.replay();
    } catch (err) {
      journal.close();
      throw err;
    }
    t.timer = setInterval(() => void t.flush(), options.flushMs ?? DEFAULT_PG_FLUSH_MS);
    t.timer.unref();
    return t;
  }

  /** Segments left by a process that stopped before writing them, one write each. */
  private async replay(): Promise<void> {
    let replayed = 0;
    for (const segment of this.journal.pending(0)) {
      const { records, torn } = this.journal.read(segment);
      if (torn) this.log.warn(torn, 'ingest journal: torn record at the end of a segment cut off (the process stopped mid-write; that batch was never acknowledged)');
      for (const rec of records) {
        let b: TelemetryBatch;
        try {
          // As received: JSON, or the binary frame (shared/wire/telemetry-binary.ts).
          b = readJournaledTelemetry(rec.payload);
        } catch (err) {
          this.log.error({ segment: rec.segment, err: errorMessage(err) }, 'ingest journal: record is not a telemetry batch; skipped');
          continue;
        }
        if (this.buffer.hashOf(batchKey(b.gateway, b.bootId, b.seq)) !== undefined) continue;
        this.buffer.add({ batch: b, receivedAt: rec.receivedAt, hash: batchContentHash(b) });
        replayed++;
      }
      // Batches written before the stop lose their key at write time: nothing is stored twice.
      const generation = this.buffer.take();
      if (generation) {
        try {
          await this.write(generation);
          this.buffer.done();
        } catch (err) {
          this.buffer.failed();
          throw err;
        }
      }
      this.journal.discardThrough(segment);
    }
    if (replayed > 0) this.log.info({ batches: replayed }, 'ingest journal replayed into PostgreSQL');
    this.journal.discardThrough(this.journal.segment - 1);
  }

  /** Journals and buffers the batch; undefined when it must be written through instead. */
  async ingest(batch: TelemetryBatch, receivedAt: number, raw: Uint8Array | undefined, hash: string): Promise<IngestResult | undefined> {
    if (mustWriteThrough(batch)) return undefined;
    const key = batchKey(batch.gateway, batch.bootId, batch.seq);
    let seen = this.buffer.hashOf(key);
    if (seen === undefined) {
      try {
        seen = (
          (await this.pool.query({ name: 'swarmgate-batch-hash', text: "SELECT COALESCE(content_hash, '') AS h FROM batches WHERE gateway = $1 AND boot_id = $2 AND seq = $3", values: [batch.gateway, batch.bootId, batch.seq] }))
            .rows[0] as { h: string } | undefined
        )?.h;
      } catch (err) {
        // The database is away: journaled all the same (a repeat of a stored batch then loses its
        // key at write time and is not stored twice; only its "stored" answer is wrong).
        this.log.debug({ err: errorMessage(err) }, 'batch key check failed; journaled without it');
      }
    }
    // Checked again after the await: the same batch may have been buffered meanwhile.
    const again = seen ?? this.buffer.hashOf(key);
    if (again !== undefined) {
      if (!isConflict(again || null, hash, batch)) return { stored: false, readings: 0 };
      this.conflicts.report(batch, again, hash);
      return { stored: false, readings: 0, conflict: true };
    }
    // After the repeat check, as SQLite: a repeat of a stored batch is answered even while full.
    this.limit.check(this.buffer.readings, this.failures);
    this.journal.append(receivedAt, raw ?? Buffer.from(JSON.stringify(batch)));
    this.buffer.add({ batch, receivedAt, hash });
    if (this.failures === 0 && this.buffer.readings >= FLUSH_READINGS) void this.flush();
    return { stored: true, readings: batch.readings.length };
  }

  private async write(generation: Generation): Promise<void> {
    const outcomes = await this.writer.write(generation.entries, generation.series);
    outcomes.forEach((o, i) => {
      if (o.stored) return;
      const e: PendingBatch = generation.entries[i]!;
      if (isConflict(o.storedHash || null, e.hash, e.batch)) this.conflicts.report(e.batch, o.storedHash, e.hash);
    });
  }

  /** Writes what is buffered (waits for a flush already running first). A failure keeps it buffered and journaled (logged; the timer retries). */
  async flush(): Promise<void> {
    while (this.running) await this.running;
    this.running = this.flushOnce().finally(() => (this.running = undefined));
    await this.running;
  }

  private async flushOnce(): Promise<void> {
    const generation = this.buffer.take();
    if (!generation) return;
    const started = performance.now();
    const closed = this.journal.rotate();
    try {
      await this.write(generation);
      this.buffer.done();
      this.journal.discardThrough(closed);
      if (this.failures > 0) this.log.info({ failures: this.failures }, 'telemetry flush to PostgreSQL recovered');
      this.failures = 0;
      this.lastFlushMs = performance.now() - started;
    } catch (err) {
      this.buffer.failed();
      this.failures++;
      this.log.error({ err: errorMessage(err), buffered: this.buffer.readings, failures: this.failures }, 'telemetry flush to PostgreSQL failed; readings stay buffered and journaled');
    }
  }

  stats(): TelemetryStoreStats {
    return { buffered: this.buffer.readings, journalBytes: this.journal.segmentBytes, lastFlushMs: this.lastFlushMs, flushFailures: this.failures };
  }

  /** Writes what is buffered and releases the journal (what could not be written stays in it for the next start). */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    try {
      await this.flush();
    } finally {
      this.journal.close();
    }
  }
}
