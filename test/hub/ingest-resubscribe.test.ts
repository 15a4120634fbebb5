/**
 * External mode keeps receiving after the broker forgets its subscriptions. A real hub (external
 * mode, persistent session, shared subscriptions) on a Mosquitto of the test's own; a plain
 * MQTT.js client plays the gateway and never resends, so what the hub does not receive is lost.
 * - Mosquitto restarted (SIGTERM, persistence on) restores the hub's session without its shared
 *   subscriptions and says the session is present: the hub must subscribe again anyway.
 * - Subscriptions lost behind the hub's back while a gateway is online: the watchdog notices the
 *   silence, says so, counts it and subscribes again.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { parseHubConfig } from '../../hub/config.js';
import { startHub, type Hub } from '../../hub/index.js';
import { GatewayStateSchema, encode, gatewayTopic } from '../../shared/wire/index.js';
import { MOSQUITTO_BIN, ownMosquitto, type OwnMosquitto } from '../support/mosquitto.js';
import { peerOrSkip } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import { addUsers, batch, connectClient, endAll, reading, waitFor } from './helpers.js';

const hasMosquitto = peerOrSkip({ available: existsSync(MOSQUITTO_BIN), reason: 'mosquitto binary not found: apt-get install -y mosquitto' });
const SITE = 'site-r';

describe.skipIf(!hasMosquitto)('external-mode ingest subscribes again', { timeout: 120_000 }, () => {
  const dir = tempDir('swg-resub-');
  let broker: OwnMosquitto;
  let hub: Hub | undefined;
  let gw: MqttClient | undefined;

  const startGateway = async (): Promise<MqttClient> => {
    const c = await connectClient(broker.url, { username: 'gw-r', password: 'gw-r-password', clientId: 'gw-r', reconnectPeriod: 100 });
    await c.publishAsync(gatewayTopic(SITE, 'gw-r', 'state'), encode(GatewayStateSchema, { v: 1, gateway: 'gw-r', site: SITE, status: 'online', ts: Date.now() }), { qos: 1, retain: true });
    return c;
  };
  const send = async (seq: number, value: number): Promise<void> => {
    await gw!.publishAsync(gatewayTopic(SITE, 'gw-r', 'telemetry'), JSON.stringify(batch('gw-r', 'boot-resub', seq, [reading('ahu1', 'temp', value, Date.now())])), { qos: 1 });
  };
  const stored = (value: number) => async (): Promise<true | undefined> => ((await hub!.store.latest('gw-r'))[0]?.value === value ? true : undefined);

  beforeAll(async () => {
    const users = join(dir.path, 'users.yaml');
    await addUsers(users, [
      { spec: { role: 'hub', username: 'hub-r' }, password: 'hub-r-password' },
      { spec: { role: 'gateway', username: 'gw-r', site: SITE, gateway: 'gw-r' }, password: 'gw-r-password' },
    ]);
    broker = await ownMosquitto(join(dir.path, 'mosquitto'), users, { username: 'hub-r', password: 'hub-r-password' });
    const yaml = `broker:\n  mode: external\n  external: { url: "${broker.url}", username: hub-r, password: hub-r-password, shareGroup: grp-r, clientId: hub-r-1, persistentSession: true, stallAfterS: 3 }\nstore: { kind: sqlite, path: hub.db }\n`;
    hub = await startHub(parseHubConfig(yaml, join(dir.path, 'hub.yaml')), { retentionIntervalMs: 0 });
    gw = await startGateway();
    await waitFor(async () => ((await hub!.registry.get('gw-r'))?.status === 'online' ? true : undefined), 10_000, 'gateway online');
  });

  afterAll(async () => {
    await endAll([gw]);
    await hub?.stop();
    await broker?.stop('SIGTERM');
    dir.remove();
  });

  it('after a Mosquitto restart (session present, shared subscriptions gone)', async () => {
    await send(1, 1);
    await waitFor(stored(1), 10_000, 'first batch stored');
    await broker.stop('SIGTERM');
    await broker.start();
    const reconnectResubscribes = async (): Promise<number> => ((await hub!.metrics.resubscribes.get()).values.find((v) => v.labels.cause === 'reconnect')?.value ?? 0);
    await waitFor(async () => ((await reconnectResubscribes()) >= 1 ? true : undefined), 20_000, 'the hub to subscribe again after reconnecting');
    await waitFor(() => (gw!.connected ? true : undefined), 10_000, 'gateway reconnected');
    await send(2, 2);
    await waitFor(stored(2), 10_000, 'a batch published after the restart stored');
  });

  it('the watchdog notices subscriptions that stopped delivering while a gateway is online', async () => {
    // Lose the subscriptions behind the hub's back (a broker that forgot them without a reconnect).
    await hub!.mqtt.unsubscribeAsync([...hub!.ingest.subscriptions]);
    const stallsBefore = await hub!.metrics.count(hub!.metrics.ingestStalls);
    await send(3, 3); // lost: nobody is subscribed, and the registry still shows the gateway online
    await waitFor(async () => ((await hub!.metrics.count(hub!.metrics.ingestStalls)) > stallsBefore ? true : undefined), 20_000, 'a stall counted');
    await send(4, 4);
    await waitFor(stored(4), 10_000, 'a batch published after the watchdog resubscribed stored');
  });
});
