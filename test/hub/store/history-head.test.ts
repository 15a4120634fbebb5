/**
 * historyHead on both stores: the oldest `limit` raw samples in history()'s order (ts, then arrival),
 * from chunks that overlap in time (late historical batches), samples sharing a millisecond across
 * chunks, and readings still buffered; `next` where the rest starts, never splitting a millisecond.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PostgresStore } from '../../../hub/store/postgres/postgres.js';
import { SqliteStore } from '../../../hub/store/sqlite/sqlite.js';
import type { HubStore } from '../../../hub/store/types.js';
import { peerOrSkip, tcpPeer } from '../../support/peers.js';
import { tempDir } from '../../support/tmp.js';
import { batch, reading } from '../helpers.js';

const PG_URL = process.env.SWARMGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const pgAvailable = peerOrSkip(await tcpPeer('127.0.0.1', 5432, 'postgresql'));
const T0 = Date.UTC(2026, 0, 1);

const BACKENDS: { name: string; enabled: boolean; open(): Promise<{ store: HubStore & { flush(): unknown }; close(): Promise<void> }> }[] = [
  {
    name: 'SQLite',
    enabled: true,
    open: async () => {
      const dir = tempDir('swg-history-head-');
      const store = SqliteStore.open({ path: `${dir.path}/hub.db`, flushMs: 3_600_000 });
      return { store, close: async () => { await store.close(); dir.remove(); } };
    },
  },
  {
    name: 'PostgreSQL, journaled',
    enabled: pgAvailable,
    open: async () => {
      const dir = tempDir('swg-history-head-');
      const store = await PostgresStore.open({ url: PG_URL, schema: `swg_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`, journalDir: dir.path, flushMs: 3_600_000 });
      return { store, close: async () => { await store.dropSchema(); await store.close(); dir.remove(); } };
    },
  },
];

for (const backend of BACKENDS) {
  describe.skipIf(!backend.enabled)(`historyHead (${backend.name})`, () => {
    it('gives the oldest samples in history() order and where the rest starts', async () => {
      const { store, close } = await backend.open();
      try {
        // Live data every 10 ms over 2 s, stored as chunks; then a late historical batch over the same
        // time (odd ms, and some equal to live ones), stored; then more, still buffered.
        await store.ingestBatch(batch('gw', 'boot-0001', 1, Array.from({ length: 200 }, (_, i) => reading('d', 'p', i, T0 + i * 10))));
        await store.flush();
        await store.ingestBatch(batch('gw', 'boot-0001', 2, Array.from({ length: 300 }, (_, i) => reading('d', 'p', 1000 + i, T0 + 5 + i * 5)), true));
        await store.flush();
        await store.ingestBatch(batch('gw', 'boot-0001', 3, Array.from({ length: 100 }, (_, i) => reading('d', 'p', 2000 + i, T0 + i * 20)), true));
        const from = T0 + 3;
        const to = T0 + 1500;
        const all = await store.history('gw', 'd', 'p', from, to);
        for (const limit of [1, 7, 100, 333, all.length - 1, all.length, all.length + 5]) {
          const page = await store.historyHead('gw', 'd', 'p', from, to, limit);
          if (limit >= all.length) {
            expect(page).toEqual({ samples: all });
            continue;
          }
          const next = all[limit]!.ts;
          expect(page.next).toBe(next);
          expect(page.samples).toEqual(all.filter((s) => s.ts < next));
          expect(page.samples.length).toBeLessThanOrEqual(limit);
        }
        await expect(store.historyHead('gw', 'd', 'p', from, to, 0)).rejects.toThrow(/limit/);
        expect(await store.historyHead('gw', 'd', 'nope', from, to, 5)).toEqual({ samples: [] });
      } finally {
        await close();
      }
    });
  });
}
