/** The `chunks` table's row, and the one INSERT every writer of chunks uses (flush, compaction, legacy conversion). */
import type { Database as Db } from 'better-sqlite3';
import type { EncodedChunk, StoredChunk } from '../../chunk.js';

/** A `chunks` row as SQLite keeps it: the shared columns, its rowid and when it was flushed. */
export interface ChunkRow extends StoredChunk {
  id: number;
  flushed_at: number;
}

const INSERT_CHUNK = 'INSERT INTO chunks (series, ord, t_min, t_max, n, agg_n, agg_sum, agg_min, agg_max, ts, num, meta, flushed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';

/** Stores one encoded chunk of a series at `ord` (its place in arrival order). */
export type InsertChunk = (series: number, ord: number, chunk: EncodedChunk, flushedAt: number) => void;

export function chunkInserter(db: Db): InsertChunk {
  const statement = db.prepare(INSERT_CHUNK);
  return (series, ord, c, flushedAt) => {
    statement.run([series, ord, c.tMin, c.tMax, c.n, c.agg.count, c.agg.count > 0 ? c.agg.sum : null, c.agg.min, c.agg.max, c.ts, c.num, c.meta, flushedAt]);
  };
}

/** The ord the next chunk written gets. */
export function nextChunkOrd(db: Db): number {
  return ((db.prepare('SELECT MAX(ord) FROM chunks').pluck().get() as number | null) ?? 0) + 1;
}

/** A decoded sample back in the chunk encoder's shape (compaction and retention re-encode). */
