/**
 * The publisher against what the hub's broker refuses (review H2, M4):
 * - rows queued before a site move or a re-enrollment under a new gateway id go out under the
 *   gateway's current identity (topic and payload), JSON and binary alike;
 * - a row the broker closes the connection on again and again (larger than a broker's message
 *   size limit, outside the gateway's ACL) is set aside after REFUSALS_BEFORE_SET_ASIDE closes
 *   spanning REFUSAL_MIN_SPAN_MS (shortened here to SPAN, a minute in production),
 *   reported as a gap (reason refused) and kept in the dead-letter table; the rows behind it flow;
 * - a hub that sends no receipts does not make the gateway resend its backlog (Mosquitto).
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { Outbox } from '../../../edge/federation/outbox.js';
import { REFUSALS_BEFORE_SET_ASIDE, REFUSAL_MIN_SPAN_MS } from '../../../edge/federation/publisher.js';
import { startFederation, type Federation } from '../../../edge/federation/index.js';
import type { Hub } from '../../../hub/index.js';
import { EventSchema, GapRecordSchema, StoredReceiptSchema, TelemetryBatchSchema, decode, decodeTelemetry, encode, messageDigest, type TelemetryBatch } from '../../../shared/wire/index.js';
import { addGatewayUser, credentialsFile, startEmbeddedHub } from '../../e2e/support/hub.js';
import { peerOrSkip, tcpPeer } from '../../support/peers.js';
import { tempDir } from '../../support/tmp.js';
import { fakeGateway, oversizeBurst, publishTo, receivedBatches, startPeers, waitFor, type Cleanup } from './helpers.js';

const cleanups: Cleanup[] = [];
/** The refusal strikes must span this long here (REFUSAL_MIN_SPAN_MS in production): the tests stay fast. */
const SPAN = { minSpanMs: 1000 };
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function metric(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const values = (await registry.getSingleMetric(name)?.get())?.values ?? [];
  return values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((n, v) => n + v.value, 0);
}

async function embeddedHub(site: string, gateway: string, maxPayloadBytes?: number): Promise<{ hub: Hub; auth: { username: string; password: string } }> {
  const dir = tempDir('swg-pub-hub-');
  cleanups.push(() => dir.remove());
  const hub = await startEmbeddedHub({ dir: dir.path, ...(maxPayloadBytes ? { maxPayloadBytes } : {}) });
  cleanups.push(() => hub.stop());
  const auth = await addGatewayUser(credentialsFile(dir.path), site, gateway);
  return { hub, auth };
}

describe('rows queued under an earlier identity', () => {
  it('a site move: the backlog from before it is delivered to the hub after it, and the link is not refused', async () => {
    const gwDir = tempDir('swg-pub-move-');
    cleanups.push(() => gwDir.remove());
    // Queued at site-a while the hub was unreachable.
    const before = new Outbox({ path: join(gwDir.path, 'outbox.sqlite'), site: 'site-a', gateway: 'gw-9', flushMs: 10_000, batchMax: 10 });
    const t0 = Date.now();
    for (let i = 0; i < 100; i++) before.addReading({ device: 'ahu1', point: 'temp', value: i, quality: 'good', ts: t0 - 60_000 + i });
    before.close();
    const { hub, auth } = await embeddedHub('site-b', 'gw-9');
    const gw = fakeGateway('gw-9', 'site-b');
    const fed = await startFederation({ gateway: gw, dataDir: gwDir.path, registry: new Registry(), config: { mqtt: { url: hub.broker!.url, ...auth, reconnectPeriodMs: 100, reconnectMaxPeriodMs: 1000, inflight: 10 }, outbox: { flushMs: 20, batchMax: 10 }, stateIntervalS: 0 } });
    cleanups.push(() => fed.stop());
    await waitFor(() => fed.publisher.connected, 10_000, 'connect');
    for (let i = 0; i < 300; i++) gw.emit({ device: 'ahu1', point: 'temp', value: 1000 + i, quality: 'good', ts: t0 + i });
    await waitFor(() => fed.outbox.stats().messages === 0, 20_000, 'outbox drained');
    expect((await hub.store.history('gw-9', 'ahu1', 'temp', t0 - 60_001, t0 - 59_000)).length).toBe(100);
    expect((await hub.store.history('gw-9', 'ahu1', 'temp', t0 - 1, t0 + 1000)).length).toBe(300);
  }, 60_000);

  for (const encoding of ['json', 'binary'] as const) {
    it(`a new gateway id (${encoding}): telemetry and event rows go out on the new topics naming the new gateway, and their receipts delete them`, async () => {
      const { broker, dir, hub } = await startPeers(cleanups, 'swarmgate/v1/#', 'swg-pub-id-', { receipts: false });
      const old = new Outbox({ path: join(dir.path, 'outbox.sqlite'), site: 'site-a', gateway: 'gw-old', flushMs: 10_000, batchMax: 10, encoding });
      for (let i = 0; i < 30; i++) old.addReading({ device: 'ahu1', point: 'temp', value: i, quality: 'good', ts: Date.now() - 1000 + i });
      const event = encode(EventSchema, { v: 1, id: 'evt-0000001', gateway: 'gw-old', ts: Date.now(), kind: 'system', severity: 'info', message: 'queued before the move' });
      old.enqueue('swarmgate/v1/site-a/gw-old/events', 'event', event);
      const oldBoot = old.bootId;
      old.close();
      const gw = fakeGateway('gw-new', 'site-b');
      const fed = await startFederation({ gateway: gw, dataDir: dir.path, registry: new Registry(), config: { mqtt: { url: broker.url, reconnectPeriodMs: 100, inflight: 10 }, outbox: { flushMs: 20, batchMax: 10, storedTimeoutS: 60 }, stateIntervalS: 0, telemetryEncoding: encoding } });
      cleanups.push(() => fed.stop());
      await waitFor(() => fed.outbox.awaitingCount === 4, 10_000, 'three batches and the event at the broker');
      const outboxTopics = hub.messages.filter((m) => /\/(telemetry|events|gaps)$/.test(m.topic));
      expect(outboxTopics.every((m) => m.topic.startsWith('swarmgate/v1/site-b/gw-new/'))).toBe(true);
      const batches = outboxTopics.filter((m) => m.topic.endsWith('/telemetry')).map((m) => decodeTelemetry(m.topic, m.payload));
      expect(batches.map((b) => b.ok && [b.value.gateway, b.value.bootId, b.value.seq])).toEqual([0, 1, 2].map((s) => ['gw-new', oldBoot, s]));
      if (encoding === 'binary') expect(outboxTopics.find((m) => m.topic.endsWith('/telemetry'))!.payload[0]).toBe(0xb7);
      const sentEvent = outboxTopics.find((m) => m.topic.endsWith('/events'))!;
      const decoded = decode(EventSchema, sentEvent.topic, sentEvent.payload);
      expect(decoded.ok && decoded.value).toMatchObject({ gateway: 'gw-new', id: 'evt-0000001', message: 'queued before the move' });
      // The hub receipts on the new identity's topic: by (bootId, seq) and by the digest of what it got.
      await publishTo(broker.broker, 'swarmgate/v1/site-b/gw-new/stored', encode(StoredReceiptSchema, { v: 1, ts: Date.now(), batches: [{ bootId: oldBoot, from: 0, to: 2 }], messages: [messageDigest(sentEvent.payload)] }));
      await waitFor(() => fed.outbox.stats().messages === 0, 5000, 'receipted and deleted');
    });
  }
});

describe('a row the broker keeps refusing', () => {
  it('an oversize batch (a broker with a message size limit) is set aside after repeated refusals: dead letter, gap record reason refused, metrics; every later batch is delivered', async () => {
    // An external broker's message size limit, and a ~100 kB batch of a device's status strings.
    const { hub, gw, fed, registry, t0 } = await oversizeBurst(cleanups, 'swg-pub-size-', { refusal: SPAN });
    const limit = 64 * 1024;
    for (let i = 0; i < 200; i++) gw.emit({ device: 'ahu1', point: 'temp', value: i, quality: 'good', ts: t0 + 1000 + i * 10 });
    const batches = (): TelemetryBatch[] => receivedBatches(hub);
    await waitFor(() => fed.outbox.stats().messages === 0, 20_000, 'outbox drained');
    expect(new Set(batches().flatMap((b) => b.readings.filter((r) => typeof r.v === 'number').map((r) => r.ts))).size).toBe(200);
    expect(batches().some((b) => b.seq === 0)).toBe(false);
    const dead = fed.outbox.deadLetters();
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ kind: 'telemetry', batchSeq: 0, readings: 100, reason: 'refused', topic: 'swarmgate/v1/site-a/gw-1/telemetry' });
    expect(dead[0]!.payload.length).toBeGreaterThan(limit);
    expect(await metric(registry, 'swarmgate_federation_dropped_total', { kind: 'telemetry', reason: 'refused' })).toBe(1);
    expect(await metric(registry, 'swarmgate_federation_dropped_readings_total', { reason: 'refused' })).toBe(100);
    // The hub is told what it will never get.
    const gaps = hub.messages.filter((m) => m.topic.endsWith('/gaps')).map((m) => decode(GapRecordSchema, m.topic, m.payload));
    expect(gaps.map((g) => g.ok && g.value)).toEqual([expect.objectContaining({ gateway: 'gw-1', bootId: fed.bootId, fromSeq: 0, toSeq: 0, readingsDropped: 100, reason: 'refused' })]);
    expect(REFUSALS_BEFORE_SET_ASIDE).toBe(5);
    expect(REFUSAL_MIN_SPAN_MS).toBe(60_000);
  }, 60_000);

  it("a message outside the gateway's ACL (the hub's embedded broker) is set aside; the readings behind it reach the hub's store", async () => {
    const { hub, auth } = await embeddedHub('site-a', 'gw-1');
    const gwDir = tempDir('swg-pub-acl-');
    cleanups.push(() => gwDir.remove());
    const gw = fakeGateway('gw-1', 'site-a');
    const registry = new Registry();
    const fed: Federation = await startFederation({ gateway: gw, dataDir: gwDir.path, registry, refusal: SPAN, config: { mqtt: { url: hub.broker!.url, ...auth, reconnectPeriodMs: 100, reconnectMaxPeriodMs: 1000, inflight: 10 }, outbox: { flushMs: 20, batchMax: 10 }, stateIntervalS: 0 } });
    cleanups.push(() => fed.stop());
    await waitFor(() => fed.publisher.connected, 10_000, 'connect');
    // A message on a topic this hub does not let gateways write (here: a wire version it does not know).
    fed.outbox.enqueue('swarmgate/v2/site-a/gw-1/events', 'other', Buffer.from('{"v":2}'));
    const t0 = Date.now();
    for (let i = 0; i < 200; i++) gw.emit({ device: 'ahu1', point: 'temp', value: i, quality: 'good', ts: t0 + i * 10 });
    await waitFor(() => fed.outbox.stats().messages === 0, 20_000, 'outbox drained');
    expect((await hub.store.history('gw-1', 'ahu1', 'temp', t0 - 1, t0 + 10_000)).length).toBe(200);
    expect(fed.outbox.deadLetters()).toEqual([expect.objectContaining({ kind: 'other', topic: 'swarmgate/v2/site-a/gw-1/events', reason: 'refused' })]);
    expect(await metric(registry, 'swarmgate_federation_dropped_total', { kind: 'other', reason: 'refused' })).toBe(1);
  }, 60_000);

  it('a gap record with reason refused is valid on the wire', () => {
    const gap = { v: 1 as const, gateway: 'gw-1', bootId: 'boot-0001', fromSeq: 3, toSeq: 3, readingsDropped: 10, fromTs: 1, toTs: 2, reason: 'refused' as const, ts: 3 };
    const r = decode(GapRecordSchema, 'swarmgate/v1/site-a/gw-1/gaps', encode(GapRecordSchema, gap));
    expect(r.ok).toBe(true);
  });
});

const mosquitto = peerOrSkip(await tcpPeer('127.0.0.1', 1883, 'mosquitto'));

describe('a hub that sends no receipts', () => {
  it.skipIf(!mosquitto)('the gateway does not resend its backlog every storedTimeoutS (Mosquitto)', async () => {
    const dir = tempDir('swg-pub-resend-');
    cleanups.push(() => dir.remove());
    const id = `gw-rs-${randomUUID().slice(0, 6)}`;
    const sub = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { clientId: `pub-test-sub-${id}`, clean: true });
    cleanups.push(() => sub.endAsync());
    let received = 0;
    const distinct = new Set<string>();
    sub.on('message', (topic, payload) => {
      const d = decode(TelemetryBatchSchema, topic, payload);
      if (!d.ok) return;
      received++;
      distinct.add(`${d.value.bootId}:${d.value.seq}`);
    });
    await sub.subscribeAsync(`swarmgate/v1/site-rs/${id}/telemetry`, { qos: 1 });
    const gw = fakeGateway(id, 'site-rs');
    const registry = new Registry();
    const fed = await startFederation({ gateway: gw, dataDir: dir.path, registry, config: { mqtt: { url: 'mqtt://127.0.0.1:1883', reconnectPeriodMs: 100, inflight: 20 }, outbox: { flushMs: 20, batchMax: 10, storedTimeoutS: 1 }, stateIntervalS: 0 } });
    cleanups.push(() => fed.stop());
    await waitFor(() => fed.publisher.connected, 10_000, 'connect');
    for (let i = 0; i < 2000; i++) gw.emit({ device: 'ahu1', point: 'temp', value: i, quality: 'good', ts: Date.now() - 10_000 + i });
    await new Promise((r) => setTimeout(r, 6000));
    expect(distinct.size).toBe(200);
    // One probe (an in-flight window, 20) per round, the rounds 1 s, 2 s, 4 s apart: not 200 per second.
    expect(received).toBeLessThan(distinct.size + 3 * 20);
    expect(await metric(registry, 'swarmgate_federation_resent_total', { cause: 'timeout' })).toBe(0);
    expect(await metric(registry, 'swarmgate_federation_resent_total', { cause: 'probe' })).toBeLessThanOrEqual(3 * 20);
    // Nothing deleted without a receipt.
    expect(fed.outbox.stats().messages).toBe(200);
  }, 60_000);
});
