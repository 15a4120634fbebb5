/**
 * Telemetry in the SQLite store: per-point history as columnar chunks (../../chunk.ts), written in
 * group commits. ingest() checks the batch's (gateway, bootId, seq) key, appends the payload to
 * the ingest journal (durable from then on) and buffers the readings; flush() turns everything
 * buffered into chunks, latest values and batch keys in one transaction, then drops the journal
 * segments it covered. Reads merge what is stored with what is buffered, so a reading is
 * visible the moment ingest() returns. Without a journal (':memory:', or another process owns
 * it) every ingest() is flushed before it returns.
 *
 * This class coordinates; each job is its own module: buffer.ts (what is not flushed yet),
 * flush.ts (the group commit), journal-replay.ts (recovery at open), reads.ts, compaction.ts,
 * retention.ts, series-ids.ts, chunk-rows.ts, and legacy.ts (the version-2 migration).
 */
import type { Database as Db, Statement } from 'better-sqlite3';
import { errorMessage } from '../../../../shared/kit/errors.js';
import { createLogger, type Logger } from '../../../../shared/kit/log.js';
import type { TelemetryBatch } from '../../../../shared/wire/messages.js';
import { ConflictLog, batchContentHash, isConflict } from '../../batch-conflicts.js';
import { BufferLimit, MAX_BUFFERED_READINGS } from '../../buffer-limit.js';
import { IngestJournal } from '../../ingest-journal.js';
import type { HistoryBucket, IngestResult, RawSample, RollupLevel, SamplePage, StoredReading, TelemetryStoreStats } from '../../types.js';
import { SeriesBuffer, batchKey } from './buffer.js';
import { chunkInserter, type InsertChunk } from './chunk-rows.js';
import { COMPACT_EVERY_MS, compactChunks } from './compaction.js';
import { FlushWriter } from './flush.js';
import { replayJournal } from './journal-replay.js';
import { SeriesReads } from './reads.js';
import { retainChunks } from './retention.js';
import { SeriesIds } from './series-ids.js';

export interface SeriesOptions {
  /** Journal directory; undefined writes every batch through before ingest() returns. */
  readonly journalDir?: string;
  /**
   * Group-commit interval; default 5000 ms (and sooner once 200k readings or 32 MB are buffered).
   * Reads see buffered readings, so a longer interval costs only memory and replay time; it makes
   * fewer, larger chunks for points that report slowly.
   */
  readonly flushMs?: number;
  /** fsync every journal append (survives power loss, costs a disk flush per batch). */
  readonly fsync?: boolean;
  /**
   * While group commits fail, batches are journaled and buffered up to this many readings, then
   * refused with SWG_ERR_HUB_STORE_BUSY (../../buffer-limit.ts); default MAX_BUFFERED_READINGS.
   */
  readonly maxBufferedReadings?: number;
  readonly logger?: Logger;
}

export const DEFAULT_FLUSH_MS = 5000;

/** A batch waiting for its group's journal write. */
interface Queued {
  readonly batch: TelemetryBatch;
  readonly receivedAt: number;
  readonly payload: Uint8Array;
  readonly key: string;
  readonly hash: string;
  readonly resolve: (result: IngestResult) => void;
  readonly reject: (err: unknown) => void;
}
/** Flush early once this much is buffered, whatever the interval. */
const FLUSH_READINGS = 200_000;
const FLUSH_JOURNAL_BYTES = 32 * 1024 * 1024;
/**
 * How long a group commit waits for a write lock another process holds. better-sqlite3 waits in
 * the calling thread, so the store's busy_timeout (5 s, for one-statement writes elsewhere) would
 * stop the event loop that long on every attempt; a flush that finds the lock held fails at once
 * instead, keeps its readings buffered and journaled, and the timer tries again.
 */
export const FLUSH_BUSY_TIMEOUT_MS = 100;

export class SqliteSeries {
  private readonly log: Logger;
  private readonly ids: SeriesIds;
  private readonly pending = new SeriesBuffer();
  private readonly insertChunk: InsertChunk;
  private readonly writer: FlushWriter;
  private readonly reads: SeriesReads;
  private readonly journal: IngestJournal | undefined;
  private readonly timer: NodeJS.Timeout | undefined;
  private lastCompact = Date.now();
  private flushFailures = 0;
  private lastFlushMs = 0;
  private readonly conflicts: ConflictLog;
  private readonly batchHash: Statement;
  /** Batches waiting for the open group's journal write (ingestGrouped), in arrival order. */
  private group: Queued[] | undefined;
  /** Key -> content hash of the batches in the open group: a copy arriving meanwhile is a duplicate. */
  private readonly queuedKeys = new Map<string, string>();
  /** Gateways that sent batches in this turn of the event loop, and how many the last turn had. */
  private readonly turnGateways = new Set<string>();
  private lastTurnGateways = 0;
  /** Group commit pays only when each journal write is a disk flush (fsync). */
  private readonly groupCommit: boolean;
  private turnEnd: NodeJS.Immediate | undefined;
  private readonly limit: BufferLimit;

  constructor(
    private readonly db: Db,
    options: SeriesOptions = {},
  ) {
    this.log = options.logger ?? createLogger('hub-store');
    this.groupCommit = options.fsync === true;
    this.limit = new BufferLimit(options.maxBufferedReadings ?? MAX_BUFFERED_READINGS, 'SQLite', this.log);
    this.conflicts = new ConflictLog(this.log);
    // '' for a key stored before hashes were (NULL would read as "no such key").
    this.batchHash = db.prepare("SELECT COALESCE(content_hash, '') FROM batches WHERE gateway = ? AND boot_id = ? AND seq = ?").pluck();
    this.ids = new SeriesIds(db);
    this.insertChunk = chunkInserter(db);
    this.writer = new FlushWriter(db, this.ids, this.insertChunk);
    this.reads = new SeriesReads(db, this.ids, this.pending);
    const flushed = Number((db.prepare('SELECT value FROM store_meta WHERE key = ?').pluck().get('journal_flushed') as string | undefined) ?? 0);
    this.journal = options.journalDir ? IngestJournal.acquire(options.journalDir, { fsync: options.fsync, after: flushed }) : undefined;
    if (options.journalDir && !this.journal) this.log.info({ journal: options.journalDir }, 'another process owns the ingest journal; telemetry written here goes straight to the database');
    if (this.journal) {
      try {
        replayJournal(this.journal, flushed, { seenHash: (key, b) => this.seenHash(key, b), buffer: (b, at, key, hash) => this.pending.add(b, at, key, hash), flushNow: (segment) => this.flushNow(segment) }, this.log);
      } catch (err) {
        // Not replayed: the segments stay for the next open, which must be able to take the lock.
        this.journal.close();
        throw err;
      }
      const every = options.flushMs ?? DEFAULT_FLUSH_MS;
      this.timer = setInterval(() => this.tick(), every);
      this.timer.unref();
    }
  }

  stats(): TelemetryStoreStats {
    return { buffered: this.pending.readings, journalBytes: this.journal?.segmentBytes ?? 0, lastFlushMs: this.lastFlushMs, flushFailures: this.flushFailures, journalGroupWrites: this.journal?.groupWrites ?? 0 };
  }

  ingest(batch: TelemetryBatch, receivedAt: number, raw?: Uint8Array): IngestResult {
    const key = batchKey(batch.gateway, batch.bootId, batch.seq);
    const hash = batchContentHash(batch);
    const seen = this.seenHash(key, batch);
    if (seen !== undefined) return this.repeated(batch, seen, hash);
    // A repeat is answered even when full (nothing is buffered for it); a new batch may be refused.
    this.limit.check(this.pending.readings, this.flushFailures);
    if (!this.journal) {
      // Write-through: nothing else is buffered, so a failed flush leaves no trace to undo but this.
      this.pending.add(batch, receivedAt, key, hash);
      try {
        this.flushNow();
      } catch (err) {
        this.pending.reset();
        throw err;
      }
      return { stored: true, readings: batch.readings.length };
    }
    this.journal.append(receivedAt, raw ?? Buffer.from(JSON.stringify(batch)));
    this.pending.add(batch, receivedAt, key, hash);
    // After a failed flush the timer retries: retrying here would re-encode the whole buffer and
    // start a new journal segment for every batch while the database is down.
    if (this.flushFailures === 0 && (this.pending.readings >= FLUSH_READINGS || this.journal.segmentBytes >= FLUSH_JOURNAL_BYTES)) this.flush();
    return { stored: true, readings: batch.readings.length };
  }

  /**
   * ingest() with group commit when it pays: with `fsync` (a disk flush per write), when the last
   * turn of the event loop brought batches of several gateways (the embedded broker's lanes
   * overlap them), a batch waits for the end of this turn (setImmediate) and every batch that came
   * meanwhile goes to the journal in one write and one fsync (IngestJournal.appendMany); each
   * resolves once that write returned, so its acknowledgement still follows a durable journal
   * record. Measured (20 gateways, embedded broker, 100-reading JSON batches, load 10 on 2 CPUs):
   * with fsync 294-361 -> 485-1544 batches/s; without fsync an 8 kB append is ~13 us and the wait
   * cost more than the writes it saved (CPU/batch 214-222 -> 230-242 us), so without fsync every
   * batch is written at once, as is one gateway alone (or one consumer connection, which hands
   * over one message at a time).
   * A gateway's next batch comes only after this one resolved (its lane, or its connection), so
   * a gateway's batches stay in order; dedupe sees the open group's keys.
   */
  ingestGrouped(batch: TelemetryBatch, receivedAt: number, raw?: Uint8Array): IngestResult | Promise<IngestResult> {
    if (!this.journal) return this.ingest(batch, receivedAt, raw);
    if (!this.groupCommit) return this.ingest(batch, receivedAt, raw);
    this.noteTurn(batch.gateway);
    if (!this.group && this.lastTurnGateways < 2) return this.ingest(batch, receivedAt, raw);
    const key = batchKey(batch.gateway, batch.bootId, batch.seq);
    const hash = batchContentHash(batch);
    const seen = this.seenHash(key, batch);
    if (seen !== undefined) return this.repeated(batch, seen, hash);
    this.limit.check(this.pending.readings, this.flushFailures);
    this.queuedKeys.set(key, hash);
    const payload = raw ?? Buffer.from(JSON.stringify(batch));
    return new Promise<IngestResult>((resolve, reject) => {
      if (!this.group) {
        this.group = [];
        setImmediate(() => this.commitGroup());
      }
      this.group.push({ batch, receivedAt, payload, key, hash, resolve, reject });
    });
  }

  private noteTurn(gateway: string): void {
    this.turnGateways.add(gateway);
    this.turnEnd ??= setImmediate(() => {
      this.lastTurnGateways = this.turnGateways.size;
      this.turnGateways.clear();
      this.turnEnd = undefined;
    });
  }

  /** Writes the open group to the journal in one write, then buffers and resolves each batch; a failed write rejects them all (none is buffered). */
  private commitGroup(): void {
    const group = this.group;
    this.group = undefined;
    if (!group || group.length === 0 || !this.journal) return;
    try {
      this.journal.appendMany(group);
    } catch (err) {
      for (const q of group) {
        this.queuedKeys.delete(q.key);
        q.reject(err);
      }
      return;
    }
    for (const q of group) {
      this.queuedKeys.delete(q.key);
      this.pending.add(q.batch, q.receivedAt, q.key, q.hash);
      q.resolve({ stored: true, readings: q.batch.readings.length });
    }
    if (this.flushFailures === 0 && (this.pending.readings >= FLUSH_READINGS || this.journal.segmentBytes >= FLUSH_JOURNAL_BYTES)) this.flush();
  }

  private repeated(batch: TelemetryBatch, seen: string, hash: string): IngestResult {
    if (!isConflict(seen || null, hash, batch)) return { stored: false, readings: 0 };
    this.conflicts.report(batch, seen, hash);
    return { stored: false, readings: 0, conflict: true };
  }

  /** The content hash a key was buffered or stored with ('' when stored without one), undefined when new. */
  private seenHash(key: string, batch: TelemetryBatch): string | undefined {
    return this.pending.hashOf(key) ?? this.queuedKeys.get(key) ?? (this.batchHash.get(batch.gateway, batch.bootId, batch.seq) as string | undefined);
  }

  private tick(): void {
    this.flush();
    if (Date.now() - this.lastCompact >= COMPACT_EVERY_MS) {
      this.lastCompact = Date.now();
      try {
        this.compact(Date.now());
      } catch (err) {
        this.log.error({ err: errorMessage(err) }, 'chunk compaction failed; retrying later');
      }
    }
  }

  /**
   * Materialises everything buffered. A failure leaves the buffer and the journal as they were
   * (logged; the next flush retries), so nothing acknowledged is lost.
   */
  flush(): void {
    if (this.pending.batches.length === 0) return;
    const busyTimeout = this.db.pragma('busy_timeout', { simple: true }) as number;
    this.db.pragma(`busy_timeout = ${FLUSH_BUSY_TIMEOUT_MS}`);
    try {
      this.flushNow();
      if (this.flushFailures > 0) this.log.info({ failures: this.flushFailures }, 'telemetry flush recovered');
      this.flushFailures = 0;
    } catch (err) {
      this.flushFailures++;
      this.log.error({ err: errorMessage(err), buffered: this.pending.readings, failures: this.flushFailures }, 'telemetry flush failed; readings stay buffered and journaled');
    } finally {
      this.db.pragma(`busy_timeout = ${busyTimeout}`);
    }
  }

  /**
   * Commits everything buffered (FlushWriter.write). The journal mark becomes `replayed` when
   * recovery materialises that segment; otherwise the journal moves to a new segment and the mark
   * to the one it closed.
   */
  private flushNow(replayed?: number): void {
    if (this.pending.batches.length === 0) return;
    const started = performance.now();
    const closed = replayed ?? this.journal?.rotate();
    this.writer.write(this.pending, closed);
    this.pending.reset();
    if (closed !== undefined) this.journal?.discardThrough(closed);
    this.lastFlushMs = performance.now() - started;
  }

  latest(dbRows: StoredReading[], gateway?: string): StoredReading[] {
    return this.reads.latest(dbRows, gateway);
  }

  /** Raw samples with from <= ts <= to, by ts, arrival order on equal ts. */
  samples(gateway: string, device: string, point: string, from: number, to: number): RawSample[] {
    return this.reads.samples(gateway, device, point, from, to);
  }

  /** The oldest `limit` raw samples of [from, to] (reads.ts). */
  head(gateway: string, device: string, point: string, from: number, to: number, limit: number): SamplePage {
    return this.reads.head(gateway, device, point, from, to, limit);
  }

  /** History buckets: raw chunks plus, per bucket, one rollup level's rows (reads.ts). */
  buckets(gateway: string, device: string, point: string, from: number, to: number, bucketMs: number): HistoryBucket[] {
    return this.reads.buckets(gateway, device, point, from, to, bucketMs);
  }

  /** Flushes, then rolls up and removes raw samples older than cutoff (retention.ts). */
  retain(cutoff: number, levels: readonly RollupLevel[]): number {
    this.flush();
    return retainChunks(this.db, cutoff, levels);
  }

  /** Merges runs of old small chunks (compaction.ts); returns how many chunks it removed. */
  compact(now: number): number {
    return compactChunks(this.db, now, this.insertChunk);
  }

  /** Flushes and releases the journal. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.turnEnd) clearImmediate(this.turnEnd);
    this.commitGroup(); // batches waiting for a group write are written (and resolved) first
    try {
      this.flushNow();
    } finally {
      this.journal?.close();
    }
  }
}
