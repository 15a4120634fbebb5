import { execFile } from 'node:child_process';
import { appendFileSync, chmodSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { batchContentHash, batchContentHashV1 } from '../../../hub/store/batch-conflicts.js';
import { IngestJournal } from '../../../hub/store/ingest-journal.js';
import { SqliteStore, type SqliteStoreOptions } from '../../../hub/store/sqlite/sqlite.js';
import { SQLITE_MIGRATIONS } from '../../../hub/store/sqlite/migrations.js';
import { tempDir } from '../../support/tmp.js';
import { batch, reading } from '../helpers.js';
import { storeContract } from './contract.js';

const WRITER = fileURLToPath(new URL('./fixtures/journal-writer.ts', import.meta.url));
const BOOT = '0b1c2d3e-0000-4000-8000-000000000002';
const T0 = Date.UTC(2024, 0, 1);

function sqliteContract(name: string, options: Omit<SqliteStoreOptions, 'path'>): void {
  storeContract(`sqlite (${name})`, async (logger) => {
    const dir = tempDir('swarmgate-hub-store-');
    const store = SqliteStore.open({ path: `${dir.path}/hub.db`, ...options, logger });
    return {
      store,
      cleanup: async () => {
        await store.close();
        dir.remove();
      },
    };
  });
}

sqliteContract('journaled, group commit', {});
sqliteContract('journaled, fsync on every append', { fsync: true });
sqliteContract('written through', { journal: false });

function runWriter(path: string, count: number, first = 0): Promise<{ stdout: string; signal: string | null }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', WRITER, path, String(count), String(first)], { env: { ...process.env, SWARMGATE_LOG_LEVEL: 'silent' } }, (err, stdout) => {
      resolve({ stdout, signal: (err as (Error & { signal?: string }) | null)?.signal ?? null });
    });
  });
}

const chunkCount = (store: SqliteStore): number => store.database.prepare('SELECT COUNT(*) FROM chunks').pluck().get() as number;

describe('SqliteStore specifics', () => {
  it('uses WAL and does not re-apply migrations on reopen', async () => {
    const dir = tempDir('swarmgate-hub-store-');
    try {
      const a = SqliteStore.open({ path: `${dir.path}/hub.db` });
      expect(a.database.pragma('journal_mode', { simple: true })).toBe('wal');
      await a.close();
      const b = SqliteStore.open({ path: `${dir.path}/hub.db`, migrations: [{ version: 99, name: 'extra', sql: 'CREATE TABLE extra (x INTEGER)' }] });
      expect(await b.schemaVersion()).toBe(99);
      await b.close();
    } finally {
      dir.remove();
    }
  });

  it('keeps the database private: created 0600 (its WAL too), and an existing world-readable one loses that', async () => {
    const dir = tempDir('swarmgate-hub-store-');
    const mode = (f: string): number => statSync(f).mode & 0o777;
    try {
      const path = `${dir.path}/hub.db`;
      const a = SqliteStore.open({ path });
      await a.ingestBatch(batch('gw-1', 'boot-1', 1, [reading('ahu1', 'temp', 21, 1_000)]));
      expect(mode(path)).toBe(0o600);
      expect(mode(`${path}-wal`)).toBe(0o600);
      await a.close();
      chmodSync(path, 0o644);
      const b = SqliteStore.open({ path });
      expect(mode(path)).toBe(0o640);
      expect((await b.history('gw-1', 'ahu1', 'temp', 0, 10_000)).length).toBeGreaterThan(0);
      await b.close();
    } finally {
      dir.remove();
    }
  });

  it('tells a conflict from a duplicate once the batch is committed, after a restart, and not for keys stored before content hashes', async () => {
    const dir = tempDir('swarmgate-hub-store-');
    const path = join(dir.path, 'hub.db');
    const first = batch('gw-hash', BOOT, 1, [reading('m', 'p', 1, T0)]);
    const other = { ...first, readings: [reading('m', 'p', 2, T0)] };
    try {
      const a = SqliteStore.open({ path, flushMs: 600_000 });
      await a.ingestBatch(first);
      await a.ingestBatch({ ...first, seq: 2 });
      a.flush();
      expect(await a.ingestBatch(other)).toEqual({ stored: false, readings: 0, conflict: true });
      // A key from before the hash column (NULL): a repeat cannot be compared, so it is a duplicate.
      a.database.prepare('UPDATE batches SET content_hash = NULL WHERE gateway = ? AND seq = 2').run('gw-hash');
      expect(await a.ingestBatch({ ...other, seq: 2 })).toEqual({ stored: false, readings: 0 });
      // A key stored with a version-1 hash (SHA-256, before version 2): compared like with like.
      await a.ingestBatch({ ...first, seq: 3 });
      a.flush();
      a.database.prepare('UPDATE batches SET content_hash = ? WHERE gateway = ? AND seq = 3').run(batchContentHashV1(first), 'gw-hash');
      expect(await a.ingestBatch({ ...first, seq: 3, historical: true })).toEqual({ stored: false, readings: 0 });
      expect(await a.ingestBatch({ ...other, seq: 3 })).toEqual({ stored: false, readings: 0, conflict: true });
      expect(a.database.prepare('SELECT content_hash FROM batches WHERE gateway = ? AND seq = 1').pluck().get('gw-hash')).toBe(batchContentHash(first));
      await a.close();
      const b = SqliteStore.open({ path });
      try {
        expect(await b.ingestBatch(other)).toEqual({ stored: false, readings: 0, conflict: true });
        expect(await b.ingestBatch({ ...first, historical: true })).toEqual({ stored: false, readings: 0 });
        expect((await b.history('gw-hash', 'm', 'p', T0, T0)).map((s) => s.value)).toEqual([1, 1, 1]);
      } finally {
        await b.close();
      }
    } finally {
      dir.remove();
    }
  });

  it('finds every repeat whatever the order: below the highest stored seq, buffered or flushed, after a restart, and after a batch that failed to store', async () => {
    const dir = tempDir('swarmgate-hub-store-');
    const path = join(dir.path, 'hub.db');
    const at = (seq: number): ReturnType<typeof batch> => batch('gw-marks', BOOT, seq, [reading('m', 'p', seq, T0 + seq)]);
    const stored = { stored: true, readings: 1 };
    const repeat = { stored: false, readings: 0 };
    try {
      const a = SqliteStore.open({ path, flushMs: 600_000 });
      expect(await a.ingestBatch(at(5))).toEqual(stored);
      expect(await a.ingestBatch(at(5))).toEqual(repeat); // buffered
      a.flush();
      expect(await a.ingestBatch(at(5))).toEqual(repeat); // stored
      expect(await a.ingestBatch(at(3))).toEqual(stored); // a gap filled late: below the highest seq, new
      expect(await a.ingestBatch(at(3))).toEqual(repeat);
      expect(await a.ingestBatch(at(9))).toEqual(stored);
      await a.close();
      const b = SqliteStore.open({ path, flushMs: 600_000 });
      try {
        for (const seq of [3, 5, 9]) expect(await b.ingestBatch(at(seq))).toEqual(repeat);
        expect(await b.ingestBatch(at(4))).toEqual(stored);
        expect(await b.ingestBatch(at(10))).toEqual(stored);
        b.flush();
        for (const seq of [4, 10]) expect(await b.ingestBatch(at(seq))).toEqual(repeat);
        expect((await b.history('gw-marks', 'm', 'p', T0, T0 + 100)).map((s) => s.value)).toEqual([3, 4, 5, 9, 10]);
      } finally {
        await b.close();
      }
      // Written through (no journal: another process owns it) and refused by the database: the
      // batch was not stored, so sending it again stores it.
      const owner = SqliteStore.open({ path, flushMs: 600_000 });
      const c = SqliteStore.open({ path });
      try {
        c.database.exec("CREATE TRIGGER refuse BEFORE INSERT ON batches WHEN NEW.seq = 11 BEGIN SELECT RAISE(ABORT, 'refused'); END");
        await expect(c.ingestBatch(at(11))).rejects.toThrow(/refused/);
        c.database.exec('DROP TRIGGER refuse');
        expect(await c.ingestBatch(at(11))).toEqual(stored);
        expect(await c.ingestBatch(at(11))).toEqual(repeat);
        // What the other process stored is a repeat for the journal's owner too, even after the
        // owner saw later batches of that boot (a resend after a reconnect).
        expect(await owner.ingestBatch(at(12))).toEqual(stored);
        owner.flush();
        expect(await c.ingestBatch(at(13))).toEqual(stored);
        expect(await owner.ingestBatch(at(13))).toEqual(repeat);
        expect((await owner.history('gw-marks', 'm', 'p', T0 + 11, T0 + 13)).map((x) => x.value)).toEqual([11, 12, 13]);
      } finally {
        await c.close();
        await owner.close();
      }
    } finally {
      dir.remove();
    }
  });

  it('keeps every acknowledged batch when the process is killed before a flush (journal replay)', async () => {
    const dir = tempDir('swarmgate-hub-store-');
    const path = join(dir.path, 'hub.db');
    try {
      const child = await runWriter(path, 50);
      expect(child.stdout).toContain('acked 50');
      expect(child.signal).toBe('SIGKILL');
      // The kill left the journal and its lock behind; the database has no chunks yet.
      expect(readdirSync(`${path}.ingest`)).toContain('LOCK');
      const store = SqliteStore.open({ path });
      try {
        expect(chunkCount(store)).toBeGreaterThan(0);
        const samples = await store.history('gw-crash', 'meter', 'p3', 0, Number.MAX_SAFE_INTEGER);
        expect(samples.map((s) => s.value)).toEqual(Array.from({ length: 50 }, (_, seq) => seq * 10 + 3));
        // Replayed batches are known with their content: the gateway's redelivery of one is a
        // duplicate, other readings under its key a conflict.
        const seq7 = Array.from({ length: 10 }, (_, i) => reading('meter', `p${i}`, 70 + i, 1_700_000_000_000 + 7000));
        const again = batch('gw-crash', '0b1c2d3e-0000-4000-8000-000000000001', 7, seq7, true);
        expect(await store.ingestBatch(again)).toEqual({ stored: false, readings: 0 });
        expect(await store.ingestBatch({ ...again, readings: [reading('meter', 'p0', 1, 1)] })).toEqual({ stored: false, readings: 0, conflict: true });
      } finally {
        await store.close();
      }
      // Materialised segments are gone; a clean close leaves no segment and no lock.
      expect(readdirSync(`${path}.ingest`)).toEqual([]);
    } finally {
      dir.remove();
    }
  });

  it('replays a kill that follows clean restarts (new segments never fall at or below the materialised mark)', async () => {
    const dir = tempDir('swarmgate-hub-store-');
    const path = join(dir.path, 'hub.db');
    try {
      await runWriter(path, 5, 0);
      // Two clean open/close cycles: the first replays and materialises, leaving no segment files.
      for (let i = 0; i < 2; i++) await SqliteStore.open({ path }).close();
      await runWriter(path, 5, 5);
      const store = SqliteStore.open({ path });
      try {
        const samples = await store.history('gw-crash', 'meter', 'p1', 0, Number.MAX_SAFE_INTEGER);
        expect(samples.map((s) => s.value)).toEqual(Array.from({ length: 10 }, (_, seq) => seq * 10 + 1));
      } finally {
        await store.close();
      }
    } finally {
      dir.remove();
    }
  });

  it('replays a backlog of several journal segments one by one, advancing the mark past each', async () => {
    const dir = tempDir('swarmgate-hub-store-');
    const path = join(dir.path, 'hub.db');
    try {
      // Three segments of unflushed batches, as a hub whose database was failing leaves them.
      const journal = IngestJournal.acquire(`${path}.ingest`)!;
      for (let seq = 0; seq < 9; seq++) {
        journal.append(T0, Buffer.from(JSON.stringify(batch('gw-backlog', BOOT, seq, [reading('d', 'p', seq, T0 + seq * 1000)]))));
        if (seq % 3 === 2) journal.rotate();
      }
      journal.close();
      expect(readdirSync(`${path}.ingest`).filter((f) => f.endsWith('.log'))).toHaveLength(3);
      const store = SqliteStore.open({ path });
      try {
        expect((await store.history('gw-backlog', 'd', 'p', T0, T0 + 60_000)).map((x) => x.value)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
        expect(store.database.prepare("SELECT value FROM store_meta WHERE key = 'journal_flushed'").pluck().get()).toBe('3');
        // One transaction per segment: three flushes wrote three chunks for the one point.
        expect(chunkCount(store)).toBe(3);
      } finally {
        await store.close();
      }
      expect(readdirSync(`${path}.ingest`)).toEqual([]);
    } finally {
      dir.remove();
    }
  });

  it('cuts a torn record off the end of a segment and keeps the records before it', async () => {
    const dir = tempDir('swarmgate-hub-store-');
    const path = join(dir.path, 'hub.db');
    try {
      await runWriter(path, 5);
      const segments = readdirSync(`${path}.ingest`).filter((f) => f.endsWith('.log') && statSync(join(`${path}.ingest`, f)).size > 0);
      expect(segments).toHaveLength(1);
      // A write cut short: a header announcing more bytes than follow.
      appendFileSync(join(`${path}.ingest`, segments[0]!), Buffer.from([0xff, 0x00, 0x00, 0x00, 1, 2, 3, 4, 5]));
      const store = SqliteStore.open({ path });
      try {
        expect(await store.history('gw-crash', 'meter', 'p0', 0, Number.MAX_SAFE_INTEGER)).toHaveLength(5);
      } finally {
        await store.close();
      }
    } finally {
      dir.remove();
    }
  });

  it('a second process on the same file writes through instead of sharing the journal', async () => {
    const dir = tempDir('swarmgate-hub-store-');
    const path = join(dir.path, 'hub.db');
    const a = SqliteStore.open({ path, flushMs: 600_000 });
    try {
      await a.ingestBatch(batch('gw-a', BOOT, 1, [reading('d', 'p', 1, T0)]));
      const b = SqliteStore.open({ path });
      try {
        await b.ingestBatch(batch('gw-b', BOOT, 1, [reading('d', 'p', 2, T0)]));
        // b's batch is in the database at once; a's stays buffered in a until a flushes.
        expect(await a.history('gw-b', 'd', 'p', T0, T0)).toEqual([{ ts: T0, value: 2, quality: 'good' }]);
        expect(await b.history('gw-a', 'd', 'p', T0, T0)).toEqual([]);
        a.flush();
        expect(await b.history('gw-a', 'd', 'p', T0, T0)).toEqual([{ ts: T0, value: 1, quality: 'good' }]);
      } finally {
        await b.close();
      }
    } finally {
      await a.close();
      dir.remove();
    }
  });

  it('converts a version-1 database (one row per reading) into chunks without losing a reading', async () => {
    const dir = tempDir('swarmgate-hub-store-');
    const path = join(dir.path, 'hub.db');
    try {
      const v1 = new Database(path);
      v1.exec(SQLITE_MIGRATIONS[0]!.sql);
      v1.exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL); INSERT INTO schema_migrations VALUES (1, 'core', 0)");
      const insert = v1.prepare('INSERT INTO readings (gateway, device, point, ts, num, str, vtype, quality, cause) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
      insert.run('gw', 'd', 'p', T0 + 2000, 2, null, 'n', 'good', null);
      insert.run('gw', 'd', 'p', T0 + 1000, 1, null, 'n', 'good', null);
      insert.run('gw', 'd', 'p', T0 + 2000, 3, null, 'n', 'uncertain', null);
      insert.run('gw', 'd', 's', T0, null, 'auto', 's', 'good', null);
      insert.run('gw', 'd', 'x', T0, null, null, 'z', 'bad', 'timeout');
      v1.close();
      const store = SqliteStore.open({ path });
      try {
        expect(await store.schemaVersion()).toBeGreaterThanOrEqual(2);
        expect(await store.history('gw', 'd', 'p', T0, T0 + 5000)).toEqual([
          { ts: T0 + 1000, value: 1, quality: 'good' },
          { ts: T0 + 2000, value: 2, quality: 'good' },
          { ts: T0 + 2000, value: 3, quality: 'uncertain' },
        ]);
        expect(await store.history('gw', 'd', 's', T0, T0)).toEqual([{ ts: T0, value: 'auto', quality: 'good' }]);
        expect(await store.history('gw', 'd', 'x', T0, T0)).toEqual([{ ts: T0, value: null, quality: 'bad', cause: 'timeout' }]);
        expect(store.database.prepare("SELECT COUNT(*) FROM sqlite_master WHERE name = 'readings'").pluck().get()).toBe(0);
      } finally {
        await store.close();
      }
    } finally {
      dir.remove();
    }
  });

  it('compacts runs of small chunks without changing what history returns', async () => {
    const dir = tempDir('swarmgate-hub-store-');
    const store = SqliteStore.open({ path: join(dir.path, 'hub.db'), journal: false });
    try {
      // 60 write-through batches of one reading each: 60 one-sample chunks, equal ts included.
      for (let seq = 0; seq < 60; seq++) await store.ingestBatch(batch('gw', BOOT, seq, [reading('d', 'p', seq, T0 + Math.floor(seq / 2) * 1000)]));
      const before = await store.history('gw', 'd', 'p', T0, T0 + 60_000);
      const buckets = await store.history('gw', 'd', 'p', T0, T0 + 60_000, 10_000);
      expect(chunkCount(store)).toBe(60);
      const retention = await store.retention(T0 + 60_000, { rawDays: 3650, rollups: [] });
      expect(retention.rawDeleted).toBe(0);
      expect(chunkCount(store)).toBe(60); // too young to compact
      store.flush();
      const removed = store.compact(Date.now() + 11 * 60_000);
      expect(removed).toBe(59);
      expect(chunkCount(store)).toBe(1);
      expect(await store.history('gw', 'd', 'p', T0, T0 + 60_000)).toEqual(before);
      expect(await store.history('gw', 'd', 'p', T0, T0 + 60_000, 10_000)).toEqual(buckets);
    } finally {
      await store.close();
      dir.remove();
    }
  });
});
