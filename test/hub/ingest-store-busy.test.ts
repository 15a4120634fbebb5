/**
 * A store that cannot take telemetry for now is an outage, not a reason to call the batch poison:
 * the batch stays unacknowledged and unreceipted (the gateway keeps it in its outbox), nothing is
 * quarantined, and it is stored once the store writes again. A real hub (embedded broker); a plain
 * MQTT client plays the gateway and listens for its stored receipts.
 * - PostgreSQL with the ingest journal: writes fail while reads work (full disk, read-only
 *   failover; here a trigger raising disk_full), the journaled buffer reaches its limit and refuses
 *   with SWG_ERR_HUB_STORE_BUSY (review H1: it was quarantined and receipted, then lost).
 * - Any store: a batch failing with an error of no known kind, while the store answers reads but
 *   takes no writes, is kept for a retry (the poison check asks for a write, not only a read).
 */
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import type { MqttClient } from 'mqtt';
import { afterEach, expect, it } from 'vitest';
import { parseHubConfig } from '../../hub/config.js';
import { classifyStoreError } from '../../hub/ingest/store-errors.js';
import { startHub, type Hub } from '../../hub/index.js';
import { PostgresStore } from '../../hub/store/postgres/postgres.js';
import { SqliteStore } from '../../hub/store/sqlite/sqlite.js';
import type { HubStore } from '../../hub/store/types.js';
import { gatewayTopic, type TelemetryBatch } from '../../shared/wire/index.js';
import { peerOrSkip, tcpPeer } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import { addUsers, batch, connectClient, endAll, reading, sleep, storedReceipts, waitFor } from './helpers.js';

const postgres = peerOrSkip(await tcpPeer('127.0.0.1', 5432, 'postgresql'));
const PG_URL = process.env.SWARMGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SITE = 'site-busy';
/** Ingest's default poisonAfterAttempts is 5: two failures more show it did not give up on the batch. */
const PAST_POISON_CHECK = 7;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => undefined);
});

interface Gw {
  readonly client: MqttClient;
  /** Publishes QoS 1 without waiting: the embedded broker's PUBACK follows the store. */
  send(b: TelemetryBatch): void;
  receipted(bootId: string, seq: number): boolean;
}

async function hubWithGateway(store: HubStore): Promise<{ hub: Hub; gw: Gw }> {
  const dir = tempDir('swg-hub-busy-');
  cleanups.push(async () => dir.remove());
  await addUsers(`${dir.path}/users.yaml`, [{ spec: { role: 'gateway', username: 'gw-a', site: SITE, gateway: 'gw-a' }, password: 'gw-a-password' }]);
  const config = parseHubConfig('broker: { embedded: { host: 127.0.0.1, port: 0, credentialsFile: users.yaml } }\nstore: { kind: sqlite, path: hub.db }\n', `${dir.path}/hub.yaml`);
  const hub = await startHub(config, { store });
  cleanups.push(() => hub.stop());
  const client = await connectClient(hub.broker!.url, { username: 'gw-a', password: 'gw-a-password', clientId: 'gw-a' });
  cleanups.push(() => endAll([client]));
  const { receipted } = await storedReceipts(client, SITE, 'gw-a');
  return {
    hub,
    gw: {
      client,
      send: (b) => void client.publish(gatewayTopic(SITE, 'gw-a', 'telemetry'), JSON.stringify(b), { qos: 1 }),
      receipted: (bootId, seq) => receipted(bootId, seq) > 0,
    },
  };
}

it.skipIf(!postgres)('PostgreSQL, journaled buffer full while writes fail: the batch waits unreceipted, is not quarantined, and is stored once writes work', async () => {
  const dir = tempDir('swg-hub-busy-pg-');
  cleanups.push(async () => dir.remove());
  const pg = await PostgresStore.open({ url: PG_URL, schema: `swg_busy_${randomUUID().replace(/-/g, '').slice(0, 12)}`, journalDir: `${dir.path}/journal`, flushMs: 200, maxBufferedReadings: 20_000 });
  cleanups.push(async () => {
    await pg.dropSchema();
    await pg.close();
  });
  const { hub, gw } = await hubWithGateway(pg);
  // Writes fail, reads work: what a full disk or a read-only failover looks like to the hub.
  await pg.query(`CREATE FUNCTION fail_writes() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'could not extend file (test)' USING ERRCODE = 'disk_full'; END $$`);
  await pg.query('CREATE TRIGGER fail_writes BEFORE INSERT ON batches FOR EACH ROW EXECUTE FUNCTION fail_writes()');
  // Another gateway's backlog fills the buffer to its limit; the next batch is refused, coded.
  const t0 = Date.now() - 3_600_000;
  const fill = (s: number): TelemetryBatch => batch('gw-other', 'boot-fill', s, Array.from({ length: 10_000 }, (_, i) => reading('dev', `p${i % 50}`, i, t0 + s * 10_000 + i)));
  expect((await pg.ingestBatch(fill(0))).stored).toBe(true);
  expect((await pg.ingestBatch(fill(1))).stored).toBe(true);
  const refused = await pg.ingestBatch(fill(2)).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(refused).toMatchObject({ code: 'SWG_ERR_HUB_STORE_BUSY', details: { buffered: 20_000, limit: 20_000 } });
  expect(classifyStoreError(refused)).toBe('outage');

  const now = Date.now();
  gw.send(batch('gw-a', 'boot-good', 7, [reading('ahu1', 'temp', 21.5, now)]));
  await waitFor(async () => ((await hub.metrics.count(hub.metrics.storeFailures)) >= PAST_POISON_CHECK ? true : undefined), 30_000, 'ingest retrying past its poison check');
  expect(gw.receipted('boot-good', 7)).toBe(false);
  expect(await hub.quarantine.list({ gateway: 'gw-a' })).toEqual([]);

  // Writes work again: the buffer is written, the waiting batch taken, stored and receipted.
  await pg.query('DROP TRIGGER fail_writes ON batches');
  await waitFor(() => (gw.receipted('boot-good', 7) ? true : undefined), 30_000, 'receipt once stored');
  expect((await hub.store.history('gw-a', 'ahu1', 'temp', now - 1, now + 1)).map((s) => s.value)).toEqual([21.5]);
  expect(await hub.quarantine.list({ gateway: 'gw-a' })).toEqual([]);
  expect(pg.telemetryStats()).toMatchObject({ flushFailures: 0 });
}, 90_000);

it('a batch failing with an unknown error while the store answers reads but takes no writes is retried, not quarantined', async () => {
  const dir = tempDir('swg-hub-busy-sqlite-');
  cleanups.push(async () => dir.remove());
  const path = `${dir.path}/store.db`;
  const sqlite = SqliteStore.open({ path, flushMs: 200 });
  cleanups.push(() => sqlite.close());
  let failing = true;
  const store = new Proxy(sqlite, {
    get(target, prop, receiver) {
      if (prop === 'ingestBatch') {
        return async (...args: Parameters<SqliteStore['ingestBatch']>) => {
          // An error that names no kind (no SQLite, SQL or system code).
          if (failing) throw new Error('write failed (test)');
          return target.ingestBatch(...args);
        };
      }
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const { hub, gw } = await hubWithGateway(store);
  // Reads answer, writes to the store's bookkeeping fail (as on a read-only file system).
  const side = new Database(path);
  side.exec("CREATE TRIGGER refuse_meta BEFORE INSERT ON store_meta BEGIN SELECT RAISE(ABORT, 'attempt to write a readonly database (test)'); END");
  side.exec("CREATE TRIGGER refuse_meta_update BEFORE UPDATE ON store_meta BEGIN SELECT RAISE(ABORT, 'attempt to write a readonly database (test)'); END");
  await expect(sqlite.probeWrite()).rejects.toThrow(/readonly database/);

  const now = Date.now();
  gw.send(batch('gw-a', 'boot-unknown', 3, [reading('ahu1', 'temp', 19.5, now)]));
  await waitFor(async () => ((await hub.metrics.count(hub.metrics.storeFailures)) >= PAST_POISON_CHECK ? true : undefined), 30_000, 'ingest retrying past its poison check');
  await sleep(100);
  expect(gw.receipted('boot-unknown', 3)).toBe(false);
  expect(await hub.quarantine.list({ gateway: 'gw-a' })).toEqual([]);

  side.exec('DROP TRIGGER refuse_meta; DROP TRIGGER refuse_meta_update');
  side.close();
  failing = false;
  await waitFor(() => (gw.receipted('boot-unknown', 3) ? true : undefined), 30_000, 'receipt once stored');
  expect((await hub.store.history('gw-a', 'ahu1', 'temp', now - 1, now + 1)).map((s) => s.value)).toEqual([19.5]);
  expect(await hub.quarantine.list({ gateway: 'gw-a' })).toEqual([]);
}, 60_000);
