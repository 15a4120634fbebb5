/**
 * Failure paths of the SQLite store's ingest journal: a crash is simulated by copying the store's
 * files (database, WAL, journal) while it is open and opening the copy, as the next process would.
 */
import fs, { cpSync, mkdirSync, readdirSync, rmdirSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../../hub/store/sqlite/sqlite.js';
import { tempDir } from '../../support/tmp.js';
import { batch, reading } from '../helpers.js';

const BOOT = '0b1c2d3e-0000-4000-8000-000000000003';
const T0 = Date.UTC(2024, 0, 1);
const quiet = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} } as never;

/** The files of an open store as a process killed now would leave them, in a new folder. */
function crashCopy(from: string, to: string): string {
  cpSync(from, to, { recursive: true });
  return join(to, 'hub.db');
}

const values = async (store: SqliteStore): Promise<unknown[]> => (await store.history('gw', 'd', 'p', 0, Number.MAX_SAFE_INTEGER)).map((s) => s.value);

describe('SqliteStore ingest journal failure paths', () => {
  it('an append that fails part-way (disk full) does not hide the batches acknowledged after it from recovery', async () => {
    const dir = tempDir('swarmgate-hub-store-');
    const copy = tempDir('swarmgate-hub-store-');
    const a = SqliteStore.open({ path: join(dir.path, 'hub.db'), flushMs: 600_000, logger: quiet });
    try {
      await a.ingestBatch(batch('gw', BOOT, 1, [reading('d', 'p', 1, T0 + 1)]));
      // ENOSPC after a short write: the kernel took the first bytes of the frame, then no more.
      const real = fs.writevSync;
      let calls = 0;
      fs.writevSync = ((fd: number, buffers: readonly NodeJS.ArrayBufferView[]) => {
        if (++calls === 1) return real(fd, [Buffer.concat(buffers.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength))).subarray(0, 20)]);
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      }) as typeof fs.writevSync;
      syncBuiltinESMExports();
      try {
        await expect(a.ingestBatch(batch('gw', BOOT, 2, [reading('d', 'p', 2, T0 + 2)]))).rejects.toThrow(/ENOSPC/);
      } finally {
        fs.writevSync = real;
        syncBuiltinESMExports();
      }
      expect(calls).toBe(2);
      // Space is back: this batch is acknowledged, so it must survive a crash.
      expect(await a.ingestBatch(batch('gw', BOOT, 3, [reading('d', 'p', 3, T0 + 3)]))).toEqual({ stored: true, readings: 1 });
      const b = SqliteStore.open({ path: crashCopy(dir.path, copy.path), logger: quiet });
      try {
        expect(await values(b)).toEqual([1, 3]);
      } finally {
        await b.close();
      }
    } finally {
      await a.close();
      dir.remove();
      copy.remove();
    }
  });

  it('a segment that cannot be created at a flush leaves the journal writable once the cause is gone', async () => {
    const dir = tempDir('swarmgate-hub-store-');
    const path = join(dir.path, 'hub.db');
    const journal = `${path}.ingest`;
    const a = SqliteStore.open({ path, flushMs: 600_000, logger: quiet });
    try {
      const current = readdirSync(journal).filter((f) => f.endsWith('.log'));
      expect(current).toHaveLength(1);
      // The next segment's name is taken (by a directory: opening it fails with EISDIR).
      const next = join(journal, `${String(Number.parseInt(current[0]!, 10) + 1).padStart(12, '0')}.log`);
      mkdirSync(next);
      await a.ingestBatch(batch('gw', BOOT, 1, [reading('d', 'p', 1, T0 + 1)]));
      a.flush();
      expect(a.telemetryStats().flushFailures).toBe(1);
      rmdirSync(next);
      expect(await a.ingestBatch(batch('gw', BOOT, 2, [reading('d', 'p', 2, T0 + 2)]))).toEqual({ stored: true, readings: 1 });
      a.flush();
      expect(a.telemetryStats()).toMatchObject({ flushFailures: 0, buffered: 0 });
      expect(await values(a)).toEqual([1, 2]);
    } finally {
      await a.close();
    }
    const b = SqliteStore.open({ path, logger: quiet });
    try {
      expect(await values(b)).toEqual([1, 2]);
    } finally {
      await b.close();
      dir.remove();
    }
  });

  it('one process opening the same store under another spelling of its path does not take the journal a second time', async () => {
    const dir = tempDir('swarmgate-hub-store-');
    const path = join(dir.path, 'hub.db');
    const a = SqliteStore.open({ path, flushMs: 600_000, logger: quiet });
    try {
      await a.ingestBatch(batch('gw', BOOT, 1, [reading('d', 'p', 1, T0 + 1)]));
      // The same file by a relative path: it must write through, not replay a's live journal.
      const b = SqliteStore.open({ path: relative(process.cwd(), path), logger: quiet });
      try {
        expect(b.telemetryStats().journalBytes).toBe(0);
        await b.ingestBatch(batch('gw', BOOT, 2, [reading('d', 'p', 2, T0 + 2)]));
      } finally {
        await b.close();
      }
      a.flush();
      expect(await values(a)).toEqual([1, 2]);
    } finally {
      await a.close();
    }
    const c = SqliteStore.open({ path, logger: quiet });
    try {
      expect(await values(c)).toEqual([1, 2]);
    } finally {
      await c.close();
      dir.remove();
    }
  });

  it('while the database fails, ingests past the early-flush threshold leave the retries to the timer', async () => {
    const dir = tempDir('swarmgate-hub-store-');
    const path = join(dir.path, 'hub.db');
    const a = SqliteStore.open({ path, flushMs: 600_000, logger: quiet });
    try {
      // Fails each flush at its last statement, as a full disk or a lock held elsewhere would.
      a.database.exec("CREATE TRIGGER fail_flush BEFORE INSERT ON store_meta BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END");
      let seq = 0;
      // 200 000 readings: the buffer's early-flush threshold.
      for (let i = 0; i < 200; i++) await a.ingestBatch(batch('gw', BOOT, seq++, Array.from({ length: 1000 }, (_, k) => reading('d', `p${k % 50}`, k, T0 + i * 1000 + k))));
      expect(a.telemetryStats().flushFailures).toBe(1);
      // Each of these used to re-encode the whole buffer in a failing flush and start a new segment.
      for (let i = 0; i < 50; i++) await a.ingestBatch(batch('gw', BOOT, seq++, [reading('d', 'p', i, T0 + i)]));
      expect(a.telemetryStats().flushFailures).toBe(1);
      expect(readdirSync(`${path}.ingest`).filter((f) => f.endsWith('.log')).length).toBeLessThanOrEqual(2);
      a.database.exec('DROP TRIGGER fail_flush');
      a.flush();
      expect(a.telemetryStats()).toMatchObject({ flushFailures: 0, buffered: 0 });
      expect(await values(a)).toHaveLength(50);
    } finally {
      a.database.exec('DROP TRIGGER IF EXISTS fail_flush');
      await a.close();
      dir.remove();
    }
  });

  it('with fsync, the commit a flush deletes journal segments after is durable against power loss too', async () => {
    const dir = tempDir('swarmgate-hub-store-');
    const a = SqliteStore.open({ path: join(dir.path, 'hub.db'), fsync: true, logger: quiet });
    try {
      // WAL with synchronous = NORMAL (1) may roll the last commits back after a power loss, when
      // the segments holding those batches are already gone; FULL (2) syncs the WAL at each commit.
      expect(a.database.pragma('synchronous', { simple: true })).toBe(2);
    } finally {
      await a.close();
      dir.remove();
    }
  });

  it('an open that fails to start its journal segment leaves the lock free for the next open', async () => {
    const dir = tempDir('swarmgate-hub-store-');
    const copy = tempDir('swarmgate-hub-store-');
    const a = SqliteStore.open({ path: join(dir.path, 'hub.db'), flushMs: 600_000, logger: quiet });
    try {
      await a.ingestBatch(batch('gw', BOOT, 1, [reading('d', 'p', 1, T0 + 1)]));
      const path = crashCopy(dir.path, copy.path);
      // The new segment cannot be created this once (EMFILE, ENOSPC, ...): the open fails.
      const real = fs.openSync;
      fs.openSync = ((file: fs.PathLike, ...rest: unknown[]) => {
        if (String(file).endsWith('.log')) throw Object.assign(new Error('EMFILE: too many open files, open'), { code: 'EMFILE' });
        return (real as (...args: unknown[]) => number)(file, ...rest);
      }) as typeof fs.openSync;
      syncBuiltinESMExports();
      try {
        expect(() => SqliteStore.open({ path, logger: quiet })).toThrow(/EMFILE/);
      } finally {
        fs.openSync = real;
        syncBuiltinESMExports();
      }
      // Retried: it takes the journal and replays the acknowledged batch.
      const b = SqliteStore.open({ path, logger: quiet });
      try {
        expect(await values(b)).toEqual([1]);
      } finally {
        await b.close();
      }
    } finally {
      await a.close();
      dir.remove();
      copy.remove();
    }
  });
});
