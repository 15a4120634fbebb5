/**
 * Security over the real path (edge app → embedded broker with per-gateway credentials → hub).
 * The broker rules themselves are tested with plain clients in test/hub/broker-security.test.ts;
 * here a real gateway is on one side and the hub store on the other:
 * - a gateway with a wrong password is refused again and again, counted, nothing of it stored;
 *   once the hub has its password it delivers its whole backlog (it kept retrying);
 * - a gateway whose credentials belong to another gateway id cannot publish into that subtree
 *   (births, telemetry): refused, counted, nothing stored;
 * - a stolen gateway credential cannot subscribe to '#' or another gateway's subtree while real
 *   traffic flows, and oversized or malformed payloads sent with it are refused and counted,
 *   nothing of them stored, the real gateway's readings stored exactly once all the same.
 */
import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/index.js';
import { TelemetryBatchSchema, encode, gatewayTopic } from '../../shared/wire/index.js';
import { startEdge, writeEdgeConfig, type InProcessEdge } from './support/edge.js';
import { addGatewayUser, credentialsFile, type Auth } from './support/hub.js';
import { embeddedRig } from './support/rig.js';
import { PERFECT, reportedInOrder, summary, waitStored } from './support/stored.js';
import { sleep, uniqueId, waitFor } from './support/util.js';

const SITE = 'site-sec';
const rig = embeddedRig('swg-e2e-sec-', 13);
const { dir, cleanups } = rig;

async function gateway(id: string, auth: Auth): Promise<InProcessEdge> {
  const file = writeEdgeConfig(dir.path, {
    id,
    site: SITE,
    dataDir: `${dir.path}/${id}`,
    facility: rig.facility.endpoints,
    pollMs: 100,
    federation: { mqtt: { url: rig.hub.broker!.url, ...auth, reconnectPeriodMs: 300, keepaliveS: 5 }, outbox: { flushMs: 50 }, stateIntervalS: 0 },
  });
  const edge = await startEdge(file);
  cleanups.push(() => edge.stop());
  return edge;
}

/** A plain MQTT client; with a gateway's credentials it must use one of that gateway's client ids. */
async function plainClient(auth: Auth, clientId = `intruder-${randomUUID().slice(0, 8)}`): Promise<MqttClient> {
  const c = await mqtt.connectAsync(rig.hub.broker!.url, { ...auth, clientId, reconnectPeriod: 0, connectTimeout: 5000 });
  cleanups.push(() => c.endAsync(true));
  return c;
}

/** QoS granted for one subscription; 128 = refused (MQTT.js reports it as an error). */
async function granted(client: MqttClient, filter: string): Promise<number> {
  try {
    return (await client.subscribeAsync(filter, { qos: 1 }))[0]?.qos ?? -1;
  } catch (err) {
    const first = (err as { packet?: { granted?: (number | { qos: number })[] } }).packet?.granted?.[0];
    if (first === undefined) throw err;
    return typeof first === 'number' ? first : first.qos;
  }
}

const count = (c: Parameters<Hub['metrics']['count']>[0]): Promise<number> => rig.hub.metrics.count(c);
const connected = (edge: InProcessEdge): boolean => edge.app.federation?.publisher.connected === true;

describe('security across gateway and hub', () => {
  it('wrong password: refused on every retry, counted, nothing stored; the backlog arrives once the hub has the password', async () => {
    const id = uniqueId('gw-pw');
    await addGatewayUser(credentialsFile(dir.path), SITE, id, 'the-right-password');
    const failuresBefore = await count(rig.hub.metrics.authFailures);
    const edge = await gateway(id, { username: id, password: 'a-wrong-password' });
    await waitFor(async () => (await count(rig.hub.metrics.authFailures)) >= failuresBefore + 3, 10_000, 'three refused connects');
    expect(connected(edge)).toBe(false);
    expect(await rig.hub.registry.get(id)).toBeUndefined();
    expect(await rig.hub.store.latest(id)).toEqual([]);
    await waitFor(() => edge.reported.length >= 40, 15_000, 'readings kept while refused');
    expect(edge.app.federation!.outbox.stats().messages).toBeGreaterThan(0);

    // The operator rotates the hub side to the password the gateway has; no restart on either side.
    await addGatewayUser(credentialsFile(dir.path), SITE, id, 'a-wrong-password');
    await waitFor(() => connected(edge), 10_000, 'connected after the rotation');
    await edge.app.gateway.stop();
    const check = await waitStored(rig.hub.store, id, edge.reported);
    expect(reportedInOrder(edge.reported)).toBe(true);
    expect(summary(check)).toEqual(PERFECT);
  });

  it("a gateway using another gateway's credentials is refused at connect (its client id is not that gateway's)", async () => {
    const owner = uniqueId('gw-owner');
    const impostor = uniqueId('gw-imp');
    const auth = await addGatewayUser(credentialsFile(dir.path), SITE, owner);
    const rejectedBefore = await count(rig.hub.metrics.clientIdRejected);
    const edge = await gateway(impostor, auth);
    await waitFor(() => edge.reported.length >= 20, 15_000, 'impostor readings');
    await waitFor(async () => (await count(rig.hub.metrics.clientIdRejected)) >= rejectedBefore + 2, 10_000, 'refused connects');
    expect(connected(edge)).toBe(false);
    await sleep(500);
    expect(await rig.hub.registry.get(impostor)).toBeUndefined();
    expect(await rig.hub.store.latest(impostor)).toEqual([]);
    expect(await rig.hub.registry.get(owner)).toBeUndefined();
    expect(await rig.hub.store.latest(owner)).toEqual([]);
    // Nothing was acknowledged: the impostor's readings are all still in its outbox.
    expect(edge.app.federation!.outbox.stats().messages).toBeGreaterThan(0);
  });

  it("a stolen credential: no '#', no other gateway's subtree, oversized and malformed payloads refused; the real stream is intact", async () => {
    const victim = uniqueId('gw-real');
    const other = uniqueId('gw-other');
    const victimAuth = await addGatewayUser(credentialsFile(dir.path), SITE, victim);
    const otherEdge = await gateway(other, await addGatewayUser(credentialsFile(dir.path), SITE, other));
    const edge = await gateway(victim, victimAuth);
    await waitFor(() => connected(edge) && connected(otherEdge) && edge.reported.length >= 20, 20_000, 'both streaming');

    // Under the victim's Sparkplug id: its own id would throw the running gateway off (same user).
    const spy = await plainClient(victimAuth, `${victim}-spb`);
    const seen: string[] = [];
    spy.on('message', (topic) => void seen.push(topic));
    const subDeniedBefore = await count(rig.hub.metrics.subscribeDenied);
    expect(await granted(spy, '#')).toBe(128);
    expect(await granted(spy, `swarmgate/v1/${SITE}/+/telemetry`)).toBe(128);
    expect(await granted(spy, `${gatewayTopic(SITE, other, 'telemetry')}`)).toBe(128);
    expect(await count(rig.hub.metrics.subscribeDenied)).toBe(subDeniedBefore + 3);
    await sleep(1000);
    expect(seen.filter((t) => t.includes(other))).toEqual([]);

    const rejected: string[] = [];
    const off = rig.hub.events.on('rejected', ({ reason }) => void rejected.push(reason));
    const topic = gatewayTopic(SITE, victim, 'telemetry');
    const fake = { v: 1 as const, gateway: victim, bootId: 'forged-boot', seq: 1, sentAt: Date.now(), historical: false, readings: [{ d: 'ahu1', p: 'forged_point', v: 1, q: 'good' as const, ts: Date.now() }] };
    await spy.publishAsync(topic, '{"v":1,"gateway":', { qos: 1 });
    await spy.publishAsync(topic, JSON.stringify({ ...fake, readings: [{ d: 'ahu1', p: 'Not A Point', v: 1, q: 'good', ts: 1 }] }), { qos: 1 });
    await waitFor(() => rejected.length >= 2, 5000, 'malformed payloads rejected by ingest');
    off();
    expect(rejected.sort()).toEqual(['not-json', 'schema']);

    const tooLargeBefore = await count(rig.hub.metrics.payloadRejected);
    const big = encode(TelemetryBatchSchema, { ...fake, readings: Array.from({ length: 6000 }, (_, i) => ({ d: 'ahu1', p: 'forged_point', v: 'x'.repeat(40), q: 'good' as const, ts: i })) });
    expect(big.length).toBeGreaterThan(256 * 1024);
    const closedByBroker = new Promise<void>((resolve) => spy.once('close', () => resolve()));
    spy.publish(topic, big, { qos: 1 });
    await closedByBroker;
    expect(await count(rig.hub.metrics.payloadRejected)).toBeGreaterThan(tooLargeBefore);

    await edge.app.gateway.stop();
    await otherEdge.app.gateway.stop();
    const check = await waitStored(rig.hub.store, victim, edge.reported);
    expect(summary(check)).toEqual(PERFECT);
    expect(await rig.hub.store.history(victim, 'ahu1', 'forged_point', 0, 8.64e15)).toEqual([]);
    expect(summary(await waitStored(rig.hub.store, other, otherEdge.reported))).toEqual(PERFECT);
  });
});
