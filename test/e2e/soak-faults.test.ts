/**
 * Soak: acknowledged means stored, whatever dies. Three gateways stream into a hub process
 * (`swarmgate hub`, external mode) through a Mosquitto of the test's own while, under load, the
 * broker is stopped with SIGTERM and started again, then killed with SIGKILL (losing whatever it
 * had acknowledged and not saved, shared subscriptions included) and started again, then the hub
 * process is SIGKILLed and started again. Afterwards every reading every gateway produced is in
 * the store exactly once, in order: on SQLite and on PostgreSQL. The same with the embedded
 * broker: the hub process (its broker with it) is SIGKILLed twice under load.
 *
 * What makes it hold: the hub subscribes again on every connect (Mosquitto restores a persistent
 * session without its shared subscriptions), and a gateway deletes a batch only on the hub's
 * stored receipt, so what a broker acknowledged and then lost is sent again.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import type { Reading } from '../../edge/drivers/driver.js';
import { startFederation, type Federation } from '../../edge/federation/index.js';
import { PostgresStore } from '../../hub/store/postgres/postgres.js';
import { SqliteStore } from '../../hub/store/sqlite/sqlite.js';
import type { HubStore } from '../../hub/store/types.js';
import { fakeGateway, type FakeGateway } from '../federation/edge/helpers.js';
import { peerOrSkip, tcpPeer } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import { addGatewayUser, addHubUser, credentialsFile, PG_URL } from './support/hub.js';
import { MOSQUITTO_BIN, freePort, ownMosquitto, type OwnMosquitto } from '../support/mosquitto.js';
import { spawnHub, stopHub, type HubChild } from './support/processes.js';
import { checkStored, PERFECT, summary } from './support/stored.js';
import { sleep, waitFor } from './support/util.js';

const hasMosquitto = peerOrSkip({ available: existsSync(MOSQUITTO_BIN), reason: 'mosquitto binary not found: apt-get install -y mosquitto' });
const hasPostgres = peerOrSkip(await tcpPeer('127.0.0.1', 5432, 'postgresql'));

interface Gw {
  readonly id: string;
  readonly source: FakeGateway;
  readonly federation: Federation;
  readonly registry: Registry;
  readonly produced: Reading[];
}

/** Gateways (federation only, synthetic readings) streaming into a broker, and what they produced. */
class Fleet {
  readonly gateways: Gw[] = [];
  private load: NodeJS.Timeout | undefined;

  /** Broker users for the gateways, written one at a time (concurrent writers of users.yaml lose each other's). */
  static async users(dir: string, site: string, ids: readonly string[]): Promise<Map<string, { username: string; password: string }>> {
    const users = new Map<string, { username: string; password: string }>();
    for (const id of ids) users.set(id, await addGatewayUser(credentialsFile(dir), site, id));
    return users;
  }

  static async start(dir: string, site: string, users: ReadonlyMap<string, { username: string; password: string }>, url: string): Promise<Fleet> {
    const fleet = new Fleet();
    for (const [id, auth] of users) {
      const source = fakeGateway(id, site);
      const registry = new Registry();
      const federation = await startFederation({
        gateway: source,
        dataDir: join(dir, id),
        registry,
        config: { mqtt: { url, ...auth, reconnectPeriodMs: 200, keepaliveS: 5 }, outbox: { flushMs: 50, batchMax: 20, storedTimeoutS: 3 }, stateIntervalS: 0 },
      });
      fleet.gateways.push({ id, source, federation, registry, produced: [] });
    }
    return fleet;
  }

  /** Every gateway produces a reading every 10 ms: distinct values, strictly increasing ts. */
  startLoad(): void {
    const t0 = Date.now() - 60_000;
    let n = 0;
    this.load = setInterval(() => {
      n++;
      for (const g of this.gateways) {
        const r: Reading = { device: 'ahu1', point: 'temp', value: n, quality: 'good', ts: t0 + n };
        g.produced.push(r);
        g.source.emit(r);
      }
    }, 10);
  }

  /** Stops the load and waits until every batch was receipted (the outboxes are empty). */
  async drain(): Promise<void> {
    clearInterval(this.load);
    for (const g of this.gateways) g.federation.outbox.flush();
    await waitFor(() => this.gateways.every((g) => g.federation.outbox.stats().messages === 0), 120_000, 'every outbox emptied by stored receipts', 100);
  }

  /** Every reading produced is in the store exactly once, in order. */
  async expectStoredExactlyOnce(store: HubStore): Promise<void> {
    for (const g of this.gateways) {
      expect(g.produced.length).toBeGreaterThan(500);
      expect({ gateway: g.id, ...summary(await checkStored(store, g.id, g.produced)) }).toEqual({ gateway: g.id, ...PERFECT });
    }
  }

  async resent(): Promise<number> {
    let n = 0;
    for (const g of this.gateways) n += (await g.registry.getSingleMetric('swarmgate_federation_resent_total')?.get())?.values.reduce((a, v) => a + v.value, 0) ?? 0;
    return n;
  }

  async stop(): Promise<void> {
    clearInterval(this.load);
    for (const g of this.gateways) await g.federation.stop().catch(() => undefined);
  }
}

function soak(kind: 'sqlite' | 'postgres', enabled: boolean): void {
  describe.skipIf(!enabled)(`soak (${kind}): broker SIGTERM and SIGKILL, hub SIGKILL, under load`, { timeout: 300_000 }, () => {
    const dir = tempDir(`swg-soak-${kind}-`);
    const schema = `swg_soak_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    let broker: OwnMosquitto | undefined;
    let hub: HubChild | undefined;
    let fleet: Fleet | undefined;

    afterAll(async () => {
      await fleet?.stop();
      await stopHub(hub, 'SIGKILL');
      await broker?.stop('SIGKILL');
      if (kind === 'postgres') {
        const pg = await PostgresStore.open({ url: PG_URL, schema }).catch(() => undefined);
        await pg?.dropSchema().catch(() => undefined);
        await pg?.close();
      }
      dir.remove();
    });

    it('loses and doubles nothing', async () => {
      mkdirSync(dir.path, { recursive: true });
      const hubUser = await addHubUser(credentialsFile(dir.path), 'hub-soak');
      const users = await Fleet.users(dir.path, 'site-soak', ['gw-s1', 'gw-s2', 'gw-s3']);
      broker = await ownMosquitto(join(dir.path, 'mosquitto'), credentialsFile(dir.path), hubUser);
      const store = kind === 'sqlite' ? 'store: { kind: sqlite, path: hub.db }' : `store: { kind: postgres, url: "${PG_URL}", schema: ${schema} }`;
      const hubFile = join(dir.path, 'hub.yaml');
      writeFileSync(
        hubFile,
        `broker:\n  mode: external\n  external: { url: "${broker.url}", username: ${hubUser.username}, password: "${hubUser.password}", shareGroup: soak, clientId: hub-soak-1, persistentSession: true }\n${store}\n`,
      );
      hub = await spawnHub(hubFile);
      fleet = await Fleet.start(dir.path, 'site-soak', users, broker.url);
      await waitFor(() => fleet!.gateways.every((g) => g.federation.publisher.connected), 15_000, 'gateways connected');

      fleet.startLoad();
      await sleep(2500);
      await broker.stop('SIGTERM');
      await sleep(1000);
      await broker.start();
      await sleep(2500);
      await broker.stop('SIGKILL');
      await sleep(500);
      await broker.start();
      await sleep(2500);
      await stopHub(hub, 'SIGKILL');
      hub = await spawnHub(hubFile);
      await sleep(2500);
      await fleet.drain();
      await stopHub(hub, 'SIGTERM');

      const s: HubStore = kind === 'sqlite' ? SqliteStore.open({ path: join(dir.path, 'hub.db') }) : await PostgresStore.open({ url: PG_URL, schema });
      try {
        await fleet.expectStoredExactlyOnce(s);
      } finally {
        await s.close();
      }
      // The faults were real: batches had to be sent again.
      expect(await fleet.resent()).toBeGreaterThan(0);
    });
  });
}

soak('sqlite', hasMosquitto);
soak('postgres', hasMosquitto && hasPostgres);

describe('soak (embedded broker, SQLite): the hub process SIGKILLed twice under load', { timeout: 300_000 }, () => {
  const dir = tempDir('swg-soak-embedded-');
  let hub: HubChild | undefined;
  let fleet: Fleet | undefined;

  afterAll(async () => {
    await fleet?.stop();
    await stopHub(hub, 'SIGKILL');
    dir.remove();
  });

  it('loses and doubles nothing: the PUBACK follows the journal append and receipts cover the rest', async () => {
    mkdirSync(dir.path, { recursive: true });
    const port = await freePort();
    const hubFile = join(dir.path, 'hub.yaml');
    writeFileSync(hubFile, `broker:\n  mode: embedded\n  embedded: { host: 127.0.0.1, port: ${port}, credentialsFile: users.yaml }\nstore: { kind: sqlite, path: hub.db }\n`);
    const users = await Fleet.users(dir.path, 'site-soak-e', ['gw-e1', 'gw-e2']);
    hub = await spawnHub(hubFile);
    fleet = await Fleet.start(dir.path, 'site-soak-e', users, `mqtt://127.0.0.1:${port}`);
    await waitFor(() => fleet!.gateways.every((g) => g.federation.publisher.connected), 15_000, 'gateways connected');
    fleet.startLoad();
    for (let kill = 0; kill < 2; kill++) {
      await sleep(2500);
      await stopHub(hub, 'SIGKILL');
      hub = await spawnHub(hubFile);
    }
    await sleep(2500);
    await fleet.drain();
    await stopHub(hub, 'SIGTERM');
    const s = SqliteStore.open({ path: join(dir.path, 'hub.db') });
    try {
      await fleet.expectStoredExactlyOnce(s);
    } finally {
      await s.close();
    }
  });
});
