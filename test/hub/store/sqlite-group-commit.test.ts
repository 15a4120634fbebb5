/**
 * The SQLite store's ingest group commit (SqliteSeries.ingestGrouped), with fsync: batches of
 * several gateways arriving in one turn of the event loop go to the journal in one write, each resolving
 * only after it; a copy arriving in the same group is a duplicate; one gateway alone is written at
 * once. What resolved is in the journal: a copy of the journal taken while the store is still open
 * replays every batch.
 */
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../../hub/store/sqlite/sqlite.js';
import { tempDir } from '../../support/tmp.js';
import { batch, reading } from '../helpers.js';

const T0 = Date.now() - 60_000;
const BOOT = '0b1c2d3e-0000-4000-8000-00000000abcd';
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('SQLite ingest group commit', () => {
  it('writes several gateways arriving together in one journal write, dedupes within the group, and every resolved batch is journaled', async () => {
    const dir = tempDir('swarmgate-group-');
    const copy = tempDir('swarmgate-group-copy-');
    const path = join(dir.path, 'hub.db');
    const store = SqliteStore.open({ path, flushMs: 600_000, fsync: true });
    try {
      const b = (g: string, seq: number, v = seq) => batch(g, BOOT, seq, [reading('m', 'p', v, T0 + seq)]);
      // One gateway at a time: written at once, no group.
      for (let seq = 0; seq < 3; seq++) expect(await store.ingestBatch(b('gw-solo', seq))).toEqual({ stored: true, readings: 1 });
      await turn();
      expect(store.telemetryStats().journalGroupWrites).toBe(0);

      // Several gateways in one turn: from then on, batches arriving together share one write.
      const gateways = Array.from({ length: 8 }, (_, i) => `gw-${i}`);
      await Promise.all(gateways.map((g) => store.ingestBatch(b(g, 0))));
      await turn();
      const before = store.telemetryStats().journalGroupWrites ?? 0;
      const order: string[] = [];
      const results = await Promise.all([
        ...gateways.map((g) => store.ingestBatch(b(g, 1)).then((r) => (order.push(g), r))),
        // The same key again in the same group: a duplicate; other readings under it: a conflict.
        store.ingestBatch({ ...b('gw-3', 1), historical: true }),
        store.ingestBatch(b('gw-4', 1, 99)),
        // Already stored before: a duplicate.
        store.ingestBatch(b('gw-5', 0)),
      ]);
      expect(results.slice(0, 8)).toEqual(gateways.map(() => ({ stored: true, readings: 1 })));
      expect(results.slice(8)).toEqual([{ stored: false, readings: 0 }, { stored: false, readings: 0, conflict: true }, { stored: false, readings: 0 }]);
      expect(order).toEqual(gateways);
      expect((store.telemetryStats().journalGroupWrites ?? 0) - before).toBe(1);

      // Resolved means journaled: a copy of the journal now, with nothing flushed, holds them all.
      expect(store.database.prepare('SELECT COUNT(*) FROM batches').pluck().get()).toBe(0);
      cpSync(`${path}.ingest`, join(copy.path, 'hub.db.ingest'), { recursive: true, filter: (src) => !src.endsWith('LOCK') });
      cpSync(path, join(copy.path, 'hub.db'));
      const replayed = SqliteStore.open({ path: join(copy.path, 'hub.db') });
      try {
        expect(replayed.database.prepare('SELECT COUNT(*) FROM batches').pluck().get()).toBe(3 + 8 * 2);
        for (const g of gateways) expect((await replayed.history(g, 'm', 'p', 0, Number.MAX_SAFE_INTEGER)).map((s) => s.value)).toEqual([0, 1]);
      } finally {
        await replayed.close();
      }
    } finally {
      await store.close();
      dir.remove();
      copy.remove();
    }
  });

  it('writes every batch at once without fsync (a page-cache append costs less than the wait)', async () => {
    const dir = tempDir('swarmgate-group-');
    const store = SqliteStore.open({ path: join(dir.path, 'hub.db'), flushMs: 600_000 });
    try {
      for (let seq = 0; seq < 3; seq++) {
        await Promise.all(['a', 'b', 'c'].map((g) => store.ingestBatch(batch(`gw-${g}`, BOOT, seq, [reading('m', 'p', seq, T0 + seq)]))));
        await turn();
      }
      expect(store.telemetryStats().journalGroupWrites).toBe(0);
      expect(store.telemetryStats().buffered).toBe(9);
    } finally {
      await store.close();
      dir.remove();
    }
  });

  it('writes a group that is still waiting when the store closes', async () => {
    const dir = tempDir('swarmgate-group-');
    const path = join(dir.path, 'hub.db');
    try {
      const store = SqliteStore.open({ path, flushMs: 600_000, fsync: true });
      await Promise.all(['a', 'b', 'c'].map((g) => store.ingestBatch(batch(`gw-${g}`, BOOT, 0, [reading('m', 'p', 0, T0)]))));
      await turn();
      const waiting = ['a', 'b', 'c'].map((g) => store.ingestBatch(batch(`gw-${g}`, BOOT, 1, [reading('m', 'p', 1, T0 + 1)])));
      await store.close();
      expect(await Promise.all(waiting)).toEqual([1, 2, 3].map(() => ({ stored: true, readings: 1 })));
      const again = SqliteStore.open({ path, journal: false });
      try {
        expect(again.database.prepare('SELECT COUNT(*) FROM batches').pluck().get()).toBe(6);
      } finally {
        await again.close();
      }
    } finally {
      dir.remove();
    }
  });
});
