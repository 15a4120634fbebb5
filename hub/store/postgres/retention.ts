/**
 * Retention of raw telemetry: every day partition wholly older than the cutoff is rolled up into
 * every rollup level and dropped (DROP TABLE: no row-by-row DELETE, no dead tuples, no vacuum);
 * in the one day the cutoff falls inside, the chunks older than it are rolled up and deleted, a
 * chunk straddling it keeps its newer samples. Rollups come from the chunks' stored aggregates
 * where a chunk lies in one bucket of the level (one SQL statement per level), and from decoding
 * the chunk otherwise. Each day is one transaction holding the day's advisory lock exclusive:
 * writers of that day wait, and two hub processes never roll the same day up twice.
 */
import type pg from 'pg';
import { DecodedChunk, addToBuckets, chunkSampleOf, encodeChunk, type ChunkSample } from '../chunk.js';
import type { RollupLevel } from '../types.js';
import type { ChunkRow } from './chunk-rows.js';
import { ChunkPartitions, PARTITION_MS, dayLockSql, partitionName } from './partitions.js';

/** Series decoded per statement. */
const SERIES_PAGE = 500;
/** Past any timestamp: a whole partition's cutoff. */
const NO_CUTOFF = Number.MAX_SAFE_INTEGER;

interface Named extends ChunkRow {
  gateway: string;
  device: string;
  point: string;
}

/** Rolls up and removes raw samples older than cutoff; returns how many it removed. */
export async function retainChunks(pool: pg.Pool, partitions: ChunkPartitions, cutoff: number, levels: readonly RollupLevel[]): Promise<number> {
  let removed = 0;
  for (const day of await partitions.list()) {
    const end = (day + 1) * PARTITION_MS;
    if (day * PARTITION_MS >= cutoff) break;
    removed += await inDayTransaction(pool, partitions, day, async (client, rel) => {
      if (end <= cutoff) {
        const n = await retire(client, rel, NO_CUTOFF, levels);
        await client.query(`DROP TABLE ${rel}`);
        return n;
      }
      const n = await retire(client, rel, cutoff, levels);
      await client.query(`DELETE FROM ${rel} WHERE t_max < $1`, [cutoff]);
      return n;
    });
  }
  return removed;
}

async function inDayTransaction(pool: pg.Pool, partitions: ChunkPartitions, day: number, fn: (client: pg.PoolClient, rel: string) => Promise<number>): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(dayLockSql('exclusive'), [partitions.lockClass, [day]]);
    const rel = partitionName(day);
    // Dropped meanwhile by another process's retention.
    const exists = (await client.query('SELECT to_regclass($1) IS NOT NULL AS e', [rel])).rows[0] as { e: boolean };
    const n = exists.e ? await fn(client, rel) : 0;
    await client.query('COMMIT');
    return n;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    partitions.forget();
    client.release();
  }
}

/**
 * Adds the samples of `rel` older than cutoff to every level's rollups, rewrites the chunks that
 * straddle the cutoff to their newer samples, and returns how many samples are older than the
 * cutoff. Deleting the older chunks is left to the caller.
 */
async function retire(client: pg.ClientBase, rel: string, cutoff: number, levels: readonly RollupLevel[]): Promise<number> {
  // Chunks wholly older than the cutoff and inside one bucket: their stored aggregate.
  for (const level of levels) {
    await client.query(
      `INSERT INTO rollups AS r (bucket_s, gateway, device, point, start, sum, min, max, count)
       SELECT $1::integer, s.gateway, s.device, s.point, (c.t_min / $2::bigint) * $2::bigint, SUM(c.agg_sum), MIN(c.agg_min), MAX(c.agg_max), SUM(c.agg_n)
       FROM ${rel} c JOIN series s ON s.id = c.series
       WHERE c.t_max < $3 AND c.agg_n > 0 AND c.t_min / $2::bigint = c.t_max / $2::bigint
       GROUP BY s.gateway, s.device, s.point, 5
       ON CONFLICT (bucket_s, gateway, device, point, start) DO UPDATE SET
         sum = r.sum + EXCLUDED.sum, min = LEAST(r.min, EXCLUDED.min),
         max = GREATEST(r.max, EXCLUDED.max), count = r.count + EXCLUDED.count`,
      [level.bucketS, level.bucketS * 1000, cutoff],
    );
  }
  let removed = Number(((await client.query(`SELECT COALESCE(SUM(n), 0) AS n FROM ${rel} WHERE t_max < $1`, [cutoff])).rows[0] as { n: number }).n);

  // The rest: chunks straddling the cutoff, or spanning buckets of some level, decoded.
  const spans = levels.map((_, k) => `c.t_min / $${k + 2}::bigint <> c.t_max / $${k + 2}::bigint`);
  const where = `c.t_min < $1 AND (c.t_max >= $1${spans.map((s) => ` OR ${s}`).join('')})`;
  const bucketArgs = levels.map((l) => l.bucketS * 1000);
  const series = ((await client.query(`SELECT DISTINCT c.series FROM ${rel} c WHERE ${where}`, [cutoff, ...bucketArgs])).rows as { series: number }[]).map((r) => r.series);
  for (let i = 0; i < series.length; i += SERIES_PAGE) {
    const page = series.slice(i, i + SERIES_PAGE);
    const rows = (
      await client.query(`SELECT c.*, s.gateway, s.device, s.point FROM ${rel} c JOIN series s ON s.id = c.series WHERE c.series = ANY($${levels.length + 2}::bigint[]) AND ${where}`, [cutoff, ...bucketArgs, page])
    ).rows as Named[];
    const perLevel = levels.map(() => new Map<number, Map<number, { sum: number; min: number; max: number; count: number }>>());
    const names = new Map<number, Named>();
    for (const row of rows) {
      names.set(row.series, row);
      const straddles = row.t_max >= cutoff;
      const decoded = new DecodedChunk(row.ts, row.num, row.meta);
      const keep: ChunkSample[] = [];
      const into = levels.map((l, k) => {
        const bms = l.bucketS * 1000;
        if (!straddles && Math.trunc(row.t_min / bms) === Math.trunc(row.t_max / bms)) return undefined;
        let m = perLevel[k]!.get(row.series);
        if (!m) perLevel[k]!.set(row.series, (m = new Map()));
        return m;
      });
      for (let j = 0; j < decoded.length; j++) {
        const ts = decoded.ts[j]!;
        if (ts >= cutoff) {
          keep.push(chunkSampleOf(decoded.sample(j)));
          continue;
        }
        if (straddles) removed++;
        const x = decoded.countable(j);
        if (x !== undefined) levels.forEach((l, k) => into[k] && addToBuckets(into[k], l.bucketS * 1000, ts, x));
      }
      if (straddles) {
        const e = encodeChunk(keep);
        await client.query(`UPDATE ${rel} SET t_min = $1, t_max = $2, n = $3, agg_n = $4, agg_sum = $5, agg_min = $6, agg_max = $7, ts = $8, num = $9, meta = $10 WHERE series = $11 AND ord = $12`, [
          e.tMin,
          e.tMax,
          e.n,
          e.agg.count,
          e.agg.count > 0 ? e.agg.sum : null,
          e.agg.min,
          e.agg.max,
          e.ts,
          e.num,
          e.meta,
          row.series,
          row.ord,
        ]);
      }
    }
    for (const [k, level] of levels.entries()) {
      const cols = { g: [] as string[], d: [] as string[], p: [] as string[], start: [] as number[], sum: [] as number[], min: [] as number[], max: [] as number[], count: [] as number[] };
      for (const [s, buckets] of perLevel[k]!) {
        const n = names.get(s)!;
        for (const [start, b] of buckets) {
          cols.g.push(n.gateway);
          cols.d.push(n.device);
          cols.p.push(n.point);
          cols.start.push(start);
          cols.sum.push(b.sum);
          cols.min.push(b.min);
          cols.max.push(b.max);
          cols.count.push(b.count);
        }
      }
      if (cols.g.length === 0) continue;
      await client.query(
        `INSERT INTO rollups AS r (bucket_s, gateway, device, point, start, sum, min, max, count)
         SELECT $1::integer, * FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::float8[], $7::float8[], $8::float8[], $9::bigint[])
         ON CONFLICT (bucket_s, gateway, device, point, start) DO UPDATE SET
           sum = r.sum + EXCLUDED.sum, min = LEAST(r.min, EXCLUDED.min),
           max = GREATEST(r.max, EXCLUDED.max), count = r.count + EXCLUDED.count`,
        [level.bucketS, cols.g, cols.d, cols.p, cols.start, cols.sum, cols.min, cols.max, cols.count],
      );
    }
  }
  return removed;
}
