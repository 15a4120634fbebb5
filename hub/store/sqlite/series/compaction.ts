/**
 * Compaction: flushes leave small chunks when points report slowly; runs of small chunks are
 * merged once COMPACT_AGE_MS old, keeping arrival order on equal timestamps.
 */
import type { Database as Db } from 'better-sqlite3';
import { planChunkMerges } from '../../chunk.js';
import type { ChunkRow, InsertChunk } from './chunk-rows.js';

/** Chunks below this many samples are merged once COMPACT_AGE_MS old. */
const COMPACT_BELOW = 256;
const COMPACT_AGE_MS = 10 * 60_000;
/** How often the flush timer runs a compaction. */
export const COMPACT_EVERY_MS = 60_000;
/** Series compacted per compactChunks() call, so one call stays short. */
const COMPACT_SERIES_PER_RUN = 500;

/**
 * Merges runs of consecutive (in arrival order) small chunks flushed before now - COMPACT_AGE_MS.
 * A run is rewritten only when that makes fewer chunks, reusing the run's first ord values so
 * arrival order across chunks is unchanged. Returns how many chunks it removed.
 */
export function compactChunks(db: Db, now: number, insertChunk: InsertChunk): number {
  const before = now - COMPACT_AGE_MS;
  // Series with at least two small old chunks, in random order so series whose runs cannot be
  // merged (split by large chunks) do not starve the others.
  const candidates = db
    // The literal matches the partial index chunks_small (WHERE n < 256); a bound parameter would not.
    .prepare(`SELECT series FROM chunks WHERE n < ${COMPACT_BELOW} AND flushed_at < ? GROUP BY series HAVING COUNT(*) >= 2 ORDER BY RANDOM() LIMIT ?`)
    .pluck()
    .all(before, COMPACT_SERIES_PER_RUN) as number[];
  const chunksOf = db.prepare('SELECT * FROM chunks WHERE series = ? ORDER BY ord');
  const remove = db.prepare('DELETE FROM chunks WHERE id = ?');
  const small = (r: ChunkRow): boolean => r.n < COMPACT_BELOW && r.flushed_at < before;
  let removed = 0;
  for (const series of candidates) {
    removed += db.transaction((): number => {
      const rows = chunksOf.all(series) as ChunkRow[];
      let gone = 0;
      for (const { run, pieces } of planChunkMerges(rows, small)) {
        for (const row of run) remove.run(row.id);
        // Stamped now: a merged chunk that is still small waits COMPACT_AGE_MS before it is
        // merged again with what arrived since.
        pieces.forEach((piece, k) => insertChunk(series, run[k]!.ord, piece, now));
        gone += run.length - pieces.length;
      }
      return gone;
    })();
  }
  return removed;
}
