/**
 * The group commit: everything buffered becomes chunks, latest values and batch keys in one
 * transaction, with the journal mark it covers. A failure rolls all of it back and leaves the
 * buffer as it was.
 */
import type { Database as Db, Statement } from 'better-sqlite3';
import { encodeValue } from '../../aggregate.js';
import { encodeChunks } from '../../chunk.js';
import { newest, type SeriesBuffer } from './buffer.js';
import { nextChunkOrd, type InsertChunk } from './chunk-rows.js';
import type { SeriesIds } from './series-ids.js';

export class FlushWriter {
  private nextOrd: number;
  private readonly sql: Record<'insertKey' | 'upsertLatest' | 'setMeta', Statement>;

  constructor(
    private readonly db: Db,
    private readonly ids: SeriesIds,
    private readonly insertChunk: InsertChunk,
  ) {
    this.sql = {
      insertKey: db.prepare('INSERT OR IGNORE INTO batches (gateway, boot_id, seq, received_at, readings, historical, content_hash) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      upsertLatest: db.prepare(`
        INSERT INTO latest (gateway, device, point, ts, num, str, vtype, quality, cause) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (gateway, device, point) DO UPDATE SET ts = excluded.ts, num = excluded.num, str = excluded.str,
          vtype = excluded.vtype, quality = excluded.quality, cause = excluded.cause
        WHERE excluded.ts >= latest.ts`),
      setMeta: db.prepare('INSERT INTO store_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
    };
    this.nextOrd = nextChunkOrd(db);
  }

  /** Commits the buffer (it does not reset it); `journalMark`, when given, is stored as the journal segment flushed through. */
  write(buffer: SeriesBuffer, journalMark: number | undefined): void {
    const now = Date.now();
    const newIds = new Map<string, number>();
    const firstOrd = this.nextOrd;
    let ord = firstOrd;
    try {
      this.db.transaction(() => {
        for (const b of buffer.batches) this.sql.insertKey.run(b.gateway, b.bootId, b.seq, b.receivedAt, b.readings, b.historical ? 1 : 0, b.hash);
        for (const [key, p] of buffer.series) {
          const id = this.ids.idFor(key, p, newIds);
          for (const chunk of encodeChunks(p.samples.sorted())) this.insertChunk(id, ord++, chunk, now);
          const r = newest(p.samples);
          const v = encodeValue(r.v);
          this.sql.upsertLatest.run(p.gateway, p.device, p.point, r.ts, v.num, v.str, v.vtype, r.q, r.c ?? null);
        }
        if (journalMark !== undefined) this.sql.setMeta.run('journal_flushed', String(journalMark));
      })();
    } catch (err) {
      this.nextOrd = firstOrd;
      throw err;
    }
    this.nextOrd = ord;
    this.ids.commit(newIds);
  }
}
