/**
 * Telemetry readings/s stored by the PostgreSQL store against the SQLite store, in the same run and
 * through the same HubStore.ingestBatch: gateways' batches of 200 readings over 300 points each,
 * sent one at a time (one hub ingest connection) and 8 at a time (several), with everything
 * committed to the database at the end counted in (each store's flush). PostgreSQL is measured
 * journaled (as SQLite is) and written through. Then the time retention takes to roll up and
 * remove one day of raw data.
 * Needs PostgreSQL: SWARMGATE_BENCH_DATABASE_URL, else DATABASE_URL, else
 * postgres://postgres@127.0.0.1:5432/test (a throwaway schema per run, dropped after).
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { PostgresStore, SqliteStore, type HubStore } from '../hub/store/index.js';
import type { TelemetryBatch, WireReading } from '../shared/wire/messages.js';
import { tempDir } from '../test/support/tmp.js';
import { progress, ratioEntry, type BenchEntry } from './results.js';

const PG_URL = process.env.SWARMGATE_BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const DAY = 86_400_000;
const GATEWAYS = 20;
const POINTS_PER_GATEWAY = 300;
const READINGS_PER_BATCH = 200;
const BATCHES = 1500;
/** The retention day: points of one gateway, one reading every RETENTION_EVERY_MS each. */
const RETENTION_POINTS = 200;
const RETENTION_EVERY_MS = 30_000;
const BASE = Date.UTC(2026, 0, 5);

interface Opened {
  readonly store: HubStore;
  /** Commits what the store still holds in memory. */
  readonly flush: () => Promise<void>;
  readonly close: () => Promise<void>;
}

async function openSqlite(): Promise<Opened> {
  const dir = tempDir('swarmgate-bench-store-');
  const store = SqliteStore.open({ path: join(dir.path, 'hub.db') });
  return {
    store,
    flush: async () => store.flush(),
    close: async () => {
      await store.close();
      dir.remove();
    },
  };
}

/** Journaled (acknowledged once in this process's journal, written every 2 s), or written through (committed before each call resolves). */
async function openPostgres(journaled: boolean): Promise<Opened> {
  const dir = tempDir('swarmgate-bench-pg-');
  const store = await PostgresStore.open({ url: PG_URL, schema: `swg_bench_${randomUUID().replace(/-/g, '').slice(0, 12)}`, maxConnections: 10, ...(journaled ? { journalDir: dir.path } : {}) });
  return {
    store,
    flush: () => store.flush(),
    close: async () => {
      await store.dropSchema();
      await store.close();
      dir.remove();
    },
  };
}

/** Gateway g's batch number `seq`: READINGS_PER_BATCH readings over its points, 1 s apart per round. */
function gatewayBatch(g: number, seq: number): TelemetryBatch {
  const readings: WireReading[] = [];
  for (let i = 0; i < READINGS_PER_BATCH; i++) {
    const n = seq * READINGS_PER_BATCH + i;
    const point = n % POINTS_PER_GATEWAY;
    const round = Math.floor(n / POINTS_PER_GATEWAY);
    readings.push({ d: `dev${point % 10}`, p: `p${point}`, v: Math.round(20_000 + 500 * Math.sin(n / 37)) / 1000, q: 'good', ts: BASE + DAY + round * 1000 + point });
  }
  return { v: 1, gateway: `bench-gw-${g}`, bootId: 'boot-bench-0001', seq, sentAt: Date.now(), historical: false, readings };
}

/** BATCHES batches round-robin over GATEWAYS, `inFlight` ingestBatch calls at a time; readings/s including the final flush. */
async function ingestRate(opened: Opened, inFlight: number, seqBase: number): Promise<number> {
  const batches = Array.from({ length: BATCHES }, (_, i) => gatewayBatch(i % GATEWAYS, seqBase + Math.floor(i / GATEWAYS)));
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < batches.length) {
        const b = batches[next++]!;
        const r = await opened.store.ingestBatch(b, Date.now(), Buffer.from(JSON.stringify(b)));
        if (!r.stored) throw new Error(`batch ${b.gateway}/${b.seq} not stored`);
      }
    }),
  );
  await opened.flush();
  const s = (performance.now() - t0) / 1000;
  return Math.round((BATCHES * READINGS_PER_BATCH) / s);
}

/** Stores one day of RETENTION_POINTS points, then times the retention run that rolls it up and removes it. */
async function retentionMs(opened: Opened): Promise<{ ms: number; deleted: number }> {
  const perPoint = DAY / RETENTION_EVERY_MS;
  const total = RETENTION_POINTS * perPoint;
  let seq = 0;
  for (let start = 0; start < total; start += 480) {
    const readings: WireReading[] = [];
    for (let n = start; n < Math.min(total, start + 480); n++) {
      const point = n % RETENTION_POINTS;
      readings.push({ d: 'ret', p: `r${point}`, v: (n % 997) / 10, q: 'good', ts: BASE + Math.floor(n / RETENTION_POINTS) * RETENTION_EVERY_MS + point });
    }
    await opened.store.ingestBatch({ v: 1, gateway: 'bench-retention', bootId: 'boot-ret-0001', seq: seq++, sentAt: Date.now(), historical: true, readings });
  }
  await opened.flush();
  const t0 = performance.now();
  // rawDays 2 from BASE + 3 days: the retention day (BASE) is older than the cutoff, the ingest day (BASE + 1) is not.
  const result = await opened.store.retention(BASE + 3 * DAY, { rawDays: 2, rollups: [{ bucketS: 300, keepDays: 365 }, { bucketS: 3600, keepDays: 1825 }] });
  const ms = performance.now() - t0;
  if (result.rawDeleted < total) throw new Error(`retention removed ${result.rawDeleted} readings, expected ${total}`);
  const kept = await opened.store.history('bench-retention', 'ret', 'r7', BASE, BASE + DAY, 3_600_000);
  if (kept.length !== 24 || kept.some((b) => b.count !== 120)) throw new Error(`hourly rollups of the removed day are wrong: ${JSON.stringify(kept.slice(0, 2))}`);
  return { ms: Math.round(ms), deleted: result.rawDeleted };
}

async function measure(name: string, open: () => Promise<Opened>): Promise<{ sequential: number; concurrent: number; retention: { ms: number; deleted: number } }> {
  const opened = await open();
  try {
    const sequential = await ingestRate(opened, 1, 0);
    const concurrent = await ingestRate(opened, 8, 1000);
    const got = await opened.store.history('bench-gw-3', 'dev7', 'p7', BASE, BASE + 2 * DAY);
    const expected = (2 * BATCHES * READINGS_PER_BATCH) / GATEWAYS / POINTS_PER_GATEWAY;
    if (got.length !== expected) throw new Error(`${name}: a point holds ${got.length} readings after ingest, expected ${expected}`);
    const retention = await retentionMs(opened);
    progress(`store ${name}: ${sequential} readings/s one at a time, ${concurrent} readings/s 8 at a time; retention of a day (${retention.deleted} readings) ${retention.ms} ms`);
    return { sequential, concurrent, retention };
  } finally {
    await opened.close();
  }
}

export async function benchStore(): Promise<BenchEntry[]> {
  const sqlite = await measure('sqlite', openSqlite);
  const postgres = await measure('postgres (journaled)', () => openPostgres(true));
  const through = await measure('postgres (written through)', () => openPostgres(false));
  const shape = `${BATCHES} batches of ${READINGS_PER_BATCH} readings from ${GATEWAYS} gateways of ${POINTS_PER_GATEWAY} points, through HubStore.ingestBatch, flush included`;
  const sqliteBase = { name: 'store_sqlite_readings_per_s', value: sqlite.sequential, unit: 'readings/s' };
  const sqliteBase8 = { name: 'store_sqlite_readings_per_s_8_in_flight', value: sqlite.concurrent, unit: 'readings/s' };
  return [
    ratioEntry('store_postgres_readings_per_s', { value: postgres.sequential, unit: 'readings/s' }, sqliteBase, 0.5, `${shape}; one call at a time (one ingest connection); both stores journaled (acknowledged after the journal append) and group-committed as per-point chunks (SQLite every 5 s, PostgreSQL every 2 s)`),
    ratioEntry('store_postgres_readings_per_s_8_in_flight', { value: postgres.concurrent, unit: 'readings/s' }, sqliteBase8, 0.5, `${shape}; 8 calls in flight (several ingest connections)`),
    ratioEntry('store_postgres_written_through_readings_per_s', { value: through.sequential, unit: 'readings/s' }, sqliteBase, 0.1, `${shape}; one call at a time; PostgreSQL without a journal: each batch committed (fsync) before its call resolves`),
    ratioEntry('store_postgres_written_through_readings_per_s_8_in_flight', { value: through.concurrent, unit: 'readings/s' }, sqliteBase8, 0.1, `${shape}; 8 calls in flight, group-committed together`),
    { name: 'store_postgres_retention_day_ms', value: postgres.retention.ms, unit: 'ms', notes: `roll up (5 min and 1 h levels) and drop one day partition of ${RETENTION_POINTS} points every ${RETENTION_EVERY_MS / 1000} s (${postgres.retention.deleted} readings)` },
    { name: 'store_sqlite_retention_day_ms', value: sqlite.retention.ms, unit: 'ms', notes: `the same day on the SQLite store (${sqlite.retention.deleted} readings)` },
  ];
}
