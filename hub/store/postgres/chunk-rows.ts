/**
 * The `chunks` table's row, and the one multi-row INSERT every writer of chunks uses (group
 * commit, compaction, the legacy conversion): all chunks of a write in one statement, whatever
 * their number (arrays through unnest, so the statement text never changes).
 *
 * `ord` is a chunk's place in arrival order: one value of the chunk_flushes sequence per write,
 * times 2^20, plus the chunk's index in that write. Writes of several processes interleave by
 * the order they took their sequence value.
 */
import type pg from 'pg';
import type { EncodedChunk, StoredChunk } from '../chunk.js';

/** A `chunks` row as PostgreSQL keeps it: the shared columns (hub/store/chunk.ts). */
export type ChunkRow = StoredChunk;

/** Chunks per write at most (the ord layout leaves 2^20 per sequence value). */
export const MAX_CHUNKS_PER_WRITE = 1 << 20;

export interface NewChunk {
  readonly series: number;
  readonly chunk: EncodedChunk;
  /** Keep this ord (compaction rewrites a run in place); a new one is taken when absent. */
  readonly ord?: number;
}

/** The INSERT of chunks with its 14 parameters numbered from $`first` (chunkParams gives them), to use alone or as a CTE. */
export function chunkInsertSql(first = 1): string {
  const $ = (k: number): string => `$${first + k}`;
  return `
  INSERT INTO chunks (series, ord, t_min, t_max, n, agg_n, agg_sum, agg_min, agg_max, ts, num, meta, flushed_at)
  SELECT c.series, COALESCE(c.ord, f.base + c.i), c.t_min, c.t_max, c.n, c.agg_n, c.agg_sum, c.agg_min, c.agg_max, c.ts, c.num, c.meta, ${$(13)}::bigint
  FROM (SELECT nextval('chunk_flushes') * 1048576 AS base) f,
       unnest(${$(0)}::bigint[], ${$(1)}::bigint[], ${$(2)}::bigint[], ${$(3)}::bigint[], ${$(4)}::int[], ${$(5)}::int[], ${$(6)}::float8[], ${$(7)}::float8[], ${$(8)}::float8[], ${$(9)}::bytea[], ${$(10)}::bytea[], ${$(11)}::text[], ${$(12)}::bigint[])
         AS c(series, ord, t_min, t_max, n, agg_n, agg_sum, agg_min, agg_max, ts, num, meta, i)`;
}

/** The 14 parameters of chunkInsertSql: one array per column, then flushedAt. */
export function chunkParams(chunks: readonly NewChunk[], flushedAt: number): unknown[] {
  if (chunks.length > MAX_CHUNKS_PER_WRITE) throw new RangeError(`insertChunks: ${chunks.length} chunks in one write, at most ${MAX_CHUNKS_PER_WRITE}`);
  const cols: unknown[][] = Array.from({ length: 13 }, () => []);
  chunks.forEach((x, i) => {
    const c = x.chunk;
    const row = [x.series, x.ord ?? null, c.tMin, c.tMax, c.n, c.agg.count, c.agg.count > 0 ? c.agg.sum : null, c.agg.min, c.agg.max, c.ts, c.num, c.meta, i];
    row.forEach((v, k) => cols[k]!.push(v));
  });
  return [...cols, flushedAt];
}

/** Inserts chunks in one statement; their order in `chunks` is their arrival order. */
export async function insertChunks(client: pg.ClientBase, chunks: readonly NewChunk[], flushedAt: number): Promise<void> {
  if (chunks.length === 0) return;
  await client.query({ name: 'swarmgate-insert-chunks', text: chunkInsertSql(), values: chunkParams(chunks, flushedAt) });
}

/** A decoded sample back in the chunk encoder's shape (compaction and retention re-encode). */
