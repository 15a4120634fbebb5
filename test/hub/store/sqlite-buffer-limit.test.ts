/**
 * The SQLite store while its group commits fail (review M1): the telemetry buffer is bounded like
 * PostgreSQL's (hub/store/buffer-limit.ts), refusing further batches with the transient
 * SWG_ERR_HUB_STORE_BUSY, and a flush that finds the write lock held by another process fails at
 * once instead of blocking the event loop for the whole busy_timeout.
 */
import Database from 'better-sqlite3';
import { afterEach, expect, it } from 'vitest';
import { classifyStoreError } from '../../../hub/ingest/store-errors.js';
import { MAX_BUFFERED_READINGS } from '../../../hub/store/buffer-limit.js';
import { FLUSH_BUSY_TIMEOUT_MS } from '../../../hub/store/sqlite/series/series.js';
import { SqliteStore } from '../../../hub/store/sqlite/sqlite.js';
import type { TelemetryBatch } from '../../../shared/wire/messages.js';
import { tempDir } from '../../support/tmp.js';
import { batch, reading } from '../helpers.js';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function open(maxBufferedReadings?: number): { store: SqliteStore; path: string } {
  const dir = tempDir('swg-sqlite-buffer-');
  const path = `${dir.path}/hub.db`;
  // A long interval: the test flushes itself.
  const store = SqliteStore.open({ path, flushMs: 60_000, ...(maxBufferedReadings === undefined ? {} : { maxBufferedReadings }) });
  cleanups.push(() => dir.remove());
  cleanups.push(() => store.close());
  return { store, path };
}

const T0 = Date.now() - 3_600_000;
const big = (seq: number): TelemetryBatch => batch('gw-a', 'boot-0001', seq, Array.from({ length: 10_000 }, (_, i) => reading('dev', `p${i % 50}`, i, T0 + seq * 10_000 + i)));

it('while flushes fail the buffer stops at its limit: further batches are refused with SWG_ERR_HUB_STORE_BUSY (an outage), and taken again once writes work', async () => {
  const { store, path } = open(30_000);
  const side = new Database(path);
  cleanups.push(() => {
    side.close();
  });
  side.exec("CREATE TRIGGER fail_writes BEFORE INSERT ON batches BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END");
  let accepted = 0;
  const refusals: unknown[] = [];
  for (let seq = 0; seq < 8; seq++) {
    try {
      if ((await store.ingestBatch(big(seq))).stored) accepted += 10_000;
    } catch (err) {
      refusals.push(err);
    }
    store.flush(); // fails: the readings stay buffered and journaled
  }
  expect(store.telemetryStats()).toMatchObject({ buffered: 30_000, flushFailures: 8 });
  expect(accepted).toBe(30_000);
  expect(refusals).toHaveLength(5);
  expect(refusals[0]).toMatchObject({ code: 'SWG_ERR_HUB_STORE_BUSY', status: 503, details: { buffered: 30_000, limit: 30_000 } });
  expect(classifyStoreError(refusals[0])).toBe('outage');
  // A repeat of a buffered batch is still answered (nothing is buffered for it).
  expect(await store.ingestBatch(big(0))).toEqual({ stored: false, readings: 0 });

  side.exec('DROP TRIGGER fail_writes');
  store.flush();
  expect(store.telemetryStats()).toMatchObject({ buffered: 0, flushFailures: 0 });
  // What was refused comes again (the broker's redelivery, the gateway's resend) and is taken.
  expect(await store.ingestBatch(big(3))).toEqual({ stored: true, readings: 10_000 });
  store.flush();
  expect(await store.history('gw-a', 'dev', 'p0', T0, T0 + 10 * 10_000)).toHaveLength(4 * 200);
});

it('the default limit is the one PostgreSQL uses', () => {
  expect(MAX_BUFFERED_READINGS).toBe(2_000_000);
  expect(() => SqliteStore.open({ path: ':memory:', maxBufferedReadings: 0 })).toThrow(/maxBufferedReadings must be a positive integer/);
});

it('a flush that finds the write lock held elsewhere fails at once (the event loop is not held for the busy_timeout) and succeeds later', async () => {
  const { store, path } = open();
  expect((await store.ingestBatch(batch('gw-a', 'boot-0001', 1, [reading('ahu1', 'temp', 21, T0)]))).stored).toBe(true);
  const side = new Database(path);
  cleanups.push(() => {
    side.close();
  });
  side.exec('BEGIN IMMEDIATE'); // another process holds the write lock
  const started = performance.now();
  store.flush();
  const blockedMs = performance.now() - started;
  expect(store.telemetryStats()).toMatchObject({ buffered: 1, flushFailures: 1 });
  // The store's busy_timeout is 5000 ms; a flush waits FLUSH_BUSY_TIMEOUT_MS only.
  expect(blockedMs).toBeLessThan(FLUSH_BUSY_TIMEOUT_MS + 1000);
  side.exec('COMMIT');
  store.flush();
  expect(store.telemetryStats()).toMatchObject({ buffered: 0, flushFailures: 0 });
  expect((await store.history('gw-a', 'ahu1', 'temp', T0, T0)).map((s) => s.value)).toEqual([21]);
});
