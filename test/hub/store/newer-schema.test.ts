/**
 * A hub release refuses a database a newer release migrated (a rollback without restoring the
 * backup): before anything is written, naming the newest schema version it knows. An acceptance
 * run rolled a PostgreSQL hub back onto an upgraded database: the old hub started, its broker
 * acknowledged 29 batches it then failed to store, and the gateway deleted them.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { featureMigrations, openHubStore } from '../../../hub/features.js';
import { PostgresStore } from '../../../hub/store/postgres/postgres.js';
import { POSTGRES_MIGRATIONS } from '../../../hub/store/postgres/migrations.js';
import { SQLITE_MIGRATIONS } from '../../../hub/store/sqlite/migrations.js';
import { SqliteStore } from '../../../hub/store/sqlite/sqlite.js';
import { isSwarmgateError } from '../../../shared/kit/errors.js';
import { peerOrSkip, tcpPeer } from '../../support/peers.js';
import { tempDir } from '../../support/tmp.js';

const PG_URL = process.env.SWARMGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const pgAvailable = peerOrSkip(await tcpPeer('127.0.0.1', 5432, 'postgresql'));
const FUTURE = 99_999;

const newestKnown = (kind: 'sqlite' | 'postgres'): number => Math.max(...[...(kind === 'sqlite' ? SQLITE_MIGRATIONS : POSTGRES_MIGRATIONS), ...featureMigrations(kind)].map((m) => m.version));

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function refusal(open: Promise<unknown>): Promise<Error> {
  const err = await open.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof Error)) throw new Error('the newer database was opened');
  return err;
}

describe('a database migrated by a newer hub release', () => {
  it('SQLite: refused before anything is written, naming both versions', async () => {
    const dir = tempDir('swarmgate-newer-');
    cleanups.push(dir.remove);
    const path = join(dir.path, 'hub.db');
    await (await openHubStore({ kind: 'sqlite', path })).close();
    const raw = new Database(path);
    raw.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(FUTURE, 'a feature of a newer release', Date.now());
    const before = raw.prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'index') ORDER BY name").all();
    raw.close();

    const err = await refusal(openHubStore({ kind: 'sqlite', path }));
    expect(isSwarmgateError(err, 'SWG_ERR_HUB_STORE_NEWER')).toBe(true);
    expect(err.message).toContain(path);
    expect(err.message).toContain(`schema version ${FUTURE}`);
    expect(err.message).toContain(`its newest is ${newestKnown('sqlite')}`);

    const after = new Database(path, { readonly: true });
    expect(after.prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'index') ORDER BY name").all()).toEqual(before);
    after.close();
  });

  it('SQLite: refused for a newer migration of a feature whose versions lie below the newest known (quarantine 62 under core 129)', async () => {
    const dir = tempDir('swarmgate-newer-');
    cleanups.push(dir.remove);
    const path = join(dir.path, 'hub.db');
    await (await openHubStore({ kind: 'sqlite', path })).close();
    const known = new Set([...SQLITE_MIGRATIONS, ...featureMigrations('sqlite')].map((m) => m.version));
    // A version a later release could give a feature: below the newest, taken by no migration here.
    let gap = 1;
    while (known.has(gap)) gap++;
    expect(gap).toBeLessThan(newestKnown('sqlite'));
    const raw = new Database(path);
    raw.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(gap, 'a newer migration of a feature', Date.now());
    raw.close();
    const err = await refusal(openHubStore({ kind: 'sqlite', path }));
    expect(isSwarmgateError(err, 'SWG_ERR_HUB_STORE_NEWER')).toBe(true);
    expect(err.message).toContain(`schema version ${gap}, which this release does not know`);
  });

  it('SQLite: a store opened with part of the schema (a test, a tool) still opens a fully migrated database', async () => {
    const dir = tempDir('swarmgate-newer-');
    cleanups.push(dir.remove);
    const path = join(dir.path, 'hub.db');
    await (await openHubStore({ kind: 'sqlite', path })).close();
    const store = SqliteStore.open({ path });
    expect(await store.schemaVersion()).toBe(newestKnown('sqlite'));
    await store.close();
    // And the whole schema opens its own database again.
    await (await openHubStore({ kind: 'sqlite', path })).close();
  });

  it.runIf(pgAvailable)('PostgreSQL: refused, and its schema is left as it was', async () => {
    const schema = `swg_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    const first = await openHubStore({ kind: 'postgres', url: PG_URL, schema });
    cleanups.push(async () => {
      const s = await PostgresStore.open({ url: PG_URL, schema });
      await s.dropSchema();
      await s.close();
    });
    await first.close();
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      await client.query(`INSERT INTO "${schema}".schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`, [FUTURE, 'a feature of a newer release', Date.now()]);
      const tables = async (): Promise<unknown[]> => (await client.query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name', [schema])).rows;
      const before = await tables();

      const err = await refusal(openHubStore({ kind: 'postgres', url: PG_URL, schema }));
      expect(isSwarmgateError(err, 'SWG_ERR_HUB_STORE_NEWER')).toBe(true);
      expect(err.message).toContain(`PostgreSQL schema ${schema}`);
      expect(err.message).toContain(`its newest is ${newestKnown('postgres')}`);
      expect(await tables()).toEqual(before);
    } finally {
      await client.end();
    }
  });
});
