/**
 * Retention of raw telemetry: samples older than the cutoff are rolled up into every rollup level
 * and removed from their chunks.
 */
import type { Database as Db } from 'better-sqlite3';
import { DecodedChunk, addToBuckets, chunkSampleOf, encodeChunk, type ChunkSample } from '../../chunk.js';
import type { RollupLevel } from '../../types.js';
import type { ChunkRow } from './chunk-rows.js';

/** Chunks rolled up per retention transaction. */
const RETENTION_PAGE = 500;

/**
 * Rolls raw samples older than cutoff into every level and removes them; a chunk straddling
 * the cutoff keeps its newer samples. Works in pages of chunks, each page one transaction
 * (rollup sums and the deletion commit together). Returns how many samples were removed.
 * Only what is committed counts: the caller flushes first.
 */
export function retainChunks(db: Db, cutoff: number, levels: readonly RollupLevel[]): number {
  const page = db.prepare('SELECT * FROM chunks WHERE t_min < ? ORDER BY t_min LIMIT ?');
  const seriesOf = db.prepare('SELECT gateway, device, point FROM series WHERE id = ?');
  const upsertRollup = db.prepare(`
    INSERT INTO rollups (bucket_s, gateway, device, point, start, sum, min, max, count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (bucket_s, gateway, device, point, start) DO UPDATE SET
      sum = rollups.sum + excluded.sum, min = MIN(rollups.min, excluded.min),
      max = MAX(rollups.max, excluded.max), count = rollups.count + excluded.count`);
  const remove = db.prepare('DELETE FROM chunks WHERE id = ?');
  const rewrite = db.prepare('UPDATE chunks SET t_min = ?, t_max = ?, n = ?, agg_n = ?, agg_sum = ?, agg_min = ?, agg_max = ?, ts = ?, num = ?, meta = ? WHERE id = ?');
  let removed = 0;
  for (;;) {
    const rows = page.all(cutoff, RETENTION_PAGE) as ChunkRow[];
    if (rows.length === 0) return removed;
    removed += db.transaction((): number => {
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
