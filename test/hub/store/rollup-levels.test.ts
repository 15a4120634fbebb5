/**
 * History buckets across rollup levels, on both stores: a level added to or removed from the
 * retention policy hides no stored history (each bucket from the level holding it whole), a level
 * removed keeps its rows readable until they age out like the longest kept history (taking it out of
 * the config deletes nothing at once), and buckets are whole at the query's edges, so a query answers
 * the same before and after retention rolled its readings up.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PostgresStore } from '../../../hub/store/postgres/postgres.js';
import { SqliteStore } from '../../../hub/store/sqlite/sqlite.js';
import type { HubStore, RetentionPolicy } from '../../../hub/store/types.js';
import { peerOrSkip, tcpPeer } from '../../support/peers.js';
import { tempDir } from '../../support/tmp.js';
import { batch, reading } from '../helpers.js';
import { capturedLogger } from './contract.js';

const PG_URL = process.env.SWARMGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const pgAvailable = peerOrSkip(await tcpPeer('127.0.0.1', 5432, 'postgresql'));
const DAY = 86_400_000;
const HOUR = 3_600_000;
const MIN = 60_000;

interface Opened {
  readonly store: HubStore;
  readonly warnings: Record<string, unknown>[];
  close(): Promise<void>;
}

const BACKENDS: { name: string; enabled: boolean; open(): Promise<Opened> }[] = [
  {
    name: 'SQLite',
    enabled: true,
    open: async () => {
      const dir = tempDir('swg-rollup-levels-');
      const { logger, lines } = capturedLogger();
      const store = SqliteStore.open({ path: `${dir.path}/hub.db`, logger });
      return { store, warnings: lines, close: async () => { await store.close(); dir.remove(); } };
    },
  },
  {
    name: 'PostgreSQL',
    enabled: pgAvailable,
    open: async () => {
      const { logger, lines } = capturedLogger();
      const store = await PostgresStore.open({ url: PG_URL, schema: `swg_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`, logger });
      return { store, warnings: lines, close: async () => { await store.dropSchema(); await store.close(); } };
    },
  },
];

/** One reading an hour over [from, to), value = hours since from (every bucket holds distinct values). */
async function hourly(store: HubStore, seq: number, from: number, to: number): Promise<void> {
  const readings = [];
  for (let ts = from, i = 0; ts < to; ts += HOUR, i++) readings.push(reading('ahu', 't', i % 97, ts));
  await store.ingestBatch(batch('gw', 'boot-0001', seq, readings, true));
}

const count = (buckets: { count: number }[]): number => buckets.reduce((s, b) => s + b.count, 0);

for (const backend of BACKENDS) {
  describe.skipIf(!backend.enabled)(`rollup levels (${backend.name})`, () => {
    it('a level added to the policy hides no history: daily and hourly buckets stay as the raw data gave them', async () => {
      const { store, close } = await backend.open();
      try {
        const now = Date.UTC(2026, 0, 1, 12); // retention cutoffs fall at noon: the new level's first day is partial
        const A: RetentionPolicy = { rawDays: 2, rollups: [{ bucketS: 300, keepDays: 10 }, { bucketS: 3600, keepDays: 100 }] };
        const B: RetentionPolicy = { rawDays: 2, rollups: [...A.rollups, { bucketS: 86_400, keepDays: 1000 }] };
        await hourly(store, 1, now - 30 * DAY, now - DAY);
        const range = [now - 60 * DAY, now] as const;
        const daily = await store.history('gw', 'ahu', 't', ...range, DAY);
        const hours = await store.history('gw', 'ahu', 't', ...range, HOUR);
        expect(count(daily)).toBe(29 * 24);

        await store.retention(now, A);
        expect(await store.history('gw', 'ahu', 't', ...range, DAY)).toEqual(daily);
        // The operator adds "keep daily averages 1000 days": nothing was rolled into it yet.
        await store.retention(now, B);
        expect(await store.history('gw', 'ahu', 't', ...range, DAY)).toEqual(daily);
        // A day later: the daily level holds the second half of one day and the first half of the next.
        await store.retention(now + DAY, B);
        expect(await store.history('gw', 'ahu', 't', ...range, DAY)).toEqual(daily);
        expect(await store.history('gw', 'ahu', 't', ...range, HOUR)).toEqual(hours);
        // Later the 5-minute level has aged out of the older days: the hourly level serves them.
        await store.retention(now + 5 * DAY, B);
        expect(await store.history('gw', 'ahu', 't', ...range, DAY)).toEqual(daily);
        expect(await store.history('gw', 'ahu', 't', ...range, HOUR)).toEqual(hours);
      } finally {
        await close();
      }
    });

    it('a level removed from the policy keeps its history readable (logged) until it ages out like the longest kept level', async () => {
      const { store, warnings, close } = await backend.open();
      try {
        const now = Date.UTC(2026, 0, 1);
        const A: RetentionPolicy = { rawDays: 30, rollups: [{ bucketS: 300, keepDays: 365 }, { bucketS: 3600, keepDays: 1825 }] };
        const B: RetentionPolicy = { rawDays: 30, rollups: [{ bucketS: 300, keepDays: 365 }, { bucketS: 900, keepDays: 1825 }] };
        await hourly(store, 1, now - 100 * DAY, now - 99 * DAY);
        await hourly(store, 2, now - 60 * DAY, now - 59 * DAY);
        const range = [now - 120 * DAY, now] as const;
        const hours = await store.history('gw', 'ahu', 't', ...range, HOUR);
        expect(hours).toHaveLength(48);
        await store.retention(now - 35 * DAY, A); // rolls day 100 into 300 and 3600
        const kept = await store.retention(now, B); // 3600 removed; day 60 rolled into 300 and 900
        expect(kept.rollupRowsDeleted).toBe(0);
        expect(warnings).toContainEqual(expect.objectContaining({ bucketS: 3600, keepDays: 1825, msg: expect.stringContaining('no longer in the retention policy') }));
        expect(await store.history('gw', 'ahu', 't', ...range, HOUR)).toEqual(hours);
        // A year on, the 5-minute level has aged out: day 100 is still there, from the removed hourly level.
        await store.retention(now + 400 * DAY, B);
        expect(await store.history('gw', 'ahu', 't', ...range, HOUR)).toEqual(hours);
        // Ten years on, every level kept has aged everything out: nothing of the removed level remains.
        await store.retention(now + 3650 * DAY, B);
        expect(await store.history('gw', 'ahu', 't', 0, now + 3650 * DAY, HOUR)).toEqual([]);
      } finally {
        await close();
      }
    });

    it('buckets are whole at the edges of [from, to]: the same counts from raw data and from rollups', async () => {
      const { store, close } = await backend.open();
      try {
        const t0 = Date.UTC(2026, 0, 1, 6);
        // One reading a minute, 06:00 to 14:59; the query is 06:30 to 14:30.
        await store.ingestBatch(batch('gw', 'boot-0001', 1, Array.from({ length: 9 * 60 }, (_, i) => reading('m', 'kw', 1, t0 + i * MIN)), true));
        const from = t0 + 30 * MIN;
        const to = t0 + 8 * HOUR + 30 * MIN;
        const raw = await store.history('gw', 'm', 'kw', from, to, HOUR);
        expect(raw[0]!.start).toBe(t0);
        expect(raw.map((b) => b.count)).toEqual(Array(9).fill(60));
        await store.retention(t0 + 31 * DAY);
        expect(await store.history('gw', 'm', 'kw', from, to, HOUR)).toEqual(raw);
      } finally {
        await close();
      }
    });
  });
}
