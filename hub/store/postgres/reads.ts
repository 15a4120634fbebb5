/**
 * Reads of telemetry from chunks and rollups, with what is still buffered (journaled mode) laid
 * over them. A range query scans the chunks whose t_min lies in
 * [from - CHUNK_MAX_SPAN_MS, to] (the day partitions outside it are pruned); a chunk that lies
 * inside one bucket serves its stored aggregate without being decoded.
 */
import type pg from 'pg';
import { ROLLUP_PARTS_SQL, mergeBuckets, pickRollupLevel, rollupPartsArgs, wholeBuckets, type RollupPart } from '../aggregate.js';
import { CHUNK_MAX_SPAN_MS, DecodedChunk, OldestSamples, addToBuckets, bucketsToPartials, chunkBuckets, countableReading, sampleOf } from '../chunk.js';
import type { HistoryBucket, RawSample, SamplePage, StoredReading } from '../types.js';
import type { Generation, TelemetryBuffer } from './buffer.js';
import type { ChunkRow } from './chunk-rows.js';
import { numberPlaceholders } from '../rows.js';
import { seriesKey, type SeriesIds } from './series-ids.js';

/** Chunks read per query of head(). */
const HEAD_PAGE = 32;

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export class SeriesReads {
  constructor(
    private readonly pool: pg.Pool,
    private readonly ids: SeriesIds,
    /** The journaled buffer (none when writing through). */
    private readonly buffer: () => TelemetryBuffer | undefined = () => undefined,
  ) {}

  /**
   * Runs `select` and pairs what it read with the generations buffered, so that no flushed reading
   * counts twice (stored and still buffered) or not at all (committed after the SELECT, dropped
   * from the buffer before it is looked at): select runs while no flush is writing (it waits for
   * one), and runs again when a flush started meanwhile (TelemetryBuffer.epoch).
   */
  private async consistent<T>(select: () => Promise<T>): Promise<{ rows: T; generations: readonly Generation[] }> {
    for (;;) {
      const buffer = this.buffer();
      if (!buffer) return { rows: await select(), generations: [] };
      const epoch = buffer.epoch;
      if (epoch % 2 === 1) {
        await buffer.settled();
        continue;
      }
      const generations = buffer.generations;
      const rows = await select();
      if (buffer.epoch === epoch) return { rows, generations };
    }
  }

  /** The stored latest rows (`select`) with buffered readings that are newer laid over them. */
  async latest(select: () => Promise<StoredReading[]>, gateway?: string): Promise<StoredReading[]> {
    const { rows: dbRows, generations: all } = await this.consistent(select);
    const generations = all.filter((g) => g.series.size > 0);
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
    const { rows, generations } = await this.consistent(() => this.chunksIn(gateway, device, point, from, to));
    const out: RawSample[] = [];
    for (const row of rows) {
      const c = new DecodedChunk(row.ts, row.num, row.meta);
      for (let i = 0; i < c.length; i++) if (c.ts[i]! >= from && c.ts[i]! <= to) out.push(c.sample(i));
    }
    for (const g of generations) for (const r of g.samplesIn(gateway, device, point, from, to)) out.push(sampleOf(r));
    // Stable: chunks come in arrival order, so equal ts keep it.
    return out.sort((a, b) => a.ts - b.ts);
  }

  /** The oldest `limit` raw samples of [from, to] (OldestSamples): chunks in time order, a page at a time, until no later one can hold an older sample. */
  async head(gateway: string, device: string, point: string, from: number, to: number, limit: number): Promise<SamplePage> {
    const { rows: oldest, generations } = await this.consistent(async () => {
      const oldest = new OldestSamples(from, to, limit);
      const series = await this.ids.lookup(gateway, device, point, this.pool);
      if (series === undefined) return oldest;
      const sql = `SELECT * FROM chunks WHERE series = $1 AND t_min >= $2 AND t_min <= $3 AND t_max >= $4 AND (t_min, ord) > ($5, $6)
        ORDER BY t_min, ord LIMIT ${HEAD_PAGE}`;
      for (let after = [from - CHUNK_MAX_SPAN_MS - 1, 0]; ; ) {
        const rows = (await this.pool.query(sql, [series, from - CHUNK_MAX_SPAN_MS, to, from, ...after])).rows as ChunkRow[];
        for (const row of rows) {
          if (!oldest.wants(row.t_min)) return oldest;
          oldest.addChunk(row);
        }
        if (rows.length < HEAD_PAGE) return oldest;
        after = [rows[rows.length - 1]!.t_min, rows[rows.length - 1]!.ord];
      }
    });
    for (const g of generations) oldest.addBuffered(g.samplesIn(gateway, device, point, from, to));
    return oldest.result();
  }

  /** History buckets, whole (wholeBuckets): raw chunks plus, per bucket, one rollup level's rows (pickRollupLevel). */
  async buckets(gateway: string, device: string, point: string, from: number, to: number, bucketMs: number): Promise<HistoryBucket[]> {
    const span = wholeBuckets(from, to, bucketMs);
    const { rows, generations } = await this.consistent(() => this.chunksIn(gateway, device, point, span.from, span.to));
    const { buckets, whole } = chunkBuckets(rows, span.from, span.to, bucketMs);
    for (const g of generations) {
      for (const r of g.samplesIn(gateway, device, point, span.from, span.to)) {
        const x = countableReading(r);
        if (x !== undefined) addToBuckets(buckets, bucketMs, r.ts, x);
      }
    }
    const rolled = pickRollupLevel((await this.pool.query(numberPlaceholders(ROLLUP_PARTS_SQL), rollupPartsArgs(gateway, device, point, span, bucketMs))).rows as RollupPart[]);
    return mergeBuckets([...whole, ...bucketsToPartials(buckets), ...rolled], bucketMs);
  }
}
