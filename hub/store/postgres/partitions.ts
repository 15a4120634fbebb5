/**
 * The day partitions of the `chunks` table (declarative range partitioning on t_min, one UTC day
 * each, named chunks_YYYYMMDD). Partitions are created ahead (today and the next days) and on
 * demand for late data, idempotently under an advisory lock, so several hub processes sharing the
 * database never race on them. Retention drops a whole day at once (retention.ts).
 *
 * Per-day advisory locks keep retention and writers apart: a writer holds the day's lock shared
 * for its transaction, retention holds it exclusive while it rolls a day up and drops it, so no
 * late write lands in a partition between its rollup and its drop.
 */
import type pg from 'pg';
import { DAY_MS } from '../aggregate.js';

export const PARTITION_MS = DAY_MS;
/** Days created ahead of today. */
const DAYS_AHEAD = 2;
const NAME = /^chunks_(\d{4})(\d{2})(\d{2})$/;

export const dayOf = (ts: number): number => Math.floor(ts / PARTITION_MS);

export function partitionName(day: number): string {
  const d = new Date(day * PARTITION_MS);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `chunks_${String(d.getUTCFullYear()).padStart(4, '0')}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}`;
}

function dayOfName(name: string): number | undefined {
  const m = NAME.exec(name);
  return m ? dayOf(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : undefined;
}

/** Takes the days' advisory locks for the transaction: (hashtext(lock class), day) keys one day; parameters $first (the class) and $first+1 (the days). */
export function dayLockSql(mode: 'shared' | 'exclusive', first = 1): string {
  return `SELECT ${mode === 'shared' ? 'pg_advisory_xact_lock_shared' : 'pg_advisory_xact_lock'}(hashtext($${first}), d) FROM unnest($${first + 1}::int[]) AS d`;
}

/** Creates these days' partitions when missing, inside the caller's transaction (serialised by an advisory lock held to its end). */
export async function createPartitions(client: pg.ClientBase, schema: string, days: readonly number[]): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`swarmgate-partitions:${schema}`]);
  for (const day of days) {
    await client.query(`CREATE TABLE IF NOT EXISTS ${partitionName(day)} PARTITION OF chunks FOR VALUES FROM (${day * PARTITION_MS}) TO (${(day + 1) * PARTITION_MS})`);
  }
}

export class ChunkPartitions {
  private readonly known = new Set<number>();
  readonly lockClass: string;

  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
  ) {
    this.lockClass = `swarmgate-chunk-day:${schema}`;
  }

  /** Days that have a partition now, ascending (read from the catalog, refreshing the cache). */
  async list(client: pg.ClientBase | pg.Pool = this.pool): Promise<number[]> {
    const rows = (await client.query("SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass('chunks')")).rows as { name: string }[];
    const days = rows.map((r) => dayOfName(r.name)).filter((d): d is number => d !== undefined).sort((a, b) => a - b);
    this.known.clear();
    for (const d of days) this.known.add(d);
    return days;
  }

  /** Creates the partitions of these days that are not known to exist, in a transaction of their own. */
  async ensure(days: Iterable<number>): Promise<void> {
    const missing = [...new Set(days)].filter((d) => !this.known.has(d)).sort((a, b) => a - b);
    if (missing.length === 0) return;
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      await createPartitions(c, this.schema, missing);
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
    for (const d of missing) this.known.add(d);
  }

  /** Today's partition and the next days'. */
  ensureAhead(now = Date.now()): Promise<void> {
    const today = dayOf(now);
    return this.ensure(Array.from({ length: DAYS_AHEAD + 1 }, (_, i) => today + i));
  }

  /** Forgets what is known (a partition was dropped by another process): the next ensure checks again. */
  forget(): void {
    this.known.clear();
  }
}
