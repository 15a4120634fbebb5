/** Reads of telemetry: what is stored in chunks and rollups merged with what is still buffered. */
import type { Database as Db, Statement } from 'better-sqlite3';
import { ROLLUP_PARTS_SQL, mergeBuckets, pickRollupLevel, rollupPartsArgs, wholeBuckets, type PartialBucket, type RollupPart } from '../../aggregate.js';
import { CHUNK_MAX_SPAN_MS, DecodedChunk, OldestSamples, addToBuckets, bucketsToPartials, chunkBuckets, countableReading, sampleOf, sortByTs } from '../../chunk.js';
import type { HistoryBucket, RawSample, SamplePage, StoredReading } from '../../types.js';
import { newest, type SeriesBuffer } from './buffer.js';
import type { ChunkRow } from './chunk-rows.js';
import { seriesKey, type SeriesIds } from './series-ids.js';

export class SeriesReads {
  private readonly sql: Record<'chunksIn' | 'chunksByTime' | 'rollupParts', Statement>;

  constructor(
    db: Db,
    private readonly ids: SeriesIds,
    private readonly buffer: SeriesBuffer,
  ) {
    this.sql = {
      chunksIn: db.prepare('SELECT * FROM chunks WHERE series = ? AND t_min >= ? AND t_min <= ? AND t_max >= ? ORDER BY ord'),
      chunksByTime: db.prepare('SELECT * FROM chunks WHERE series = ? AND t_min >= ? AND t_min <= ? AND t_max >= ? ORDER BY t_min, ord'),
      rollupParts: db.prepare(ROLLUP_PARTS_SQL),
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

  /** The oldest `limit` raw samples of [from, to] (OldestSamples): chunks in time order, read until no later one can hold an older sample. */
  head(gateway: string, device: string, point: string, from: number, to: number, limit: number): SamplePage {
    const oldest = new OldestSamples(from, to, limit);
    const series = this.ids.lookup(gateway, device, point);
    if (series !== undefined) {
      for (const row of this.sql.chunksByTime.iterate(series, from - CHUNK_MAX_SPAN_MS, to, from) as IterableIterator<ChunkRow>) {
        if (!oldest.wants(row.t_min)) break;
        oldest.addChunk(row);
      }
    }
    oldest.addBuffered(this.buffer.samplesIn(gateway, device, point, from, to));
    return oldest.result();
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

  /** History buckets, whole (wholeBuckets): raw chunks plus, per bucket, one rollup level's rows (pickRollupLevel). */
  buckets(gateway: string, device: string, point: string, from: number, to: number, bucketMs: number): HistoryBucket[] {
    const span = wholeBuckets(from, to, bucketMs);
    const raw = this.rawBuckets(gateway, device, point, span.from, span.to, bucketMs);
    const rolled = pickRollupLevel(this.sql.rollupParts.all(...rollupPartsArgs(gateway, device, point, span, bucketMs)) as RollupPart[]);
    return mergeBuckets([...raw, ...rolled], bucketMs);
  }
}
