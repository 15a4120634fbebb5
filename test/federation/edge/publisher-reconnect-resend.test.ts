/**
 * Resends after reconnects, against the machine's Mosquitto (127.0.0.1:1883) and a real hub ingest
 * (SQLite store, stored receipts). The gateway reaches the broker through a TCP proxy of the test's
 * own that counts every telemetry PUBLISH the broker receives and that the test cuts to flap the
 * link; it can also hold back what the broker sends (PUBACKs, stored receipts), as a link that
 * drops mid-flight does. Counts, not times, are asserted.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFederation, type Federation } from '../../../edge/federation/index.js';
import { HubEvents } from '../../../hub/events.js';
import { Ingest } from '../../../hub/ingest/ingest.js';
import { HubMetrics } from '../../../hub/metrics.js';
import { GatewayRegistry } from '../../../hub/registry/registry.js';
import { SqliteStore } from '../../../hub/store/sqlite/sqlite.js';
import { StoredReceiptSchema, decode, encode, gatewayTopic, type StoredReceipt } from '../../../shared/wire/index.js';
import { waitFor as waitForProbe } from '../../hub/helpers.js';
import { peerOrSkip, tcpPeer } from '../../support/peers.js';
import { tempDir } from '../../support/tmp.js';
import { fakeGateway, uniqueId, waitFor, type Cleanup, type FakeGateway } from './helpers.js';

const HOST = '127.0.0.1';
const PORT = 1883;
const available = peerOrSkip(await tcpPeer(HOST, PORT, 'mosquitto'));

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface MeteredProxy {
  readonly url: string;
  /** The batch seq of every telemetry publish the broker received, in order. */
  readonly telemetry: number[];
  /** Batch seqs the gateway got a stored receipt for. */
  readonly receipted: Set<number>;
  /** Stored receipts handed to the gateway that it has not acknowledged (handled) yet. */
  readonly unhandledReceipts: () => number;
  /** State publishes (one per connection, right after its CONNACK and the client's store replay). */
  readonly births: () => number;
  /**
   * What the broker sends the gateway and the proxy leaves out: PUBACKs while `pubacks`; the
   * batches `receipts` says of from stored receipts (a receipt left naming nothing is dropped).
   */
  hold: { pubacks: boolean; receipts: (batchSeq: number) => boolean };
  /** Cuts every connection (the proxy keeps listening: the gateway reconnects). */
  cut(): void;
}

function decodeReceipt(payload: Buffer): StoredReceipt {
  const r = decode(StoredReceiptSchema, 'stored', payload);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

/** A stored receipt without the batches `left` says of; undefined when it names nothing then. */
function withoutBatches(payload: Buffer, left: (batchSeq: number) => boolean): Buffer | undefined {
  const receipt = decodeReceipt(payload);
  const batches: StoredReceipt['batches'] = [];
  for (const b of receipt.batches) {
    let from: number | undefined;
    for (let seq = b.from; seq <= b.to + 1; seq++) {
      const keep = seq <= b.to && !left(seq);
      if (keep && from === undefined) from = seq;
      if (!keep && from !== undefined) {
        batches.push({ bootId: b.bootId, from, to: seq - 1 });
        from = undefined;
      }
    }
  }
  if (batches.length === 0 && !receipt.messages?.length) return undefined;
  return encode(StoredReceiptSchema, { ...receipt, batches });
}

async function meteredProxy(): Promise<MeteredProxy> {
  const socks = new Set<Socket>();
  const telemetry: number[] = [];
  let births = 0;
  // Packet ids of the receipts on the current connection, until the gateway's PUBACK.
  const receiptIds = new Set<number>();
  const proxy: MeteredProxy = {
    url: '',
    telemetry,
    receipted: new Set(),
    unhandledReceipts: () => receiptIds.size,
    births: () => births,
    hold: { pubacks: false, receipts: () => false },
    cut: () => {
      for (const s of socks) s.destroy();
    },
  };
  const server: Server = createServer((client) => {
    receiptIds.clear();
    const up = createConnection(PORT, HOST);
    for (const s of [client, up]) {
      socks.add(s);
      s.on('close', () => socks.delete(s));
      s.on('error', () => s.destroy());
    }
    client.on('close', () => up.destroy());
    up.on('close', () => client.destroy());
    // Gateway -> broker: forwarded as it is, and read to count.
    const fromClient = mqttPacket.parser({ protocolVersion: 4 });
    fromClient.on('packet', (p: Packet) => {
      if (p.cmd === 'puback' && p.messageId !== undefined) receiptIds.delete(p.messageId);
      if (p.cmd !== 'publish') return;
      if (p.topic.endsWith('/state')) births++;
      if (!p.topic.endsWith('/telemetry')) return;
      const head = JSON.parse(Buffer.from(p.payload).toString('utf8')) as { seq: number };
      telemetry.push(head.seq);
    });
    client.on('data', (d) => {
      fromClient.parse(d);
      up.write(d);
    });
    // Broker -> gateway: packet by packet, leaving out what is held back.
    const fromBroker = mqttPacket.parser({ protocolVersion: 4 });
    fromBroker.on('packet', (p: Packet) => {
      if (proxy.hold.pubacks && p.cmd === 'puback') return;
      if (p.cmd === 'publish' && p.topic.endsWith('/stored')) {
        const kept = withoutBatches(Buffer.from(p.payload), proxy.hold.receipts);
        if (!kept) return;
        for (const b of decodeReceipt(kept).batches) for (let seq = b.from; seq <= b.to; seq++) proxy.receipted.add(seq);
        if (p.messageId !== undefined) receiptIds.add(p.messageId);
        p = { ...p, payload: kept };
      }
      if (!client.destroyed) client.write(mqttPacket.generate(p, { protocolVersion: 4 }));
    });
    up.on('data', (d) => fromBroker.parse(d));
  });
  await new Promise<void>((r) => server.listen(0, HOST, () => r()));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of socks) s.destroy();
        server.close(() => r());
      }),
  );
  return Object.assign(proxy, { url: `mqtt://${HOST}:${(server.address() as { port: number }).port}` });
}

describe.skipIf(!available)('resends after reconnects (real Mosquitto, real hub ingest)', () => {
  const site = uniqueId('swgr').slice(0, 60);
  const dir = tempDir('swg-pub-resend-');
  const sessions = new Set<string>();
  let store: SqliteStore;

  beforeAll(() => {
    store = SqliteStore.open({ path: `${dir.path}/hub.db` });
  });

  afterAll(async () => {
    // Leave the shared broker as we found it: no retained births, no persistent sessions.
    const c = await mqtt.connectAsync(`mqtt://${HOST}:${PORT}`, { clientId: uniqueId('swgr-clean'), clean: true, reconnectPeriod: 0 });
    for (const id of sessions) await c.publishAsync(gatewayTopic(site, id, 'state'), '', { qos: 1, retain: true });
    await c.endAsync();
    for (const id of sessions) {
      const s = await mqtt.connectAsync(`mqtt://${HOST}:${PORT}`, { clientId: id, clean: true, reconnectPeriod: 0 });
      await s.endAsync();
    }
    await store?.close();
    dir.remove();
  });

  /** The hub's ingest for this site (stored receipts on), until the test ends or `stop`. */
  async function startHub(): Promise<{ ingest: Ingest; stop(): Promise<void> }> {
    const client: MqttClient = await mqtt.connectAsync(`mqtt://${HOST}:${PORT}`, { clientId: uniqueId('swgr-hub'), clean: true, reconnectPeriod: 0 });
    const events = new HubEvents();
    const registry = new GatewayRegistry({ store, events, touchIntervalMs: 0 });
    const ingest = new Ingest({ client, store, events, registry, metrics: new HubMetrics(), shareGroup: uniqueId('grp'), sites: [site], maxRetryDelayMs: 50 });
    await ingest.start();
    let stopped = false;
    const stop = async (): Promise<void> => {
      if (stopped) return;
      stopped = true;
      await ingest.stop();
      await client.endAsync(true);
    };
    cleanups.push(stop);
    return { ingest, stop };
  }

  async function startGateway(id: string, proxy: MeteredProxy, inflight: number): Promise<{ fed: Federation; gw: FakeGateway }> {
    const data = tempDir('swg-pub-resend-gw-');
    cleanups.push(() => data.remove());
    sessions.add(id);
    const gw = fakeGateway(id, site);
    const fed = await startFederation({
      gateway: gw,
      dataDir: data.path,
      registry: new Registry(),
      config: {
        mqtt: { url: proxy.url, reconnectPeriodMs: 100, reconnectMaxPeriodMs: 200, inflight },
        // No receipt-timeout resend or probe within a test: what is counted is what reconnects cause.
        outbox: { flushMs: 20, batchMax: 10, storedTimeoutS: 3600 },
        stateIntervalS: 0,
      },
    });
    cleanups.push(() => fed.stop());
    await waitFor(() => fed.publisher.connected, 10_000, 'connect');
    return { fed, gw };
  }

  async function ackedRows(fed: Federation): Promise<number> {
    return (await fed.publisher.metrics.acked.get()).values.filter((v) => v.labels.kind === 'telemetry').reduce((n, v) => n + v.value, 0);
  }

  let value = 0;
  /** `batches` batches of 10 readings each, committed now; readings carry distinct values and times. */
  function emitBatches(gw: FakeGateway, fed: Federation, batches: number, t0: number): void {
    for (let i = 0; i < batches * 10; i++) {
      value++;
      gw.emit({ device: 'ahu1', point: 'temp', value, quality: 'good', ts: t0 + value });
    }
    fed.outbox.flush();
  }

  /** Cuts the link and waits for the next connection to be up and the publisher idle again. */
  async function flap(proxy: MeteredProxy, fed: Federation, settled: () => boolean): Promise<void> {
    const births = proxy.births();
    proxy.cut();
    await waitFor(() => proxy.births() > births && fed.publisher.connected, 20_000, 'reconnected');
    await waitFor(() => fed.publisher.inflightCount === 0 && fed.outbox.stats().messages === fed.outbox.awaitingCount && settled(), 20_000, 'publisher idle after the reconnect');
  }

  it('while the hub sends no receipts, a flapping link resends only what the client never had acknowledged; once it answers, exactly the unconfirmed batches go once', async () => {
    const proxy = await meteredProxy();
    const inflight = 10;
    const { fed, gw } = await startGateway(uniqueId('gw-silent').slice(0, 40), proxy, inflight);
    const t0 = Date.now() - 60_000;
    const first = value;
    // Nobody stores yet (the hub is down): the broker acknowledges and drops.
    const N = 100;
    emitBatches(gw, fed, N, t0);
    await waitFor(() => fed.outbox.awaitingCount === N && fed.publisher.inflightCount === 0, 20_000, 'all batches acknowledged by the broker');
    expect(proxy.telemetry.length).toBe(N);

    const K = 5;
    const perFlap: number[] = [];
    for (let k = 0; k < K; k++) {
      // A window of fresh batches in flight when the link drops: their PUBACKs never come back.
      proxy.hold.pubacks = true;
      const before = proxy.telemetry.length;
      emitBatches(gw, fed, inflight, t0);
      await waitFor(() => proxy.telemetry.length === before + inflight, 20_000, 'the fresh window at the broker');
      const awaiting = fed.outbox.awaitingCount;
      proxy.hold.pubacks = false;
      await flap(proxy, fed, () => fed.outbox.awaitingCount >= awaiting + inflight);
      perFlap.push(proxy.telemetry.length - before);
    }
    const total = N + K * inflight;
    // Per flap: the fresh window, and the client's one replay of it (never acknowledged). Nothing else.
    expect(perFlap).toEqual(Array.from({ length: K }, () => 2 * inflight));

    // The hub comes back, the link drops once more; fresh data brings the hub's first receipt on the
    // new connection, and every batch it never got goes once.
    const hub = await startHub();
    await flap(proxy, fed, () => true);
    const before = proxy.telemetry.length;
    expect(before).toBe(N + 2 * K * inflight);
    emitBatches(gw, fed, 3, t0);
    await waitFor(() => fed.outbox.stats().messages === 0, 30_000, 'outbox drained');
    const after = proxy.telemetry.slice(before);
    expect(after.length).toBe(total + 3);
    expect(new Set(after).size).toBe(total + 3);
    expect(hub.ingest.stats.duplicates).toBe(0);
    // Every reading stored once.
    const samples = await store.history(gw.id, 'ahu1', 'temp', t0, t0 + value + 1);
    expect(samples.map((s) => s.value)).toEqual(Array.from({ length: (total + 3) * 10 }, (_, i) => first + i + 1));
  }, 120_000);

  it('receipts on their way when the link drops arrive after the reconnect: nothing is sent again', async () => {
    const hub = await startHub();
    const proxy = await meteredProxy();
    const { fed, gw } = await startGateway(uniqueId('gw-answer').slice(0, 40), proxy, 10);
    const t0 = Date.now() - 60_000;
    const first = value;
    const B = 50;
    const K = 5;
    const perFlap: number[] = [];
    for (let k = 0; k < K; k++) {
      // The hub stores and receipts; the receipts are lost with the link (the broker delivers them again).
      proxy.hold.receipts = () => true;
      const before = proxy.telemetry.length;
      const handled = hub.ingest.stats.handled;
      emitBatches(gw, fed, B, t0);
      await waitFor(() => hub.ingest.stats.handled >= handled + B && fed.outbox.awaitingCount === B && fed.publisher.inflightCount === 0, 20_000, 'stored, receipts held back');
      proxy.hold.receipts = () => false;
      await flap(proxy, fed, () => fed.outbox.stats().messages === 0);
      perFlap.push(proxy.telemetry.length - before - B);
    }
    expect(perFlap).toEqual(Array.from({ length: K }, () => 0));
    const samples = await store.history(gw.id, 'ahu1', 'temp', t0, t0 + value + 1);
    expect(samples.map((s) => s.value)).toEqual(Array.from({ length: K * B * 10 }, (_, i) => first + i + 1));
  }, 120_000);

  it('when the broker keeps losing its session, the batches the hub has not confirmed go again once, not on every reconnect', async () => {
    const hub = await startHub();
    const proxy = await meteredProxy();
    const id = uniqueId('gw-lost').slice(0, 40);
    const { fed, gw } = await startGateway(id, proxy, 10);
    const t0 = Date.now() - 60_000;
    const first = value;
    // Stored by the hub, its receipts lost, and the session (with them) lost at the broker.
    const B = 50;
    // The receipts of these batches never reach the gateway.
    proxy.hold.receipts = (seq) => seq < B;
    emitBatches(gw, fed, B, t0);
    await waitFor(() => hub.ingest.stats.handled >= B && fed.outbox.awaitingCount === B && fed.publisher.inflightCount === 0, 20_000, 'stored, receipts held back');
    const wipeSession = async (): Promise<void> => {
      // A client with the gateway's id and a clean session takes its connection over and ends the session.
      const births = proxy.births();
      const c = await mqtt.connectAsync(`mqtt://${HOST}:${PORT}`, { clientId: id, clean: true, reconnectPeriod: 0 });
      await c.endAsync();
      await waitFor(() => proxy.births() > births && fed.publisher.connected, 20_000, 'reconnected');
    };
    const K = 5;
    const perFlap: number[] = [];
    // Each connection: one fresh batch, whose receipt comes (the hub answers).
    for (let k = 0; k < K; k++) {
      const before = proxy.telemetry.length;
      const handled = hub.ingest.stats.handled;
      const acked = await ackedRows(fed);
      await wipeSession();
      emitBatches(gw, fed, 1, t0);
      // Settled: the fresh batch's receipt was heard, nothing in flight or waiting to go, the hub has all the broker got.
      await waitForProbe(async () => (await ackedRows(fed)) > acked && fed.publisher.inflightCount === 0 && fed.outbox.stats().messages === fed.outbox.awaitingCount && hub.ingest.stats.handled >= handled + proxy.telemetry.length - before, 20_000, 'settled');
      perFlap.push(proxy.telemetry.length - before - 1);
    }
    // The first reconnect that hears from the hub sends the unconfirmed batches again; later ones wait (backoff).
    expect(perFlap).toEqual([B, 0, 0, 0, 0]);
    // The hub has every reading once.
    const samples = await store.history(id, 'ahu1', 'temp', t0, t0 + value + 1);
    expect(samples.map((s) => s.value)).toEqual(Array.from({ length: (B + K) * 10 }, (_, i) => first + i + 1));
  }, 120_000);

  it('a receipt that comes before the PUBACK (lost with the link) counts: the client sends the batch again itself, nobody else does', async () => {
    const hub = await startHub();
    const proxy = await meteredProxy();
    const inflight = 10;
    const { fed, gw } = await startGateway(uniqueId('gw-early').slice(0, 40), proxy, inflight);
    const t0 = Date.now() - 60_000;
    const first = value;
    // The hub stores a window and its receipts reach the gateway; the broker's PUBACKs do not.
    proxy.hold.pubacks = true;
    emitBatches(gw, fed, inflight, t0);
    await waitFor(() => proxy.receipted.size === inflight && proxy.unhandledReceipts() === 0 && fed.publisher.inflightCount === inflight, 20_000, 'receipted, not acknowledged');
    // From now on no receipt gets through: the client's own resend (a duplicate at the hub) is all there is.
    proxy.hold.receipts = () => true;
    proxy.hold.pubacks = false;
    const before = proxy.telemetry.length;
    await flap(proxy, fed, () => true);
    expect(proxy.telemetry.length - before).toBe(inflight);
    expect(proxy.telemetry.slice(before)).toEqual(proxy.telemetry.slice(before - inflight, before));
    expect(fed.outbox.stats().messages).toBe(0);
    await waitFor(() => hub.ingest.stats.duplicates === inflight, 10_000, 'the duplicates at the hub');
    const samples = await store.history(gw.id, 'ahu1', 'temp', t0, t0 + value + 1);
    expect(samples.map((s) => s.value)).toEqual(Array.from({ length: inflight * 10 }, (_, i) => first + i + 1));
  }, 60_000);
});
