/**
 * Plain point topics across a reconnect: the value kept from the outage is published when the link
 * is back, unless a newer value of that point went out live first. mqtt.js reports the link
 * connected (connected = true) before it emits 'connect' (it replays its store in between), so a
 * reading can go out live before the catch-up runs; the older kept value must not overwrite it.
 */
import type { MqttClient } from 'mqtt';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { PointValueMessageSchema, decode } from '../../../shared/wire/index.js';
import { startFederation } from '../../../edge/federation/index.js';
import { fakeGateway, startPeers, waitFor, type Cleanup, type Received } from './helpers.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const PREFIX = 'swarmgate/v1/site-a/gw-1';
const TOPIC = `${PREFIX}/points/ahu1/temp`;

const valueOf = (payload: Buffer): unknown => {
  const d = decode(PointValueMessageSchema, TOPIC, payload);
  if (!d.ok) throw new Error(d.error);
  return d.value.v;
};

describe('plain point topics across a reconnect (aedes)', () => {
  it('a value kept during the outage does not overwrite a newer one published live before the catch-up', async () => {
    const { broker, dir, hub } = await startPeers(cleanups, `${PREFIX}/points/#`);
    const gw = fakeGateway('gw-1', 'site-a');
    const fed = await startFederation({
      gateway: gw,
      dataDir: dir.path,
      config: { mqtt: { url: broker.url, reconnectPeriodMs: 100 }, outbox: { flushMs: 20 }, stateIntervalS: 0, integration: { plainTopics: { enabled: true } } },
    });
    cleanups.push(() => fed.stop());
    await waitFor(() => fed.publisher.connected, 5000, 'connect');
    gw.emit({ device: 'ahu1', point: 'temp', value: 18, quality: 'good', ts: 1_700_000_000_000 });
    await waitFor(() => hub.messages.some((m) => m.topic === TOPIC), 5000, 'first value');

    await broker.goDown();
    await waitFor(() => !fed.publisher.connected, 5000, 'link down');
    // During the outage: kept as the point's latest unpublished value.
    gw.emit({ device: 'ahu1', point: 'temp', value: 19, quality: 'good', ts: 1_700_000_001_000 });

    // The reading that arrives after mqtt.js says connected, before the federation hears 'connect'
    // (as one does while mqtt.js replays its store): first in line of the client's connect listeners.
    const client = (fed.publisher as unknown as { client: MqttClient }).client;
    let live = false;
    client.prependOnceListener('connect', () => {
      live = client.connected;
      gw.emit({ device: 'ahu1', point: 'temp', value: 20, quality: 'good', ts: 1_700_000_002_000 });
    });
    const delivered = (v: number) => (m: Received) => m.topic === TOPIC && valueOf(m.payload) === v;
    await broker.comeBack();
    await waitFor(() => hub.messages.some(delivered(20)), 10_000, 'the newer value after the reconnect');
    expect(live).toBe(true);
    // The catch-up ran right after the listener above (the federation's own 'connect' handling), so
    // a stale value went out on the same connection just behind 20, before a new subscriber's round
    // trips: what the broker retains for it is the last value the gateway published.
    const late = await mqtt.connectAsync(broker.url, { clientId: 'bms-late', reconnectPeriod: 0 });
    cleanups.push(() => late.endAsync());
    const retained = new Promise<Buffer>((resolve) => late.on('message', (_t, p, packet) => packet.retain && resolve(p)));
    await late.subscribeAsync(TOPIC, { qos: 0 });
    expect(valueOf(await retained)).toBe(20);
    expect(hub.messages.filter((m) => m.topic === TOPIC).map((m) => valueOf(m.payload))).toEqual([18, 20]);
  });
});
