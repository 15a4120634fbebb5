/**
 * Conversion of the version-1 per-reading `readings` table into chunks (the version-4 migration),
 * point by point, inside the migration's transaction: a hub process still running the old code
 * finds no `readings` table afterwards and fails its writes (left unacknowledged for the broker to
 * redeliver) instead of writing where nothing reads.
 */
import type pg from 'pg';
import { decodeValue } from '../aggregate.js';
import { SampleColumns, encodeChunks } from '../chunk.js';
import type { Quality } from '../types.js';
import { insertChunks, type NewChunk } from './chunk-rows.js';
import { PARTITION_MS, createPartitions } from './partitions.js';
import { SeriesIds, seriesKey } from './series-ids.js';

/** Chunks written per statement during conversion. */
const WRITE_EVERY = 2000;

export async function convertLegacyReadings(client: pg.ClientBase, schema: string): Promise<void> {
  const exists = (await client.query("SELECT to_regclass('readings') IS NOT NULL AS e")).rows[0] as { e: boolean };
  if (!exists.e) return;
  const points = (await client.query('SELECT DISTINCT gateway, device, point FROM readings')).rows as { gateway: string; device: string; point: string }[];
  const ids = await new SeriesIds().resolve(points, client);
  const days = (await client.query('SELECT DISTINCT floor(ts / $1::float8)::bigint AS d FROM readings ORDER BY 1', [PARTITION_MS])).rows as { d: number }[];
  await createPartitions(client, schema, days.map((r) => r.d));
  const now = Date.now();
  let pending: NewChunk[] = [];
  for (const p of points) {
    const rows = (await client.query('SELECT ts, num, str, vtype, quality, cause FROM readings WHERE gateway = $1 AND device = $2 AND point = $3 ORDER BY ts, id', [p.gateway, p.device, p.point])).rows as {
      ts: number;
      num: number | null;
      str: string | null;
      vtype: string;
      quality: Quality;
      cause: string | null;
    }[];
    const samples = new SampleColumns();
    for (const r of rows) {
      const v = decodeValue(r.num, r.str, r.vtype);
      samples.push(r.cause === null ? { v, q: r.quality, ts: r.ts } : { v, q: r.quality, ts: r.ts, c: r.cause });
    }
    const series = ids.get(seriesKey(p.gateway, p.device, p.point))!;
    for (const chunk of encodeChunks(samples)) pending.push({ series, chunk });
    if (pending.length >= WRITE_EVERY) {
      await insertChunks(client, pending, now);
      pending = [];
    }
  }
  await insertChunks(client, pending, now);
  await client.query('DROP TABLE readings');
}
