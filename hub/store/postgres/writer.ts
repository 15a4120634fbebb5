/**
 * One write of telemetry batches to PostgreSQL, in one transaction: the batches' keys (one
 * multi-row INSERT ... ON CONFLICT DO NOTHING: the unique key decides which process or which
 * repeat stores a batch), the readings of the batches that won their key as per-point chunks (one
 * multi-row INSERT), and the latest value of each point (one multi-row upsert). Batches that lost
 * their key get the content hash stored with it, to tell a duplicate from a conflict.
 *
 * The days written hold their advisory lock shared (partitions.ts), so retention cannot drop a
 * day between a write's check and its insert. A deadlock, a serialisation failure or a partition
 * dropped by another process's retention is retried.
 */
import type pg from 'pg';
import type { TelemetryBatch } from '../../../shared/wire/messages.js';
import { encodeValue } from '../aggregate.js';
import { SampleColumns, encodeChunks } from '../chunk.js';
import { chunkInsertSql, chunkParams, type NewChunk } from './chunk-rows.js';
import { ChunkPartitions, dayLockSql, dayOf } from './partitions.js';
import { SeriesIds, seriesKey, type SeriesName } from './series-ids.js';

export interface PendingBatch {
  readonly batch: TelemetryBatch;
  readonly receivedAt: number;
  readonly hash: string;
}

/** stored, or not stored with the hash its key was stored with ('' when stored without one). */
export type WriteOutcome = { readonly stored: true } | { readonly stored: false; readonly storedHash: string };

const RETRIES = 3;
/** deadlock_detected, serialization_failure, check_violation (no partition for a row: dropped meanwhile), undefined_table. */
const RETRYABLE = new Set(['40P01', '40001', '23514', '42P01']);

const keyOf = (b: TelemetryBatch): string => `${b.gateway}\u0000${b.bootId}\u0000${b.seq}`;
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export interface Series extends SeriesName {
  readonly samples: SampleColumns;
}

function winnersByPoint(unique: readonly PendingBatch[], won: ReadonlySet<string>): Map<string, Series> {
  const series = new Map<string, Series>();
  for (const e of unique) {
    if (!won.has(keyOf(e.batch))) continue;
    const g = e.batch.gateway;
    for (const r of e.batch.readings) {
      const k = seriesKey(g, r.d, r.p);
      let s = series.get(k);
      if (!s) series.set(k, (s = { gateway: g, device: r.d, point: r.p, samples: new SampleColumns() }));
      s.samples.push(r);
    }
  }
  return series;
}

export class ChunkWriter {
  constructor(
    private readonly pool: pg.Pool,
    private readonly partitions: ChunkPartitions,
    private readonly ids: SeriesIds,
  ) {}

  /**
   * Writes the batches in one transaction; an outcome per batch, in order. A repeat of a key
   * earlier in `entries` is a duplicate of it. `columns`, when given, are the entries' readings
   * per point already (the journal's buffer), used as they are when every batch wins its key.
   */
  async write(entries: readonly PendingBatch[], columns?: ReadonlyMap<string, Series>): Promise<WriteOutcome[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.attempt(entries, columns);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (attempt >= RETRIES || code === undefined || !RETRYABLE.has(code)) throw err;
        if (code === '23514' || code === '42P01') this.partitions.forget();
      }
    }
  }

  private async attempt(entries: readonly PendingBatch[], columns: ReadonlyMap<string, Series> | undefined): Promise<WriteOutcome[]> {
    // The first of each key competes for it; later ones in this write are judged against it.
    const first = new Map<string, number>();
    entries.forEach((e, i) => {
      const k = keyOf(e.batch);
      if (!first.has(k)) first.set(k, i);
    });
    const unique = [...first.values()].map((i) => entries[i]!);
    const days = new Set<number>();
    const names = new Map<string, SeriesName>();
    if (columns) {
      for (const [k, s] of columns) {
        names.set(k, s);
        for (const ts of s.samples.ts) days.add(dayOf(ts));
      }
    } else {
      for (const e of unique) {
        const g = e.batch.gateway;
        for (const r of e.batch.readings) {
          days.add(dayOf(r.ts));
          const k = seriesKey(g, r.d, r.p);
          if (!names.has(k)) names.set(k, { gateway: g, device: r.d, point: r.p });
        }
      }
    }
    await this.partitions.ensure(days);
    const ids = await this.ids.resolve(names.values(), this.pool);

    const client = await this.pool.connect();
    const won = new Set<string>();
    const storedHash = new Map<string, string>();
    try {
      await client.query('BEGIN');
      // Keys in one order for every process: two inserting the same keys wait, never deadlock.
      const sorted = [...unique].sort((x, y) => cmp(x.batch.gateway, y.batch.gateway) || cmp(x.batch.bootId, y.batch.bootId) || x.batch.seq - y.batch.seq);
      const inserted = await client.query({
        name: 'swarmgate-insert-batches',
        // The days' locks first (the sub-select runs once, before any row), in the same round trip.
        text: `WITH locks AS MATERIALIZED (${dayLockSql('shared', 8)})
               INSERT INTO batches (gateway, boot_id, seq, received_at, readings, historical, content_hash)
               SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::int[], $6::boolean[], $7::text[])
               WHERE (SELECT COUNT(*) FROM locks) >= 0
               ON CONFLICT DO NOTHING RETURNING gateway, boot_id, seq`,
        values: [
          sorted.map((e) => e.batch.gateway),
          sorted.map((e) => e.batch.bootId),
          sorted.map((e) => e.batch.seq),
          sorted.map((e) => e.receivedAt),
          sorted.map((e) => e.batch.readings.length),
          sorted.map((e) => e.batch.historical),
          sorted.map((e) => e.hash),
          this.partitions.lockClass,
          [...days].sort((a, b) => a - b),
        ],
      });
      for (const r of inserted.rows as { gateway: string; boot_id: string; seq: number }[]) won.add(`${r.gateway}\u0000${r.boot_id}\u0000${r.seq}`);
      const lost = unique.filter((e) => !won.has(keyOf(e.batch)));
      if (lost.length > 0) {
        const rows = (
          await client.query({
            name: 'swarmgate-batch-hashes',
            text: "SELECT b.gateway, b.boot_id, b.seq, COALESCE(b.content_hash, '') AS hash FROM batches b JOIN unnest($1::text[], $2::text[], $3::bigint[]) AS k(gateway, boot_id, seq) USING (gateway, boot_id, seq)",
            values: [lost.map((e) => e.batch.gateway), lost.map((e) => e.batch.bootId), lost.map((e) => e.batch.seq)],
          })
        ).rows as { gateway: string; boot_id: string; seq: number; hash: string }[];
        for (const r of rows) storedHash.set(`${r.gateway}\u0000${r.boot_id}\u0000${r.seq}`, r.hash);
      }

      // The winners' readings per point, in arrival order.
      const series = columns !== undefined && won.size === entries.length ? columns : winnersByPoint(unique, won);
      if (series.size > 0) {
        const chunks: NewChunk[] = [];
        const latest = { g: [] as string[], d: [] as string[], p: [] as string[], ts: [] as number[], num: [] as (number | null)[], str: [] as (string | null)[], vt: [] as string[], q: [] as string[], c: [] as (string | null)[] };
        // Latest rows in one order for every process (two writing the same points wait, not deadlock).
        const ordered = [...series.entries()].sort(([, a], [, b]) => cmp(a.gateway, b.gateway) || cmp(a.device, b.device) || cmp(a.point, b.point));
        for (const [k, s] of series) {
          const id = ids.get(k)!;
          for (const chunk of encodeChunks(s.samples.sorted())) chunks.push({ series: id, chunk });
        }
        for (const [, s] of ordered) {
          const r = s.samples.sample(s.samples.newest());
          const v = encodeValue(r.v);
          latest.g.push(s.gateway);
          latest.d.push(s.device);
          latest.p.push(s.point);
          latest.ts.push(r.ts);
          latest.num.push(v.num);
          latest.str.push(v.str);
          latest.vt.push(v.vtype);
          latest.q.push(r.q);
          latest.c.push(r.c ?? null);
        }
        // Chunks and latest values in one statement (one round trip).
        await client.query({
          name: 'swarmgate-insert-chunks-latest',
          text: `WITH written AS (${chunkInsertSql(1)})
                 INSERT INTO latest (gateway, device, point, ts, num, str, vtype, quality, cause)
                 SELECT * FROM unnest($15::text[], $16::text[], $17::text[], $18::bigint[], $19::float8[], $20::text[], $21::text[], $22::text[], $23::text[])
                 ON CONFLICT (gateway, device, point) DO UPDATE SET ts = EXCLUDED.ts, num = EXCLUDED.num, str = EXCLUDED.str,
                   vtype = EXCLUDED.vtype, quality = EXCLUDED.quality, cause = EXCLUDED.cause
                 WHERE EXCLUDED.ts >= latest.ts`,
          values: [...chunkParams(chunks, Date.now()), latest.g, latest.d, latest.p, latest.ts, latest.num, latest.str, latest.vt, latest.q, latest.c],
        });
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }

    return entries.map((e, i): WriteOutcome => {
      const k = keyOf(e.batch);
      const f = first.get(k)!;
      if (f === i) return won.has(k) ? { stored: true } : { stored: false, storedHash: storedHash.get(k) ?? '' };
      // A repeat within this write: against the first's hash when the first was stored now.
      return { stored: false, storedHash: won.has(k) ? entries[f]!.hash : (storedHash.get(k) ?? '') };
    });
  }
}
