/**
 * Compaction: writes leave small chunks when points report slowly or batches are written through
 * one by one; runs of small chunks of a series (consecutive in arrival order) are merged once
 * COMPACT_AGE_MS old, keeping the run's first ord values so arrival order on equal timestamps is
 * unchanged. One hub process compacts at a time (a session advisory lock tried, never waited
 * for); each series is one transaction holding its days' locks shared, so retention never drops
 * a day under it.
 */
import type pg from 'pg';
import { CHUNK_MAX_SPAN_MS, planChunkMerges } from '../chunk.js';
import { insertChunks, type ChunkRow, type NewChunk } from './chunk-rows.js';
import { dayLockSql, dayOf, type ChunkPartitions } from './partitions.js';

/** Chunks below this many samples are merged once COMPACT_AGE_MS old. */
const COMPACT_BELOW = 256;
const COMPACT_AGE_MS = 10 * 60_000;
/** How often the store's timer runs a compaction. */
export const COMPACT_EVERY_MS = 60_000;
/** Series compacted per run, so one run stays short. */
const SERIES_PER_RUN = 500;

/** Merges runs of small old chunks; returns how many chunks it removed (0 when another process is compacting). */
export async function compactChunks(pool: pg.Pool, partitions: ChunkPartitions, schema: string, now: number): Promise<number> {
  const before = now - COMPACT_AGE_MS;
  const client = await pool.connect();
  const lock = `swarmgate-compaction:${schema}`;
  try {
    const got = (await client.query('SELECT pg_try_advisory_lock(hashtext($1)) AS got', [lock])).rows[0] as { got: boolean };
    if (!got.got) return 0;
    try {
      const candidates = (
        await client.query(
          `SELECT series, MIN(t_min) AS t_min, MAX(t_max) AS t_max FROM chunks WHERE n < ${COMPACT_BELOW} AND flushed_at < $1
           GROUP BY series HAVING COUNT(*) >= 2 ORDER BY random() LIMIT $2`,
          [before, SERIES_PER_RUN],
        )
      ).rows as { series: number; t_min: number; t_max: number }[];
      let removed = 0;
      for (const c of candidates) removed += await compactSeries(client, partitions, c.series, c.t_min, c.t_max, before, now);
      return removed;
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [lock]);
    }
  } finally {
    client.release();
  }
}

async function compactSeries(client: pg.ClientBase, partitions: ChunkPartitions, series: number, tMin: number, tMax: number, before: number, now: number): Promise<number> {
  const days: number[] = [];
  for (let d = dayOf(tMin - CHUNK_MAX_SPAN_MS); d <= dayOf(tMax); d++) days.push(d);
  try {
    await client.query('BEGIN');
    await client.query(dayLockSql('shared'), [partitions.lockClass, days]);
    // Chunks outside [tMin - span, tMax] share no timestamp with the small ones: their place in
    // arrival order does not matter to a merge.
    const rows = (await client.query('SELECT * FROM chunks WHERE series = $1 AND t_min >= $2 AND t_min <= $3 ORDER BY ord', [series, tMin - CHUNK_MAX_SPAN_MS, tMax])).rows as (ChunkRow & { flushed_at: number })[];
    const small = (r: ChunkRow & { flushed_at: number }): boolean => r.n < COMPACT_BELOW && r.flushed_at < before;
    const gone: number[] = [];
    const pieces: NewChunk[] = [];
    for (const merge of planChunkMerges(rows, small)) {
      for (const row of merge.run) gone.push(row.ord);
      merge.pieces.forEach((chunk, k) => pieces.push({ series, chunk, ord: merge.run[k]!.ord }));
    }
    if (gone.length > 0) {
      await client.query('DELETE FROM chunks WHERE series = $1 AND ord = ANY($2::bigint[]) AND t_min >= $3 AND t_min <= $4', [series, gone, tMin - CHUNK_MAX_SPAN_MS, tMax]);
      // Stamped now: a merged chunk that is still small waits COMPACT_AGE_MS before it is merged again.
      await insertChunks(client, pieces, now);
    }
    await client.query('COMMIT');
    return gone.length - pieces.length;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
