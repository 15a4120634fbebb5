/** Conversion of the version-1 per-reading `readings` table into chunks (the version-2 migration). */
import type { Database as Db } from 'better-sqlite3';
import { decodeValue } from '../../aggregate.js';
import { SampleColumns, encodeChunks } from '../../chunk.js';
import type { Quality } from '../../types.js';
import { chunkInserter, nextChunkOrd } from './chunk-rows.js';

/** Converts a legacy per-reading `readings` table into chunks and drops it; returns the readings converted. */
export function convertLegacyReadings(db: Db): number {
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'readings'").pluck().get();
  if (!exists) return 0;
  const insertSeries = db.prepare('INSERT INTO series (gateway, device, point) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET gateway = excluded.gateway RETURNING id').pluck();
  const insertChunk = chunkInserter(db);
  let ord = nextChunkOrd(db);
  let converted = 0;
  const now = Date.now();
  const points = db.prepare('SELECT DISTINCT gateway, device, point FROM readings').all() as { gateway: string; device: string; point: string }[];
  const rowsOf = db.prepare('SELECT ts, num, str, vtype, quality, cause FROM readings WHERE gateway = ? AND device = ? AND point = ? ORDER BY ts, id');
  for (const p of points) {
    const id = insertSeries.get(p.gateway, p.device, p.point) as number;
    const samples = new SampleColumns();
    for (const r of rowsOf.all(p.gateway, p.device, p.point) as { ts: number; num: number | null; str: string | null; vtype: string; quality: Quality; cause: string | null }[]) {
      const v = decodeValue(r.num, r.str, r.vtype);
      samples.push(r.cause === null ? { v, q: r.quality, ts: r.ts } : { v, q: r.quality, ts: r.ts, c: r.cause });
    }
    converted += samples.length;
    for (const c of encodeChunks(samples)) insertChunk(id, ord++, c, now);
  }
  db.exec('DROP TABLE readings');
  return converted;
}
