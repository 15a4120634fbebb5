/**
 * PostgreSQL with an ingest journal: a read that runs while a flush commits counts the flushed
 * readings once (not twice: stored and still buffered; not never: committed after the SELECT and
 * dropped from the buffer before it is looked at). The SQLite store reads and flushes synchronously,
 * so it has no such window.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterEach, expect, it } from 'vitest';
import { PostgresStore } from '../../../hub/store/postgres/postgres.js';
import { peerOrSkip, tcpPeer } from '../../support/peers.js';
import { tempDir } from '../../support/tmp.js';
import { batch, reading } from '../helpers.js';

const PG_URL = process.env.SWARMGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const available = peerOrSkip(await tcpPeer('127.0.0.1', 5432, 'postgresql'));
const T0 = Date.UTC(2026, 0, 1);
const N = 500;

/** The store's insides this test steps in between. */
interface Insides {
  readonly pool: pg.Pool;
  readonly writer: { write: (...args: unknown[]) => Promise<unknown> };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function journaledStore(): Promise<{ store: PostgresStore; insides: Insides }> {
  const dir = tempDir('swg-pg-flush-reads-');
  // No timer flush during the test: flushes happen when the test says.
  const store = await PostgresStore.open({ url: PG_URL, schema: `swg_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`, journalDir: dir.path, flushMs: 3_600_000 });
  cleanups.push(async () => {
    await store.dropSchema();
    await store.close();
    dir.remove();
  });
  // Stored once, so the point has its series id; the test's readings then wait in the buffer.
  await store.ingestBatch(batch('gw', 'boot-0001', 1, Array.from({ length: N }, (_, i) => reading('d', 'p', i, T0 + i))));
  await store.flush();
  await store.ingestBatch(batch('gw', 'boot-0001', 2, Array.from({ length: N }, (_, i) => reading('d', 'p', i, T0 + N + i))));
  return { store, insides: store as unknown as Insides };
}

const sum = (buckets: { count: number }[]): number => buckets.reduce((s, b) => s + b.count, 0);

it.skipIf(!available)('a flush committing after the read\'s SELECT: its readings are not missed', async () => {
  const { store, insides } = await journaledStore();
  const query = insides.pool.query.bind(insides.pool) as (...args: unknown[]) => Promise<unknown>;
  let hold = false;
  let held = 0;
  // While `hold`: the next chunk SELECT finishes, then waits for a whole flush before it answers.
  (insides.pool as unknown as { query: (...args: unknown[]) => Promise<unknown> }).query = async (...args: unknown[]) => {
    const text = typeof args[0] === 'string' ? args[0] : '';
    const result = await query(...args);
    if (hold && text.startsWith('SELECT * FROM chunks')) {
      hold = false;
      held++;
      await store.flush();
    }
    return result;
  };
  hold = true;
  expect(await store.history('gw', 'd', 'p', 0, T0 + 86_400_000)).toHaveLength(2 * N);
  await store.ingestBatch(batch('gw', 'boot-0001', 3, Array.from({ length: N }, (_, i) => reading('d', 'p', i, T0 + 2 * N + i))));
  hold = true;
  expect(sum(await store.history('gw', 'd', 'p', 0, T0 + 86_400_000, 3_600_000))).toBe(3 * N);
  expect(held).toBe(2);
});

it.skipIf(!available)('a flush committed and not yet done when the read looks at the buffer: its readings are not counted twice', async () => {
  const { store, insides } = await journaledStore();
  const write = insides.writer.write.bind(insides.writer);
  let committed!: () => void;
  const isCommitted = new Promise<void>((resolve) => (committed = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  cleanups.push(async () => release());
  // The flush's transaction commits; then the flush waits before it drops its generation from the buffer.
  insides.writer.write = async (...args: unknown[]) => {
    const outcome = await write(...args);
    committed();
    await released;
    return outcome;
  };
  const flushing = store.flush();
  await isCommitted;
  const raw = store.history('gw', 'd', 'p', 0, T0 + 86_400_000);
  const buckets = store.history('gw', 'd', 'p', 0, T0 + 86_400_000, 3_600_000);
  // Released once the reads answered (they did so from a half-done flush) or, when they wait for the flush, after a while.
  void Promise.race([Promise.allSettled([raw, buckets]), new Promise((r) => setTimeout(r, 300))]).finally(release);
  expect(await raw).toHaveLength(2 * N);
  expect(sum(await buckets)).toBe(2 * N);
  await flushing;
  expect(await store.history('gw', 'd', 'p', 0, T0 + 86_400_000)).toHaveLength(2 * N);
});
