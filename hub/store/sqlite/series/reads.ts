/** Reads of telemetry: what is stored in chunks and rollups merged with what is still buffered. */
import type { Database as Db, Statement } from 'better-sqlite3';
import { mergeBuckets, rollupLevelFor, type PartialBucket } from '../../aggregate.js';
import { CHUNK_MAX_SPAN_MS, DecodedChunk, addToBuckets, bucketsToPartials, chunkBuckets, countableReading, sampleOf, sortByTs } from '../../chunk.js';
import type { HistoryBucket, RawSample, StoredReading } from '../../types.js';
import { newest, type SeriesBuffer } from './buffer.js';
import type { ChunkRow } from './chunk-rows.js';
import { seriesKey, type SeriesIds } from './series-ids.js';

export class SeriesReads {
  private readonly sql: Record<'chunksIn' | 'rollupLevels' | 'rollupsIn', Statement>;

  constructor(
    db: Db,
    private readonly ids: SeriesIds,
    private readonly buffer: SeriesBuffer,
  ) {
    this.sql = {
      chunksIn: db.prepare('SELECT * FROM chunks WHERE series = ? AND t_min >= ? AND t_min <= ? AND t_max >= ? ORDER BY ord'),
      rollupLevels: db.prepare('SELECT bucket_s, keep_days FROM rollup_levels'),
      rollupsIn: db.prepare('SELECT start, sum, min, max, count FROM rollups WHERE bucket_s = ? AND gateway = ? AND device = ? AND point = ? AND start >= ? AND start <= ?'),
    };
  }

  /** The stored latest rows with buffered readings that are newer laid over them. */
  latest(dbRows: StoredReading[], gateway?: string): StoredReading[] {
    if (this.buffer.series.size === 0) return dbRows;
    const byKey = new Map(dbRows.map((r) => [seriesKey(r.gateway, r.device, r.point), r]));
    for (const [key, p] of this.buffer.series) {
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

  /** Raw samples with from <= ts <= to, by ts, arrival order on equal ts. */
  samples(gateway: string, device: string, point: string, from: number, to: number): RawSample[] {
    const out: RawSample[] = [];
    for (const row of this.chunksIn(this.ids.lookup(gateway, device, point), from, to)) {
      const c = new DecodedChunk(row.ts, row.num, row.meta);
      for (let i = 0; i < c.length; i++) if (c.ts[i]! >= from && c.ts[i]! <= to) out.push(c.sample(i));
    }
    for (const r of this.buffer.samplesIn(gateway, device, point, from, to)) out.push(sampleOf(r));
    return sortByTs(out);
  }

  /** Raw data's partial buckets; a chunk inside one bucket contributes its stored aggregate. */
  private rawBuckets(gateway: string, device: string, point: string, from: number, to: number, bucketMs: number): PartialBucket[] {
    const { buckets, whole } = chunkBuckets(this.chunksIn(this.ids.lookup(gateway, device, point), from, to), from, to, bucketMs);
    for (const r of this.buffer.samplesIn(gateway, device, point, from, to)) {
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
}
