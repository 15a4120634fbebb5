import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { parseHubConfig } from '../../hub/config.js';
import { startHub, type Hub } from '../../hub/index.js';
import { PostgresStore } from '../../hub/store/postgres/postgres.js';
import { GatewayStateSchema, TelemetryBatchSchema, encode, gatewayTopic } from '../../shared/wire/index.js';
import { peerOrSkip, tcpPeer } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import { addUsers, batch, connectClient, reading, uniqueId, waitFor } from './helpers.js';

const mosquitto = peerOrSkip(await tcpPeer('127.0.0.1', 1883, 'mosquitto'));
const postgres = peerOrSkip(await tcpPeer('127.0.0.1', 5432, 'postgresql'));
const PG_URL = process.env.SWARMGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const portRefuses = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });

/** A gateway's life in brief: birth, two batches (one repeated), then the hub sees it all. */
async function exercise(hub: Hub, url: string, site: string, gateway: string, auth: { username?: string; password?: string }): Promise<void> {
  const gw = await connectClient(url, { ...auth, clientId: gateway });
  try {
    await gw.publishAsync(gatewayTopic(site, gateway, 'state'), encode(GatewayStateSchema, { v: 1, gateway, site, status: 'online', ts: Date.now(), version: '9.9.9' }), { qos: 1, retain: true });
    const t = Date.now();
    const b1 = batch(gateway, 'boot-0001', 1, [reading('ahu1', 'temp', 20.5, t)]);
    for (const b of [b1, b1, batch(gateway, 'boot-0001', 2, [reading('ahu1', 'temp', 21, t + 1)])]) await gw.publishAsync(gatewayTopic(site, gateway, 'telemetry'), encode(TelemetryBatchSchema, b), { qos: 1 });
    await waitFor(async () => (await hub.store.latest(gateway))[0]?.value === 21, 5000, 'latest value');
    expect(await hub.store.history(gateway, 'ahu1', 'temp', t - 1, t + 1)).toHaveLength(2);
    expect(await hub.registry.get(gateway)).toMatchObject({ site, status: 'online', version: '9.9.9' });
    await gw.publishAsync(gatewayTopic(site, gateway, 'state'), '', { qos: 1, retain: true });
  } finally {
    await gw.endAsync(true);
  }
}

describe('startHub', () => {
  const dir = tempDir('swarmgate-hub-start-');
  afterAll(() => dir.remove());

  it('runs embedded broker + SQLite end to end and stop() closes everything', async () => {
    await addUsers(`${dir.path}/users.yaml`, [{ spec: { role: 'gateway', username: 'gw-1', site: 'site-a', gateway: 'gw-1' }, password: 'gw-1-password' }]);
    const config = parseHubConfig('broker: { embedded: { host: 127.0.0.1, port: 0, credentialsFile: users.yaml } }\nstore: { kind: sqlite, path: hub.db }\n', `${dir.path}/hub.yaml`);
    const hub = await startHub(config);
    const port = hub.broker!.port;
    try {
      await exercise(hub, hub.broker!.url, 'site-a', 'gw-1', { username: 'gw-1', password: 'gw-1-password' });
      expect(await hub.metrics.count(hub.metrics.duplicates)).toBe(1);
      // The SQLite telemetry pipeline is scraped with the rest.
      const scrape = await hub.metrics.registry.metrics();
      expect(scrape).toMatch(/^swarmgate_hub_store_buffered_readings \d+$/m);
      expect(scrape).toMatch(/^swarmgate_hub_store_flush_failures 0$/m);
    } finally {
      await hub.stop();
    }
    expect(await portRefuses(port)).toBe(true);
    // stop() committed everything and released the journal.
    expect(readdirSync(`${dir.path}/hub.db.ingest`)).toEqual([]);
    await hub.stop(); // idempotent
  });

  it.skipIf(!mosquitto || !postgres)('runs against an external Mosquitto with a PostgreSQL store', async () => {
    const site = uniqueId('site');
    const store = await PostgresStore.open({ url: PG_URL, schema: `swg_test_${randomUUID().replace(/-/g, '').slice(0, 12)}` });
    const config = parseHubConfig(`broker:\n  mode: external\n  external: { url: "mqtt://127.0.0.1:1883", shareGroup: ${uniqueId('grp')} }\nstore: { kind: postgres, url: "${PG_URL}" }\n`, `${dir.path}/hub-ext.yaml`);
    const hub = await startHub(config, { store, sites: [site] });
    try {
      await exercise(hub, 'mqtt://127.0.0.1:1883', site, 'gw-ext', {});
    } finally {
      await hub.stop();
      await store.dropSchema();
      await store.close();
    }
  });
});
