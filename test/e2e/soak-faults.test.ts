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
import { PostgresStore } from '../../hub/store/postgres.js';
import { SqliteStore } from '../../hub/store/sqlite.js';
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

function soak(kind: 'sqlite' | 'postgres', enabled: boolean): void {
  describe.skipIf(!enabled)(`soak (${kind}): broker SIGTERM and SIGKILL, hub SIGKILL, under load`, { timeout: 300_000 }, () => {
    const dir = tempDir(`swg-soak-${kind}-`);
    const site = 'site-soak';
    const schema = `swg_soak_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    let broker: OwnMosquitto | undefined;
    let hub: HubChild | undefined;
    const gateways: Gw[] = [];

    afterAll(async () => {
      for (const g of gateways) await g.federation.stop().catch(() => undefined);
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
      const users = credentialsFile(dir.path);
      const hubUser = await addHubUser(users, 'hub-soak');
      const ids = ['gw-s1', 'gw-s2', 'gw-s3'];
      const gwAuth: Awaited<ReturnType<typeof addGatewayUser>>[] = [];
      for (const id of ids) gwAuth.push(await addGatewayUser(users, site, id)); // one writer at a time
      broker = await ownMosquitto(join(dir.path, 'mosquitto'), users, hubUser);

      const store = kind === 'sqlite' ? 'store: { kind: sqlite, path: hub.db }' : `store: { kind: postgres, url: "${PG_URL}", schema: ${schema} }`;
      const hubFile = join(dir.path, 'hub.yaml');
      writeFileSync(
        hubFile,
        `broker:\n  mode: external\n  external: { url: "${broker.url}", username: ${hubUser.username}, password: "${hubUser.password}", shareGroup: soak, clientId: hub-soak-1, persistentSession: true }\n${store}\n`,
      );
      hub = await spawnHub(hubFile);

      for (const [i, id] of ids.entries()) {
        const source = fakeGateway(id, site);
        const registry = new Registry();
        const federation = await startFederation({
          gateway: source,
          dataDir: join(dir.path, id),
          registry,
          config: {
            mqtt: { url: broker.url, ...gwAuth[i]!, reconnectPeriodMs: 200, keepaliveS: 5 },
            outbox: { flushMs: 50, batchMax: 20, storedTimeoutS: 3 },
            stateIntervalS: 0,
          },
        });
        gateways.push({ id, source, federation, registry, produced: [] });
      }
      await waitFor(() => gateways.every((g) => g.federation.publisher.connected), 15_000, 'gateways connected');

      // Every gateway produces a reading every 10 ms: distinct values, strictly increasing ts.
      const t0 = Date.now() - 60_000;
      let n = 0;
      const load = setInterval(() => {
        n++;
        for (const g of gateways) {
          const r: Reading = { device: 'ahu1', point: 'temp', value: n, quality: 'good', ts: t0 + n };
          g.produced.push(r);
          g.source.emit(r);
        }
      }, 10);
      try {
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
      } finally {
        clearInterval(load);
      }
      for (const g of gateways) g.federation.outbox.flush();
      // Every batch is receipted once the hub has it: the outboxes empty.
      await waitFor(() => gateways.every((g) => g.federation.outbox.stats().messages === 0), 120_000, 'every outbox emptied by stored receipts', 100);
      await stopHub(hub, 'SIGTERM');

      const s: HubStore = kind === 'sqlite' ? SqliteStore.open({ path: join(dir.path, 'hub.db') }) : await PostgresStore.open({ url: PG_URL, schema });
      try {
        for (const g of gateways) {
          expect(g.produced.length).toBeGreaterThan(500);
          const check = await checkStored(s, g.id, g.produced);
          expect({ gateway: g.id, ...summary(check) }).toEqual({ gateway: g.id, ...PERFECT });
        }
      } finally {
        await s.close();
      }
      // The faults were real: batches had to be sent again.
      let resent = 0;
      for (const g of gateways) resent += (await g.registry.getSingleMetric('swarmgate_federation_resent_total')?.get())?.values.reduce((a, v) => a + v.value, 0) ?? 0;
      expect(resent).toBeGreaterThan(0);
    });
  });
}

soak('sqlite', hasMosquitto);
soak('postgres', hasMosquitto && hasPostgres);

describe('soak (embedded broker, SQLite): the hub process SIGKILLed twice under load', { timeout: 300_000 }, () => {
  const dir = tempDir('swg-soak-embedded-');
  const site = 'site-soak-e';
  let hub: HubChild | undefined;
  const gateways: Gw[] = [];

  afterAll(async () => {
    for (const g of gateways) await g.federation.stop().catch(() => undefined);
    await stopHub(hub, 'SIGKILL');
    dir.remove();
  });

  it('loses and doubles nothing: the PUBACK follows the journal append and receipts cover the rest', async () => {
    mkdirSync(dir.path, { recursive: true });
    const users = credentialsFile(dir.path);
    const ids = ['gw-e1', 'gw-e2'];
    const gwAuth: Awaited<ReturnType<typeof addGatewayUser>>[] = [];
    for (const id of ids) gwAuth.push(await addGatewayUser(users, site, id));
    const port = await freePort();
    const hubFile = join(dir.path, 'hub.yaml');
    writeFileSync(hubFile, `broker:\n  mode: embedded\n  embedded: { host: 127.0.0.1, port: ${port}, credentialsFile: users.yaml }\nstore: { kind: sqlite, path: hub.db }\n`);
    hub = await spawnHub(hubFile);
    for (const [i, id] of ids.entries()) {
      const source = fakeGateway(id, site);
      const registry = new Registry();
      const federation = await startFederation({
        gateway: source,
        dataDir: join(dir.path, id),
        registry,
        config: { mqtt: { url: `mqtt://127.0.0.1:${port}`, ...gwAuth[i]!, reconnectPeriodMs: 200, keepaliveS: 5 }, outbox: { flushMs: 50, batchMax: 20, storedTimeoutS: 3 }, stateIntervalS: 0 },
      });
      gateways.push({ id, source, federation, registry, produced: [] });
    }
    await waitFor(() => gateways.every((g) => g.federation.publisher.connected), 15_000, 'gateways connected');
    const t0 = Date.now() - 60_000;
    let n = 0;
    const load = setInterval(() => {
      n++;
      for (const g of gateways) {
        const r: Reading = { device: 'ahu1', point: 'temp', value: n, quality: 'good', ts: t0 + n };
        g.produced.push(r);
        g.source.emit(r);
      }
    }, 10);
    try {
      for (let kill = 0; kill < 2; kill++) {
        await sleep(2500);
        await stopHub(hub, 'SIGKILL');
        hub = await spawnHub(hubFile);
      }
      await sleep(2500);
    } finally {
      clearInterval(load);
    }
    for (const g of gateways) g.federation.outbox.flush();
    await waitFor(() => gateways.every((g) => g.federation.outbox.stats().messages === 0), 120_000, 'every outbox emptied by stored receipts', 100);
    await stopHub(hub, 'SIGTERM');
    const s = SqliteStore.open({ path: join(dir.path, 'hub.db') });
    try {
      for (const g of gateways) {
        expect(g.produced.length).toBeGreaterThan(500);
        expect({ gateway: g.id, ...summary(await checkStored(s, g.id, g.produced)) }).toEqual({ gateway: g.id, ...PERFECT });
      }
    } finally {
      await s.close();
    }
  });
});
