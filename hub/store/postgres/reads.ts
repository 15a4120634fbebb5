/**
 * Reads of telemetry from chunks and rollups, with what is still buffered (journaled mode) laid
 * over them. A range query scans the chunks whose t_min lies in
 * [from - CHUNK_MAX_SPAN_MS, to] (the day partitions outside it are pruned); a chunk that lies
 * inside one bucket serves its stored aggregate without being decoded.
 */
import type pg from 'pg';
import { mergeBuckets, rollupLevelFor, type PartialBucket } from '../aggregate.js';
import { CHUNK_MAX_SPAN_MS, DecodedChunk, addToBuckets, bucketsToPartials, chunkBuckets, countableReading, sampleOf } from '../chunk.js';
import type { HistoryBucket, RawSample, StoredReading } from '../types.js';
import type { Generation } from './buffer.js';
import type { ChunkRow } from './chunk-rows.js';
import { seriesKey, type SeriesIds } from './series-ids.js';

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export class SeriesReads {
  constructor(
    private readonly pool: pg.Pool,
    private readonly ids: SeriesIds,
    /** Buffered generations, older first (none when writing through). */
    private readonly buffered: () => readonly Generation[] = () => [],
  ) {}

  /** The stored latest rows with buffered readings that are newer laid over them. */
  latest(dbRows: StoredReading[], gateway?: string): StoredReading[] {
    const generations = this.buffered().filter((g) => g.series.size > 0);
    if (generations.length === 0) return dbRows;
    const byKey = new Map(dbRows.map((r) => [seriesKey(r.gateway, r.device, r.point), r]));
    for (const g of generations) {
      for (const [key, p] of g.series) {
        if (gateway !== undefined && p.gateway !== gateway) continue;
        const r = p.samples.sample(p.samples.newest());
        const stored = byKey.get(key);
        if (stored && stored.ts > r.ts) continue;
        byKey.set(key, { gateway: p.gateway, device: p.device, point: p.point, ...sampleOf(r) });
      }
    }
    return [...byKey.values()].sort((a, b) => cmp(a.gateway, b.gateway) || cmp(a.device, b.device) || cmp(a.point, b.point));
  }

  private async chunksIn(gateway: string, device: string, point: string, from: number, to: number): Promise<ChunkRow[]> {
    const series = await this.ids.lookup(gateway, device, point, this.pool);
    if (series === undefined) return [];
    const sql = 'SELECT * FROM chunks WHERE series = $1 AND t_min >= $2 AND t_min <= $3 AND t_max >= $4 ORDER BY ord';
    return (await this.pool.query(sql, [series, from - CHUNK_MAX_SPAN_MS, to, from])).rows as ChunkRow[];
  }

  /** Raw samples with from <= ts <= to, by ts, arrival order on equal ts. */
  async samples(gateway: string, device: string, point: string, from: number, to: number): Promise<RawSample[]> {
    const out: RawSample[] = [];
    for (const row of await this.chunksIn(gateway, device, point, from, to)) {
      const c = new DecodedChunk(row.ts, row.num, row.meta);
      for (let i = 0; i < c.length; i++) if (c.ts[i]! >= from && c.ts[i]! <= to) out.push(c.sample(i));
    }
    for (const g of this.buffered()) for (const r of g.samplesIn(gateway, device, point, from, to)) out.push(sampleOf(r));
    // Stable: chunks come in arrival order, so equal ts keep it.
    return out.sort((a, b) => a.ts - b.ts);
  }

  /** History buckets: raw chunks plus the best rollup level's rows. */
  async buckets(gateway: string, device: string, point: string, from: number, to: number, bucketMs: number): Promise<HistoryBucket[]> {
    const { buckets, whole } = chunkBuckets(await this.chunksIn(gateway, device, point, from, to), from, to, bucketMs);
    for (const g of this.buffered()) {
      for (const r of g.samplesIn(gateway, device, point, from, to)) {
        const x = countableReading(r);
        if (x !== undefined) addToBuckets(buckets, bucketMs, r.ts, x);
      }
    }
    const levels = (await this.pool.query('SELECT bucket_s, keep_days FROM rollup_levels')).rows.map((r: { bucket_s: number; keep_days: number }) => ({ bucketS: Number(r.bucket_s), keepDays: Number(r.keep_days) }));
    const level = rollupLevelFor(levels, bucketMs);
    const rolled = level
      ? ((
          await this.pool.query('SELECT start, sum, min, max, count FROM rollups WHERE bucket_s = $1 AND gateway = $2 AND device = $3 AND point = $4 AND start >= $5 AND start <= $6', [
            level.bucketS,
            gateway,
            device,
            point,
            Math.floor(from / bucketMs) * bucketMs,
            to,
          ])
        ).rows as PartialBucket[])
      : [];
    return mergeBuckets([...whole, ...bucketsToPartials(buckets), ...rolled], bucketMs);
  }
}
