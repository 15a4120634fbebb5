/**
 * Telemetry in the SQLite store: per-point history as columnar chunks (./chunk.ts), written in
 * group commits. ingest() checks the batch's (gateway, bootId, seq) key, appends the payload to
 * the ingest journal (durable from then on) and buffers the readings; flush() turns everything
 * buffered into chunks, latest values and batch keys in one transaction, then drops the journal
 * segments it covered. Reads merge what is stored with what is buffered, so a reading is
 * visible the moment ingest() returns. Without a journal (':memory:', or another process owns
 * it) every ingest() is flushed before it returns.
 *
 * Flushes leave small chunks when points report slowly; compact() merges runs of small chunks
 * once they are COMPACT_AGE_MS old, keeping arrival order on equal timestamps.
 */
import type { Database as Db, Statement } from 'better-sqlite3';
import { errorMessage } from '../../../../shared/kit/errors.js';
import { createLogger, type Logger } from '../../../../shared/kit/log.js';
import type { TelemetryBatch } from '../../../../shared/wire/messages.js';
import { decodeValue, encodeValue, mergeBuckets, rollupLevelFor, type PartialBucket } from '../../aggregate.js';
import {
  CHUNK_MAX_SPAN_MS,
  DecodedChunk,
  SampleColumns,
  addToBuckets,
  bucketsToPartials,
  countableReading,
  encodeChunk,
  encodeChunks,
  sampleOf,
  sortByTs,
  type ChunkSample,
  type EncodedChunk,
} from '../../chunk.js';
import { ConflictLog, batchContentHash, isConflict } from '../../batch-conflicts.js';
import { IngestJournal } from '../../ingest-journal.js';
import type { HistoryBucket, IngestResult, Quality, RawSample, RollupLevel, StoredReading, TelemetryStoreStats } from '../../types.js';

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
  readonly logger?: Logger;
}

/** Flush early once this much is buffered, whatever the interval. */
export const DEFAULT_FLUSH_MS = 5000;
const FLUSH_READINGS = 200_000;
const FLUSH_JOURNAL_BYTES = 32 * 1024 * 1024;
/** Chunks below this many samples are merged once COMPACT_AGE_MS old. */
const COMPACT_BELOW = 256;
const COMPACT_AGE_MS = 10 * 60_000;
const COMPACT_EVERY_MS = 60_000;
/** Series compacted per compact() call, so one call stays short. */
const COMPACT_SERIES_PER_RUN = 500;
/** Chunks rolled up per retention transaction. */
const RETENTION_PAGE = 500;

interface PendingSeries {
  readonly gateway: string;
  readonly device: string;
  readonly point: string;
  readonly samples: SampleColumns;
}

interface PendingBatch {
  readonly gateway: string;
  readonly bootId: string;
  readonly seq: number;
  readonly receivedAt: number;
  readonly readings: number;
  readonly historical: boolean;
  readonly hash: string;
}

interface ChunkRow {
  id: number;
  series: number;
  ord: number;
  t_min: number;
  t_max: number;
  n: number;
  agg_n: number;
  agg_sum: number | null;
  agg_min: number | null;
  agg_max: number | null;
  ts: Buffer;
  num: Buffer;
  meta: string | null;
  flushed_at: number;
}

const INSERT_CHUNK = 'INSERT INTO chunks (series, ord, t_min, t_max, n, agg_n, agg_sum, agg_min, agg_max, ts, num, meta, flushed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';

/** The INSERT_CHUNK parameters of an encoded chunk. */
function chunkRow(series: number, ord: number, c: EncodedChunk, flushedAt: number): unknown[] {
  return [series, ord, c.tMin, c.tMax, c.n, c.agg.count, c.agg.count > 0 ? c.agg.sum : null, c.agg.min, c.agg.max, c.ts, c.num, c.meta, flushedAt];
}

const seriesKey = (gateway: string, device: string, point: string): string => `${gateway}\u0000${device}\u0000${point}`;
const batchKey = (gateway: string, bootId: string, seq: number): string => `${gateway}\u0000${bootId}\u0000${seq}`;

/** The newest sample (the last to arrive among equal timestamps), as the latest table keeps it. */
function newest(samples: SampleColumns): ChunkSample {
  return samples.sample(samples.newest());
}

export class SqliteSeries {
  private readonly log: Logger;
  private readonly seriesIds = new Map<string, number>();
  private pending = new Map<string, PendingSeries>();
  /** Batch key -> content hash of the batches buffered. */
  private pendingKeys = new Map<string, string>();
  private pendingBatches: PendingBatch[] = [];
  private pendingReadings = 0;
  private nextOrd: number;
  private readonly journal: IngestJournal | undefined;
  private readonly timer: NodeJS.Timeout | undefined;
  private lastCompact = Date.now();
  private flushFailures = 0;
  private lastFlushMs = 0;
  private readonly conflicts: ConflictLog;
  private readonly sql: Record<'batchHash' | 'insertKey' | 'seriesId' | 'insertSeries' | 'insertChunk' | 'upsertLatest' | 'setMeta' | 'getMeta' | 'chunksIn' | 'rollupLevels' | 'rollupsIn', Statement>;

  constructor(
    private readonly db: Db,
    options: SeriesOptions = {},
  ) {
    this.log = options.logger ?? createLogger('hub-store');
    this.conflicts = new ConflictLog(this.log);
    this.sql = {
      // '' for a key stored before hashes were (NULL would read as "no such key").
      batchHash: db.prepare("SELECT COALESCE(content_hash, '') FROM batches WHERE gateway = ? AND boot_id = ? AND seq = ?").pluck(),
      insertKey: db.prepare('INSERT OR IGNORE INTO batches (gateway, boot_id, seq, received_at, readings, historical, content_hash) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      seriesId: db.prepare('SELECT id FROM series WHERE gateway = ? AND device = ? AND point = ?').pluck(),
      insertSeries: db.prepare('INSERT INTO series (gateway, device, point) VALUES (?, ?, ?) RETURNING id').pluck(),
      insertChunk: db.prepare(INSERT_CHUNK),
      upsertLatest: db.prepare(`
        INSERT INTO latest (gateway, device, point, ts, num, str, vtype, quality, cause) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (gateway, device, point) DO UPDATE SET ts = excluded.ts, num = excluded.num, str = excluded.str,
          vtype = excluded.vtype, quality = excluded.quality, cause = excluded.cause
        WHERE excluded.ts >= latest.ts`),
      setMeta: db.prepare('INSERT INTO store_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      getMeta: db.prepare('SELECT value FROM store_meta WHERE key = ?').pluck(),
      chunksIn: db.prepare('SELECT * FROM chunks WHERE series = ? AND t_min >= ? AND t_min <= ? AND t_max >= ? ORDER BY ord'),
      rollupLevels: db.prepare('SELECT bucket_s, keep_days FROM rollup_levels'),
      rollupsIn: db.prepare('SELECT start, sum, min, max, count FROM rollups WHERE bucket_s = ? AND gateway = ? AND device = ? AND point = ? AND start >= ? AND start <= ?'),
    };
    this.nextOrd = ((db.prepare('SELECT MAX(ord) FROM chunks').pluck().get() as number | null) ?? 0) + 1;
    const flushed = Number((this.sql.getMeta.get('journal_flushed') as string | undefined) ?? 0);
    this.journal = options.journalDir ? IngestJournal.acquire(options.journalDir, { fsync: options.fsync, after: flushed }) : undefined;
    if (options.journalDir && !this.journal) this.log.info({ journal: options.journalDir }, 'another process owns the ingest journal; telemetry written here goes straight to the database');
    if (this.journal) {
      try {
        this.recover(this.journal, flushed);
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
    return { buffered: this.pendingReadings, journalBytes: this.journal?.segmentBytes ?? 0, lastFlushMs: this.lastFlushMs, flushFailures: this.flushFailures };
  }

  ingest(batch: TelemetryBatch, receivedAt: number, raw?: Uint8Array): IngestResult {
    const key = batchKey(batch.gateway, batch.bootId, batch.seq);
    const hash = batchContentHash(batch);
    const seen = this.seenHash(key, batch);
    if (seen !== undefined) {
      if (!isConflict(seen || null, hash)) return { stored: false, readings: 0 };
      this.conflicts.report(batch, seen, hash);
      return { stored: false, readings: 0, conflict: true };
    }
    if (!this.journal) {
      // Write-through: nothing else is buffered, so a failed flush leaves no trace to undo but this.
      this.buffer(batch, receivedAt, key, hash);
      try {
        this.flushNow();
      } catch (err) {
        this.resetPending();
        throw err;
      }
      return { stored: true, readings: batch.readings.length };
    }
    this.journal.append(receivedAt, raw ?? Buffer.from(JSON.stringify(batch)));
    this.buffer(batch, receivedAt, key, hash);
    // After a failed flush the timer retries: retrying here would re-encode the whole buffer and
    // start a new journal segment for every batch while the database is down.
    if (this.flushFailures === 0 && (this.pendingReadings >= FLUSH_READINGS || this.journal.segmentBytes >= FLUSH_JOURNAL_BYTES)) this.flush();
    return { stored: true, readings: batch.readings.length };
  }

  /** The content hash a key was buffered or stored with ('' when stored without one), undefined when new. */
  private seenHash(key: string, batch: TelemetryBatch): string | undefined {
    return this.pendingKeys.get(key) ?? (this.sql.batchHash.get(batch.gateway, batch.bootId, batch.seq) as string | undefined);
  }

  private buffer(batch: TelemetryBatch, receivedAt: number, key: string, hash: string): void {
    for (const r of batch.readings) {
      const k = seriesKey(batch.gateway, r.d, r.p);
      let p = this.pending.get(k);
      if (!p) this.pending.set(k, (p = { gateway: batch.gateway, device: r.d, point: r.p, samples: new SampleColumns() }));
      p.samples.push(r);
    }
    this.pendingKeys.set(key, hash);
    this.pendingBatches.push({ gateway: batch.gateway, bootId: batch.bootId, seq: batch.seq, receivedAt, readings: batch.readings.length, historical: batch.historical, hash });
    this.pendingReadings += batch.readings.length;
  }

  private resetPending(): void {
    this.pending = new Map();
    this.pendingKeys = new Map();
    this.pendingBatches = [];
    this.pendingReadings = 0;
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
    try {
      this.flushNow();
      if (this.flushFailures > 0) this.log.info({ failures: this.flushFailures }, 'telemetry flush recovered');
      this.flushFailures = 0;
    } catch (err) {
      this.flushFailures++;
      this.log.error({ err: errorMessage(err), buffered: this.pendingReadings, failures: this.flushFailures }, 'telemetry flush failed; readings stay buffered and journaled');
    }
  }

  /**
   * Commits everything buffered. The journal mark becomes `replayed` when recovery materialises
   * that segment; otherwise the journal moves to a new segment and the mark to the one it closed.
   */
  private flushNow(replayed?: number): void {
    if (this.pendingBatches.length === 0) return;
    const started = performance.now();
    const closed = replayed ?? this.journal?.rotate();
    const now = Date.now();
    const newIds = new Map<string, number>();
    const firstOrd = this.nextOrd;
    let ord = firstOrd;
    try {
      this.db.transaction(() => {
        for (const b of this.pendingBatches) this.sql.insertKey.run(b.gateway, b.bootId, b.seq, b.receivedAt, b.readings, b.historical ? 1 : 0, b.hash);
        for (const [key, p] of this.pending) {
          const id = this.seriesIdFor(key, p, newIds);
          for (const chunk of encodeChunks(p.samples.sorted())) this.insertChunk(id, ord++, chunk, now);
          const r = newest(p.samples);
          const v = encodeValue(r.v);
          this.sql.upsertLatest.run(p.gateway, p.device, p.point, r.ts, v.num, v.str, v.vtype, r.q, r.c ?? null);
        }
        if (closed !== undefined) this.sql.setMeta.run('journal_flushed', String(closed));
      })();
    } catch (err) {
      this.nextOrd = firstOrd;
      throw err;
    }
    this.nextOrd = ord;
    for (const [k, id] of newIds) this.seriesIds.set(k, id);
    this.resetPending();
    if (closed !== undefined) this.journal?.discardThrough(closed);
    this.lastFlushMs = performance.now() - started;
  }

  private insertChunk(series: number, ord: number, c: EncodedChunk, now: number): void {
    this.sql.insertChunk.run(chunkRow(series, ord, c, now));
  }

  /** The series id, created inside the caller's transaction; cached only once that commits. */
  private seriesIdFor(key: string, p: { gateway: string; device: string; point: string }, created: Map<string, number>): number {
    const known = this.seriesIds.get(key) ?? created.get(key);
    if (known !== undefined) return known;
    const id = (this.sql.seriesId.get(p.gateway, p.device, p.point) as number | undefined) ?? (this.sql.insertSeries.get(p.gateway, p.device, p.point) as number);
    created.set(key, id);
    return id;
  }

  private lookupSeries(gateway: string, device: string, point: string): number | undefined {
    const key = seriesKey(gateway, device, point);
    const cached = this.seriesIds.get(key);
    if (cached !== undefined) return cached;
    const id = this.sql.seriesId.get(gateway, device, point) as number | undefined;
    if (id !== undefined) this.seriesIds.set(key, id);
    return id;
  }

  /**
   * Replays journal segments not yet materialised (a crash or kill before their flush), one
   * segment per transaction, so memory stays bounded by one segment however long the backlog.
   */
  private recover(journal: IngestJournal, flushed: number): void {
    let replayed = 0;
    let skipped = 0;
    for (const segment of journal.pending(flushed)) {
      const { records, torn } = journal.read(segment);
      if (torn) this.log.warn(torn, 'ingest journal: torn record at the end of a segment cut off (the process stopped mid-write; that batch was never acknowledged)');
      for (const rec of records) {
        // Written by this store from batches its caller had validated, and checksummed: parsed, not
        // validated again.
        let b: TelemetryBatch;
        try {
          b = JSON.parse(rec.payload.toString('utf8')) as TelemetryBatch;
          if (!Array.isArray(b.readings)) throw new Error('no readings array');
        } catch (err) {
          this.log.error({ segment: rec.segment, err: errorMessage(err) }, 'ingest journal: record is not a telemetry batch; skipped');
          continue;
        }
        const key = batchKey(b.gateway, b.bootId, b.seq);
        // Already materialised (a crash between the commit and deleting the segment): the same batch.
        if (this.seenHash(key, b) !== undefined) {
          skipped++;
          continue;
        }
        this.buffer(b, rec.receivedAt, key, batchContentHash(b));
        replayed++;
      }
      // Materialised with the mark at this segment; a failure keeps it (and the later ones) for the next start.
      this.flushNow(segment);
    }
    if (replayed + skipped > 0) this.log.info({ batches: replayed, duplicates: skipped }, 'ingest journal replayed');
    // Replayed, duplicate-only and empty segments alike are done with.
    journal.discardThrough(journal.segment - 1);
  }

  latest(dbRows: StoredReading[], gateway?: string): StoredReading[] {
    if (this.pending.size === 0) return dbRows;
    const byKey = new Map(dbRows.map((r) => [seriesKey(r.gateway, r.device, r.point), r]));
    for (const [key, p] of this.pending) {
      if (gateway !== undefined && p.gateway !== gateway) continue;
      const r = newest(p.samples);
      const stored = byKey.get(key);
      if (stored && stored.ts > r.ts) continue;
      const s = sampleOf(r);
      byKey.set(key, { gateway: p.gateway, device: p.device, point: p.point, ...s });
    }
    const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
    return [...byKey.values()].sort((a, b) => cmp(a.gateway, b.gateway) || cmp(a.device, b.device) || cmp(a.point, b.point));
  }

  private chunksIn(series: number | undefined, from: number, to: number): ChunkRow[] {
    if (series === undefined) return [];
    return this.sql.chunksIn.all(series, from - CHUNK_MAX_SPAN_MS, to, from) as ChunkRow[];
  }

  private pendingIn(gateway: string, device: string, point: string, from: number, to: number): ChunkSample[] {
    const cols = this.pending.get(seriesKey(gateway, device, point))?.samples;
    const out: ChunkSample[] = [];
    if (cols) for (let i = 0; i < cols.length; i++) if (cols.ts[i]! >= from && cols.ts[i]! <= to) out.push(cols.sample(i));
    return out;
  }

  /** Raw samples with from <= ts <= to, by ts, arrival order on equal ts. */
  samples(gateway: string, device: string, point: string, from: number, to: number): RawSample[] {
    const out: RawSample[] = [];
    for (const row of this.chunksIn(this.lookupSeries(gateway, device, point), from, to)) {
      const c = new DecodedChunk(row.ts, row.num, row.meta);
      for (let i = 0; i < c.length; i++) if (c.ts[i]! >= from && c.ts[i]! <= to) out.push(c.sample(i));
    }
    for (const r of this.pendingIn(gateway, device, point, from, to)) out.push(sampleOf(r));
    return sortByTs(out);
  }

  /** Raw data's partial buckets; a chunk inside one bucket contributes its stored aggregate. */
  rawBuckets(gateway: string, device: string, point: string, from: number, to: number, bucketMs: number): PartialBucket[] {
    const buckets = new Map<number, { sum: number; min: number; max: number; count: number }>();
    const whole: PartialBucket[] = [];
    for (const row of this.chunksIn(this.lookupSeries(gateway, device, point), from, to)) {
      if (row.t_min >= from && row.t_max <= to && Math.floor(row.t_min / bucketMs) === Math.floor(row.t_max / bucketMs)) {
        if (row.agg_n > 0) whole.push({ start: row.t_min, sum: row.agg_sum ?? 0, min: row.agg_min ?? 0, max: row.agg_max ?? 0, count: row.agg_n });
        continue;
      }
      const c = new DecodedChunk(row.ts, row.num, row.meta);
      for (let i = 0; i < c.length; i++) {
        const ts = c.ts[i]!;
        if (ts < from || ts > to) continue;
        const x = c.countable(i);
        if (x !== undefined) addToBuckets(buckets, bucketMs, ts, x);
      }
    }
    for (const r of this.pendingIn(gateway, device, point, from, to)) {
      const x = countableReading(r);
      if (x !== undefined) addToBuckets(buckets, bucketMs, r.ts, x);
    }
    return [...whole, ...bucketsToPartials(buckets)];
  }

  /** History buckets: raw chunks plus the best rollup level's rows. */
  buckets(gateway: string, device: string, point: string, from: number, to: number, bucketMs: number): HistoryBucket[] {
    const raw = this.rawBuckets(gateway, device, point, from, to, bucketMs);
    const levels = (this.sql.rollupLevels.all() as { bucket_s: number; keep_days: number }[]).map((r) => ({ bucketS: r.bucket_s, keepDays: r.keep_days }));
    const level = rollupLevelFor(levels, bucketMs);
    const rolled = level
      ? (this.sql.rollupsIn
          .all(level.bucketS, gateway, device, point, Math.floor(from / bucketMs) * bucketMs, to) as PartialBucket[])
      : [];
    return mergeBuckets([...raw, ...rolled], bucketMs);
  }

  /**
   * Rolls raw samples older than cutoff into every level and removes them; a chunk straddling
   * the cutoff keeps its newer samples. Works in pages of chunks, each page one transaction
   * (rollup sums and the deletion commit together). Returns how many samples were removed.
   */
  retain(cutoff: number, levels: readonly RollupLevel[]): number {
    this.flush();
    const page = this.db.prepare('SELECT * FROM chunks WHERE t_min < ? ORDER BY t_min LIMIT ?');
    const seriesOf = this.db.prepare('SELECT gateway, device, point FROM series WHERE id = ?');
    const upsertRollup = this.db.prepare(`
      INSERT INTO rollups (bucket_s, gateway, device, point, start, sum, min, max, count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (bucket_s, gateway, device, point, start) DO UPDATE SET
        sum = rollups.sum + excluded.sum, min = MIN(rollups.min, excluded.min),
        max = MAX(rollups.max, excluded.max), count = rollups.count + excluded.count`);
    const remove = this.db.prepare('DELETE FROM chunks WHERE id = ?');
    const rewrite = this.db.prepare('UPDATE chunks SET t_min = ?, t_max = ?, n = ?, agg_n = ?, agg_sum = ?, agg_min = ?, agg_max = ?, ts = ?, num = ?, meta = ? WHERE id = ?');
    let removed = 0;
    for (;;) {
      const rows = page.all(cutoff, RETENTION_PAGE) as ChunkRow[];
      if (rows.length === 0) return removed;
      removed += this.db.transaction((): number => {
        let n = 0;
        for (const row of rows) {
          const c = new DecodedChunk(row.ts, row.num, row.meta);
          const keep: ChunkSample[] = [];
          const perLevel = levels.map(() => new Map<number, { sum: number; min: number; max: number; count: number }>());
          for (let i = 0; i < c.length; i++) {
            const ts = c.ts[i]!;
            if (ts >= cutoff) {
              keep.push(chunkSampleOf(c.sample(i)));
              continue;
            }
            n++;
            const x = c.countable(i);
            if (x !== undefined) levels.forEach((l, k) => addToBuckets(perLevel[k]!, l.bucketS * 1000, ts, x));
          }
          const s = seriesOf.get(row.series) as { gateway: string; device: string; point: string };
          levels.forEach((l, k) => {
            for (const [start, b] of perLevel[k]!) upsertRollup.run(l.bucketS, s.gateway, s.device, s.point, start, b.sum, b.min, b.max, b.count);
          });
          if (keep.length === 0) remove.run(row.id);
          else {
            const e = encodeChunk(keep);
            rewrite.run(e.tMin, e.tMax, e.n, e.agg.count, e.agg.count > 0 ? e.agg.sum : null, e.agg.min, e.agg.max, e.ts, e.num, e.meta, row.id);
          }
        }
        return n;
      })();
    }
  }

  /**
   * Merges runs of consecutive (in arrival order) small chunks flushed before now - COMPACT_AGE_MS.
   * A run is rewritten only when that makes fewer chunks, reusing the run's first ord values so
   * arrival order across chunks is unchanged. Returns how many chunks it removed.
   */
  compact(now: number): number {
    const before = now - COMPACT_AGE_MS;
    // Series with at least two small old chunks, in random order so series whose runs cannot be
    // merged (split by large chunks) do not starve the others.
    const candidates = this.db
      // The literal matches the partial index chunks_small (WHERE n < 256); a bound parameter would not.
      .prepare(`SELECT series FROM chunks WHERE n < ${COMPACT_BELOW} AND flushed_at < ? GROUP BY series HAVING COUNT(*) >= 2 ORDER BY RANDOM() LIMIT ?`)
      .pluck()
      .all(before, COMPACT_SERIES_PER_RUN) as number[];
    const chunksOf = this.db.prepare('SELECT * FROM chunks WHERE series = ? ORDER BY ord');
    const remove = this.db.prepare('DELETE FROM chunks WHERE id = ?');
    const small = (r: ChunkRow): boolean => r.n < COMPACT_BELOW && r.flushed_at < before;
    let removed = 0;
    for (const series of candidates) {
      removed += this.db.transaction((): number => {
        const rows = chunksOf.all(series) as ChunkRow[];
        let gone = 0;
        for (let i = 0; i < rows.length; ) {
          if (!small(rows[i]!)) {
            i++;
            continue;
          }
          let j = i;
          while (j < rows.length && small(rows[j]!)) j++;
          const run = rows.slice(i, j);
          i = j;
          if (run.length < 2) continue;
          const merged: ChunkSample[] = [];
          for (const row of run) {
            const c = new DecodedChunk(row.ts, row.num, row.meta);
            for (let k = 0; k < c.length; k++) merged.push(chunkSampleOf(c.sample(k)));
          }
          const pieces = encodeChunks(SampleColumns.of(merged).sorted());
          if (pieces.length >= run.length) continue;
          for (const row of run) remove.run(row.id);
          // Stamped now: a merged chunk that is still small waits COMPACT_AGE_MS before it is
          // merged again with what arrived since.
          pieces.forEach((piece, k) => this.insertChunk(series, run[k]!.ord, piece, now));
          gone += run.length - pieces.length;
        }
        return gone;
      })();
    }
    return removed;
  }

  /** Flushes and releases the journal. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    try {
      this.flushNow();
    } finally {
      this.journal?.close();
    }
  }
}

function chunkSampleOf(s: RawSample): ChunkSample {
  return s.cause === undefined ? { v: s.value, q: s.quality, ts: s.ts } : { v: s.value, q: s.quality, ts: s.ts, c: s.cause };
}

/** Converts a legacy per-reading `readings` table into chunks (the version-2 migration). */
export function convertLegacyReadings(db: Db): number {
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'readings'").pluck().get();
  if (!exists) return 0;
  const insertSeries = db.prepare('INSERT INTO series (gateway, device, point) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET gateway = excluded.gateway RETURNING id').pluck();
  const insertChunk = db.prepare(INSERT_CHUNK);
  let ord = ((db.prepare('SELECT MAX(ord) FROM chunks').pluck().get() as number | null) ?? 0) + 1;
  let converted = 0;
  const now = Date.now();
  const points = db.prepare('SELECT DISTINCT gateway, device, point FROM readings').all() as { gateway: string; device: string; point: string }[];
  const rowsOf = db.prepare('SELECT ts, num, str, vtype, quality, cause FROM readings WHERE gateway = ? AND device = ? AND point = ? ORDER BY ts, id');
  for (const p of points) {
    const id = insertSeries.get(p.gateway, p.device, p.point) as number;
    const samples = new SampleColumns();
    for (const r of rowsOf.all(p.gateway, p.device, p.point) as { ts: number; num: number | null; str: string | null; vtype: string; quality: Quality; cause: string | null }[]) {
      const v = decodeValue(r.num, r.str, r.vtype);
      samples.push(r.cause === null ? { v, q: r.quality, ts: r.ts } : { v, q: r.quality, ts: r.ts, c: r.cause });
    }
    converted += samples.length;
    for (const c of encodeChunks(samples)) insertChunk.run(chunkRow(id, ord++, c, now));
  }
  db.exec('DROP TABLE readings');
  return converted;
}
