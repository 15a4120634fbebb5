/**
 * Fleet priors through an external broker (the machine's Mosquitto): the hub's ingest client both
 * receives the gateways' `prior` and `prior/request` messages and sends the answer on
 * `prior/fleet`. The answer waits for the broker's PUBACK, which that same client reads: sent from
 * inside the handling of the request, it locked the client (no further message of any kind was
 * taken). Here two gateways share, a third asks and gets the fleet prior, and the hub goes on
 * storing telemetry afterwards.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHubConfig } from '../../../hub/config.js';
import { startHub, type Hub } from '../../../hub/index.js';
import { decode, encode, FleetPriorMessageSchema, gatewayTopic, PriorMessageSchema, PriorRequestSchema, priorKey, TelemetryBatchSchema } from '../../../shared/wire/index.js';
import { peerOrSkip, tcpPeer } from '../../support/peers.js';
import { tempDir } from '../../support/tmp.js';
import { connectClient, waitFor } from '../helpers.js';
import { learnedPrior } from './support.js';

const available = peerOrSkip(await tcpPeer('127.0.0.1', 1883, 'mosquitto'));

describe.skipIf(!available)('fleet priors through external Mosquitto', () => {
  const dir = tempDir('swg-prior-ext-');
  const site = `pe-${randomUUID().slice(0, 8)}`;
  const key = priorKey({ profile: 'ahu-modbus', point: 'supply_air_temp' });
  let hub: Hub;

  beforeAll(async () => {
    const yaml = `broker:\n  mode: external\n  external: { url: "mqtt://127.0.0.1:1883", shareGroup: g-${randomUUID().slice(0, 6)} }\nstore: { kind: sqlite, path: hub.db }\n`;
    hub = await startHub(parseHubConfig(yaml, join(dir.path, 'hub.yaml')), { sites: [site], retentionIntervalMs: 0 });
  }, 120_000);

  afterAll(async () => {
    await hub?.stop();
    dir.remove();
  });

  it('answers a request for a fleet prior and goes on ingesting', async () => {
    const prior = await learnedPrior(4);
    const clients = await Promise.all(['gw-a', 'gw-b', 'gw-new'].map((id) => connectClient('mqtt://127.0.0.1:1883', { clientId: `${site}-${id}` })));
    const [a, b, newcomer] = clients as [(typeof clients)[0], (typeof clients)[0], (typeof clients)[0]];
    try {
      for (const [client, gateway] of [[a, 'gw-a'], [b, 'gw-b']] as const) {
        await client.publishAsync(gatewayTopic(site, gateway, 'prior'), encode(PriorMessageSchema, { v: 1, key, device: 'ahu1', point: 'supply_air_temp', prior }), { qos: 1 });
      }
      const answer = new Promise<unknown>((resolve) => newcomer.on('message', (topic, payload) => topic.endsWith('/prior/fleet') && resolve(decode(FleetPriorMessageSchema, topic, payload))));
      await newcomer.subscribeAsync(gatewayTopic(site, 'gw-new', 'prior/fleet'), { qos: 1 });
      // Asked until the fleet prior exists (it is chosen in the background after each publish).
      const asking = setInterval(() => void newcomer.publishAsync(gatewayTopic(site, 'gw-new', 'prior/request'), encode(PriorRequestSchema, { v: 1, keys: [key] }), { qos: 1 }).catch(() => undefined), 300);
      try {
        const got = await Promise.race([answer, new Promise((_, reject) => setTimeout(() => reject(new Error('no fleet prior within 15 s')), 15_000))]);
        expect(got).toMatchObject({ ok: true, value: { key, members: 2 } });
      } finally {
        clearInterval(asking);
      }
      // The ingest client still takes messages: a telemetry batch after the answers is stored.
      const batch = { v: 1 as const, gateway: 'gw-new', bootId: randomUUID(), seq: 1, sentAt: Date.now(), historical: false, readings: [{ d: 'ahu1', p: 'supply_air_temp', v: 14.5, q: 'good' as const, ts: Date.now() }] };
      await newcomer.publishAsync(gatewayTopic(site, 'gw-new', 'telemetry'), encode(TelemetryBatchSchema, batch), { qos: 1 });
      await waitFor(async () => (await hub.store.latest('gw-new')).length === 1 || undefined, 10_000, 'the batch after the answers stored');
    } finally {
      for (const c of clients) await c.endAsync(true);
    }
  }, 60_000);
});
