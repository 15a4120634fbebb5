import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { expect, it } from 'vitest';
import { openStore } from '../../../hub/store/index.js';
import { POSTGRES_MIGRATIONS } from '../../../hub/store/postgres/migrations.js';
import { PostgresStore } from '../../../hub/store/postgres/postgres.js';
import { peerOrSkip, tcpPeer } from '../../support/peers.js';
import { tempDir } from '../../support/tmp.js';
import { batch, reading, uniqueId } from '../helpers.js';
import { capturedLogger, storeContract } from './contract.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2024, 0, 1);
const newSchema = (): string => `swg_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`;

const PG_URL = process.env.SWARMGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const available = peerOrSkip(await tcpPeer('127.0.0.1', 5432, 'postgresql'));

storeContract(
  'postgres',
  async (logger) => {
    const schema = `swg_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    const store = await PostgresStore.open({ url: PG_URL, schema, logger });
    return {
      store,
      cleanup: async () => {
        await store.dropSchema();
        await store.close();
      },
    };
  },
  available,
);

storeContract(
  'postgres (journaled)',
  async (logger) => {
    const dir = tempDir('swarmgate-pg-journal-');
    const store = await PostgresStore.open({ url: PG_URL, schema: newSchema(), logger, journalDir: dir.path });
    return {
      store,
      cleanup: async () => {
        await store.dropSchema();
        await store.close();
        dir.remove();
      },
    };
  },
  available,
);

it.skipIf(!available)('postgres: a second open of the same schema finds it migrated', async () => {
  const schema = `swg_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const [a, b] = await Promise.all([PostgresStore.open({ url: PG_URL, schema }), PostgresStore.open({ url: PG_URL, schema })]);
  try {
    expect(await a.schemaVersion()).toBe(6);
    expect(await b.schemaVersion()).toBe(6);
  } finally {
    await a.dropSchema();
    await a.close();
    await b.close();
  }
});

it.skipIf(!available)('postgres: refuses a schema name the hub config check refuses, before connecting', async () => {
  await expect(PostgresStore.open({ url: PG_URL, schema: 'Plant1' })).rejects.toThrow(/invalid PostgreSQL schema name "Plant1": .*lower-case/);
});

/** The day partitions of a schema's chunks table, by name. */
async function partitionsOf(store: PostgresStore): Promise<string[]> {
  const rows = await store.query("SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass('chunks') ORDER BY 1");
  return rows.map((r) => String(r.name));
}

it.skipIf(!available)('postgres: writes a batch as one chunk per point in its day partition, not a row per reading', async () => {
  const store = await PostgresStore.open({ url: PG_URL, schema: newSchema() });
  try {
    const gw = uniqueId('gw');
    const readings = Array.from({ length: 300 }, (_, i) => reading('ahu1', `p${i % 3}`, i, T0 + i * 1000));
    expect(await store.ingestBatch(batch(gw, 'boot-0001', 1, readings))).toEqual({ stored: true, readings: 300 });
    const chunks = await store.query('SELECT c.n, s.point FROM chunks c JOIN series s ON s.id = c.series ORDER BY s.point');
    expect(chunks).toEqual([
      { n: 100, point: 'p0' },
      { n: 100, point: 'p1' },
      { n: 100, point: 'p2' },
    ]);
    expect(await partitionsOf(store)).toContain('chunks_20240101');
    // Today's and the next days' partitions are created ahead.
    const today = new Date().toISOString().slice(0, 10).replace(/-/g, '');
    expect(await partitionsOf(store)).toContain(`chunks_${today}`);
    expect((await store.history(gw, 'ahu1', 'p1', T0, T0 + DAY)).map((s) => s.value)).toEqual(readings.filter((_, i) => i % 3 === 1).map((r) => r.v));
  } finally {
    await store.dropSchema();
    await store.close();
  }
});

it.skipIf(!available)('postgres: retention drops whole day partitions older than the cutoff, deletes in the day it falls in, and keeps rollups', async () => {
  const store = await PostgresStore.open({ url: PG_URL, schema: newSchema() });
  try {
    const gw = uniqueId('gw');
    const day = (d: number): ReturnType<typeof reading>[] => Array.from({ length: 48 }, (_, i) => reading('m', 'p', d * 100 + i, T0 + d * DAY + i * 1_800_000));
    await store.ingestBatch(batch(gw, 'boot-0001', 1, [...day(0), ...day(1), ...day(2)]));
    expect(await partitionsOf(store)).toEqual(expect.arrayContaining(['chunks_20240101', 'chunks_20240102', 'chunks_20240103']));
    const before = await store.history(gw, 'm', 'p', T0, T0 + 3 * DAY, DAY);
    // Cutoff at noon of day 1: day 0 is dropped whole, day 1 loses its morning.
    const result = await store.retention(T0 + 1.5 * DAY + 5 * DAY, { rawDays: 5, rollups: [{ bucketS: 3600, keepDays: 30 }, { bucketS: 86_400, keepDays: 30 }] });
    expect(result.rawDeleted).toBe(48 + 24);
    const parts = await partitionsOf(store);
    expect(parts).not.toContain('chunks_20240101');
    expect(parts).toContain('chunks_20240102');
    expect((await store.history(gw, 'm', 'p', T0, T0 + 3 * DAY)).length).toBe(24 + 48);
    expect(await store.history(gw, 'm', 'p', T0, T0 + 3 * DAY, DAY)).toEqual(before);
    // A late reading for the dropped day goes into a new partition and is rolled up next time.
    await store.ingestBatch(batch(gw, 'boot-0001', 2, [reading('m', 'p', 1000, T0 + 60_000)], true));
    expect(await partitionsOf(store)).toContain('chunks_20240101');
    await store.retention(T0 + 1.5 * DAY + 5 * DAY, { rawDays: 5, rollups: [{ bucketS: 86_400, keepDays: 30 }] });
    expect(await partitionsOf(store)).not.toContain('chunks_20240101');
    expect((await store.history(gw, 'm', 'p', T0, T0 + DAY - 1, DAY))[0]?.count).toBe(49);
  } finally {
    await store.dropSchema();
    await store.close();
  }
});

it.skipIf(!available)('postgres: two stores on one schema (two hub processes) store every batch exactly once when both receive it', async () => {
  const schema = newSchema();
  const [a, b] = await Promise.all([PostgresStore.open({ url: PG_URL, schema }), PostgresStore.open({ url: PG_URL, schema })]);
  try {
    const gw = uniqueId('gw');
    const t = Date.now();
    const batches = Array.from({ length: 60 }, (_, seq) => batch(gw, 'boot-0001', seq, Array.from({ length: 50 }, (_, i) => reading(`d${i % 5}`, `p${i % 10}`, seq * 50 + i, t + seq * 50 + i))));
    // Both get every batch (a redelivery after a lost acknowledgement), at the same time.
    const results = await Promise.all(batches.flatMap((x) => [a.ingestBatch(x), b.ingestBatch(x)]));
    expect(results.filter((r) => r.stored)).toHaveLength(60);
    expect(results.filter((r) => r.conflict)).toHaveLength(0);
    const stored = await a.query('SELECT COUNT(*) AS n FROM batches WHERE gateway = $1', [gw]);
    expect(Number(stored[0]!.n)).toBe(60);
    const samples = await b.history(gw, 'd1', 'p1', t, t + 10_000);
    expect(samples).toHaveLength(60 * 5);
    expect(samples.map((s) => s.value)).toEqual(Array.from({ length: 300 }, (_, k) => Math.floor(k / 5) * 50 + (k % 5) * 10 + 1));
    expect((await a.latest(gw)).find((r) => r.point === 'p1')?.value).toBe(59 * 50 + 41);
  } finally {
    await a.dropSchema();
    await a.close();
    await b.close();
  }
});

it.skipIf(!available)('postgres: the version-4 migration converts per-reading rows into chunks, keeping history, buckets and latest', async () => {
  const schema = newSchema();
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    // A store as version 3 left it, with readings in the per-reading table.
    await client.query(`CREATE SCHEMA ${schema}; SET search_path = ${schema}`);
    await client.query('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
    for (const m of POSTGRES_MIGRATIONS.filter((x) => x.version <= 3)) {
      await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations VALUES ($1, $2, 0)', [m.version, m.name]);
    }
    const rows: [string, string, number, number | null, string | null, string, string, string | null][] = [
      ['d', 'n', T0 + 2000, 2.5, null, 'n', 'good', null],
      ['d', 'n', T0 + 1000, 1.5, null, 'n', 'good', null],
      ['d', 'n', T0 + DAY + 5, 7, null, 'n', 'uncertain', null],
      ['d', 's', T0 + 10, null, 'auto', 's', 'good', null],
      ['d', 'x', T0 + 10, null, null, 'z', 'bad', 'timeout'],
    ];
    for (const r of rows) await client.query("INSERT INTO readings (gateway, device, point, ts, num, str, vtype, quality, cause) VALUES ('gw-old', $1, $2, $3, $4, $5, $6, $7, $8)", r);
  } finally {
    await client.end();
  }
  const store = await PostgresStore.open({ url: PG_URL, schema });
  try {
    expect(await store.schemaVersion()).toBe(6);
    expect(await store.query("SELECT to_regclass('readings') AS t")).toEqual([{ t: null }]);
    expect(await store.history('gw-old', 'd', 'n', T0, T0 + 2 * DAY)).toEqual([
      { ts: T0 + 1000, value: 1.5, quality: 'good' },
      { ts: T0 + 2000, value: 2.5, quality: 'good' },
      { ts: T0 + DAY + 5, value: 7, quality: 'uncertain' },
    ]);
    expect(await store.history('gw-old', 'd', 'x', T0, T0 + DAY)).toEqual([{ ts: T0 + 10, value: null, quality: 'bad', cause: 'timeout' }]);
    expect(await store.history('gw-old', 'd', 's', T0, T0 + DAY)).toEqual([{ ts: T0 + 10, value: 'auto', quality: 'good' }]);
    expect(await store.history('gw-old', 'd', 'n', T0, T0 + 2 * DAY, DAY)).toEqual([
      { start: T0, avg: 2, min: 1.5, max: 2.5, count: 2 },
      { start: T0 + DAY, avg: 7, min: 7, max: 7, count: 1 },
    ]);
    expect(await partitionsOf(store)).toEqual(expect.arrayContaining(['chunks_20240101', 'chunks_20240102']));
    // New data goes on after the converted data.
    await store.ingestBatch(batch('gw-old', 'boot-0002', 1, [reading('d', 'n', 3.5, T0 + 3000)]));
    expect((await store.history('gw-old', 'd', 'n', T0, T0 + DAY)).map((s) => s.value)).toEqual([1.5, 2.5, 3.5]);
  } finally {
    await store.dropSchema();
    await store.close();
  }
});

it.skipIf(!available)('postgres journaled: a batch acknowledged and not yet written survives kill -9 of the hub and is written once at the next open', async () => {
  const schema = newSchema();
  const dir = tempDir('swarmgate-pg-journal-');
  const writer = fileURLToPath(new URL('./fixtures/pg-journal-writer.ts', import.meta.url));
  try {
    const child = await new Promise<{ stdout: string; signal: string | null }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', writer, PG_URL, schema, dir.path, '30'], { env: { ...process.env, SWARMGATE_LOG_LEVEL: 'silent' } }, (err, stdout) => {
        resolve({ stdout, signal: (err as (Error & { signal?: string }) | null)?.signal ?? null });
      });
    });
    expect(child).toEqual({ stdout: 'acked 30\n', signal: 'SIGKILL' });
    const store = await PostgresStore.open({ url: PG_URL, schema, journalDir: dir.path });
    try {
      const got = await store.history('gw-crash', 'meter', 'p3', 0, 2_000_000_000_000);
      expect(got.map((s) => s.value)).toEqual(Array.from({ length: 30 }, (_, seq) => seq * 10 + 3));
      // Written to the database (not only buffered): another store without the journal sees it.
      const other = await PostgresStore.open({ url: PG_URL, schema });
      expect(await other.history('gw-crash', 'meter', 'p3', 0, 2_000_000_000_000)).toHaveLength(30);
      await other.close();
      // A repeat of an acknowledged batch is a duplicate.
      const bootId = '0b1c2d3e-0000-4000-8000-000000000003';
      const readings = Array.from({ length: 10 }, (_, i) => ({ d: 'meter', p: `p${i}`, v: 5 * 10 + i, q: 'good' as const, ts: 1_700_000_000_000 + 5 * 1000 }));
      expect(await store.ingestBatch({ v: 1, gateway: 'gw-crash', bootId, seq: 5, sentAt: Date.now(), historical: true, readings })).toEqual({ stored: false, readings: 0 });
    } finally {
      await store.dropSchema();
      await store.close();
    }
  } finally {
    dir.remove();
  }
});

it.skipIf(!available)('postgres journaled: two hub processes buffering the same batches store them once; a flush makes one chunk per point of many batches', async () => {
  const schema = newSchema();
  const dirs = [tempDir('swarmgate-pg-journal-'), tempDir('swarmgate-pg-journal-')];
  const open = (dir: { path: string }): Promise<PostgresStore> => PostgresStore.open({ url: PG_URL, schema, journalDir: dir.path, flushMs: 600_000 });
  const [a, b] = await Promise.all([open(dirs[0]!), open(dirs[1]!)]);
  try {
    const gw = uniqueId('gw');
    const t = Date.UTC(2024, 0, 1, 10);
    const batches = Array.from({ length: 40 }, (_, seq) => batch(gw, 'boot-0001', seq, Array.from({ length: 20 }, (_, i) => reading('d', `p${i % 4}`, seq * 20 + i, t + seq * 20 + i))));
    for (const x of batches) {
      expect(await a.ingestBatch(x)).toEqual({ stored: true, readings: 20 });
      expect(await b.ingestBatch(x)).toEqual({ stored: true, readings: 20 });
    }
    // Buffered readings are visible before any write.
    expect(await a.history(gw, 'd', 'p1', t, t + 10_000)).toHaveLength(200);
    expect((await a.latest(gw)).map((r) => r.value)).toEqual([796, 797, 798, 799]);
    await Promise.all([a.flush(), b.flush()]);
    expect(Number((await a.query('SELECT COUNT(*) AS n FROM batches WHERE gateway = $1', [gw]))[0]!.n)).toBe(40);
    expect(await a.query('SELECT s.point, c.n FROM chunks c JOIN series s ON s.id = c.series WHERE s.gateway = $1 ORDER BY s.point', [gw])).toEqual(['p0', 'p1', 'p2', 'p3'].map((point) => ({ point, n: 200 })));
    expect((await b.history(gw, 'd', 'p1', t, t + 10_000)).map((s) => s.value)).toEqual(Array.from({ length: 200 }, (_, k) => k * 4 + 1));
    expect(await b.ingestBatch(batches[3]!)).toEqual({ stored: false, readings: 0 });
  } finally {
    await a.dropSchema();
    await a.close();
    await b.close();
    for (const d of dirs) d.remove();
  }
});

it.skipIf(!available)('postgres: store.journal in the hub config opens the store journaled', async () => {
  const dir = tempDir('swarmgate-pg-journal-');
  const store = await openStore({ kind: 'postgres', url: PG_URL, schema: newSchema(), journal: dir.path, flushMs: 60_000 });
  try {
    if (!(store instanceof PostgresStore)) throw new Error('not a PostgresStore');
    await store.ingestBatch(batch(uniqueId('gw'), 'boot-0001', 1, [reading('d', 'p', 1, T0)]));
    expect(store.telemetryStats()).toMatchObject({ buffered: 1, flushFailures: 0 });
    expect(store.telemetryStats().journalBytes).toBeGreaterThan(0);
    await store.flush();
    expect(store.telemetryStats().buffered).toBe(0);
    await store.dropSchema();
  } finally {
    await store.close();
    dir.remove();
  }
});

it.skipIf(!available)('postgres: compaction merges runs of small old chunks, keeping samples and arrival order on equal ts', async () => {
  const store = await PostgresStore.open({ url: PG_URL, schema: newSchema() });
  try {
    const gw = uniqueId('gw');
    // Written through one by one: one small chunk per batch; seq 3 repeats the ts of seq 2.
    for (let seq = 0; seq < 10; seq++) await store.ingestBatch(batch(gw, 'boot-0001', seq, [reading('d', 'p', seq, T0 + Math.min(seq, 2) * 1000 + Math.max(0, seq - 3) * 1000)]));
    const before = await store.history(gw, 'd', 'p', T0, T0 + DAY);
    const count = async (): Promise<number> => Number((await store.query('SELECT COUNT(*) AS n FROM chunks'))[0]!.n);
    expect(await count()).toBe(10);
    // Not yet old enough.
    expect(await store.compact()).toBe(0);
    expect(await store.compact(Date.now() + 11 * 60_000)).toBe(9);
    expect(await count()).toBe(1);
    expect(await store.history(gw, 'd', 'p', T0, T0 + DAY)).toEqual(before);
    expect(before.slice(2, 4).map((s) => s.value)).toEqual([2, 3]);
    expect(await store.history(gw, 'd', 'p', T0, T0 + DAY, 3_600_000)).toEqual([{ start: T0, avg: 4.5, min: 0, max: 9, count: 10 }]);
  } finally {
    await store.dropSchema();
    await store.close();
  }
});

it.skipIf(!available)('postgres journaled: a batch PostgreSQL refuses fails alone at ingest instead of holding up the journal', async () => {
  const dir = tempDir('swarmgate-pg-journal-');
  const store = await PostgresStore.open({ url: PG_URL, schema: newSchema(), journalDir: dir.path, flushMs: 60_000 });
  try {
    const gw = uniqueId('gw');
    await expect(store.ingestBatch(batch(gw, 'boot-0001', 1, [reading('d', 'label', 'bad\u0000byte', T0)]))).rejects.toThrow(/0x00|null character|\\u0000/i);
    expect(await store.ingestBatch(batch(gw, 'boot-0001', 2, [reading('d', 'p', 1, T0)]))).toEqual({ stored: true, readings: 1 });
    await store.flush();
    expect(store.telemetryStats()).toMatchObject({ buffered: 0, flushFailures: 0 });
    expect(await store.history(gw, 'd', 'p', T0, T0)).toEqual([{ ts: T0, value: 1, quality: 'good' }]);
    await store.dropSchema();
  } finally {
    await store.close();
    dir.remove();
  }
});

it.skipIf(!available)('postgres: a write to a day waits while retention holds that day, and writes to other days do not', async () => {
  const schema = newSchema();
  const store = await PostgresStore.open({ url: PG_URL, schema });
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    const gw = uniqueId('gw');
    await client.query('BEGIN');
    // What retention.ts holds while it rolls a day up and drops it.
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1), $2)', [`swarmgate-chunk-day:${schema}`, Math.floor(T0 / DAY)]);
    let done = false;
    const held = store.ingestBatch(batch(gw, 'boot-0001', 1, [reading('d', 'p', 1, T0 + 5)])).then((r) => {
      done = true;
      return r;
    });
    expect(await store.ingestBatch(batch(gw, 'boot-0001', 2, [reading('d', 'p', 2, T0 + DAY + 5)]))).toEqual({ stored: true, readings: 1 });
    expect(done).toBe(false);
    await client.query('COMMIT');
    expect(await held).toEqual({ stored: true, readings: 1 });
    expect((await store.history(gw, 'd', 'p', T0, T0 + 2 * DAY)).map((s) => s.value)).toEqual([1, 2]);
  } finally {
    await client.end();
    await store.dropSchema();
    await store.close();
  }
});

it.skipIf(!available)('postgres journaled: while the database refuses writes, batches are journaled and written once it is back', async () => {
  const schema = newSchema();
  const dir = tempDir('swarmgate-pg-journal-');
  const { logger } = capturedLogger();
  const store = await PostgresStore.open({ url: PG_URL, schema, journalDir: dir.path, flushMs: 60_000, logger });
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  try {
    const gw = uniqueId('gw');
    // The batch keys table gone: every key check and every write fails.
    await admin.query(`ALTER TABLE ${schema}.batches RENAME TO batches_away`);
    for (let seq = 1; seq <= 3; seq++) expect(await store.ingestBatch(batch(gw, 'boot-0001', seq, [reading('d', 'p', seq, T0 + seq)]))).toEqual({ stored: true, readings: 1 });
    await store.flush();
    expect(store.telemetryStats()).toMatchObject({ buffered: 3, flushFailures: 1 });
    // Buffered readings are served meanwhile.
    expect((await store.history(gw, 'd', 'p', T0, T0 + 10)).map((s) => s.value)).toEqual([1, 2, 3]);
    await admin.query(`ALTER TABLE ${schema}.batches_away RENAME TO batches`);
    await store.flush();
    expect(store.telemetryStats()).toMatchObject({ buffered: 0, flushFailures: 0 });
    expect(Number((await store.query('SELECT COUNT(*) AS n FROM batches WHERE gateway = $1', [gw]))[0]!.n)).toBe(3);
    expect(await store.ingestBatch(batch(gw, 'boot-0001', 2, [reading('d', 'p', 2, T0 + 2)]))).toEqual({ stored: false, readings: 0 });
    await store.dropSchema();
  } finally {
    await admin.end();
    await store.close();
    dir.remove();
  }
});
