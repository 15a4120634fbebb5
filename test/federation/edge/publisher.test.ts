import { afterEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { EventSchema, GatewayStateSchema, StoredReceiptSchema, TelemetryBatchSchema, decode, encode, messageDigest, type TelemetryBatch } from '../../../shared/wire/index.js';
import { startFederation, type Federation, type FederationConfig } from '../../../edge/federation/index.js';
import { fakeGateway, publishTo, startPeers, waitFor, type Cleanup, type Received, type TestBroker } from './helpers.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(config: Partial<FederationConfig> & { outbox?: FederationConfig['outbox'] } = {}, receipts = true) {
  const { broker, dir, hub } = await startPeers(cleanups, 'swarmgate/v1/site-a/gw-1/#', 'swg-fed-', { receipts });
  const gw = fakeGateway('gw-1', 'site-a');
  const registry = new Registry();
  const fed = await startFederation({
    gateway: gw,
    dataDir: dir.path,
    registry,
    config: { mqtt: { reconnectPeriodMs: 100, inflight: 10, ...config.mqtt, url: broker.url }, outbox: { flushMs: 20, batchMax: 10, ...config.outbox }, stateIntervalS: 0 },
  });
  cleanups.push(() => fed.stop());
  return { broker, gw, hub, fed, registry };
}

function telemetry(messages: readonly Received[]): TelemetryBatch[] {
  return messages
    .filter((m) => m.topic.endsWith('/telemetry'))
    .map((m) => {
      const d = decode(TelemetryBatchSchema, m.topic, m.payload);
      if (!d.ok) throw new Error(d.error);
      return d.value;
    });
}

async function metric(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const m = registry.getSingleMetric(name);
  const values = (await m?.get())?.values ?? [];
  return values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((n, v) => n + v.value, 0);
}

describe('publisher (aedes)', () => {
  it('publishes a retained online birth and telemetry batches in order, deleting rows on the hub stored receipt', async () => {
    const { gw, hub, fed, registry } = await setup();
    await waitFor(() => fed.publisher.connected, 5000, 'connect');
    await waitFor(() => hub.messages.some((m) => m.topic.endsWith('/state')), 5000, 'birth');
    const birth = decode(GatewayStateSchema, 'state', hub.messages.find((m) => m.topic.endsWith('/state'))!.payload);
    expect(birth.ok && birth.value).toMatchObject({ status: 'online', gateway: 'gw-1', site: 'site-a', bootId: fed.bootId, devices: [{ id: 'ahu1', protocol: 'modbus-tcp', state: 'up', units: { setpoint: 'degC', temp: 'degC' }, writable: { setpoint: { min: 10, max: 30 } } }] });
    for (let i = 0; i < 100; i++) gw.emit({ device: 'ahu1', point: 'temp', value: i, quality: 'good', ts: 1_700_000_000_000 + i });
    await waitFor(() => telemetry(hub.messages).reduce((n, b) => n + b.readings.length, 0) >= 100, 5000, 'readings');
    const batches = telemetry(hub.messages);
    expect(batches.map((b) => b.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(batches.every((b) => !b.historical && b.bootId === fed.bootId)).toBe(true);
    expect(batches.flatMap((b) => b.readings.map((r) => r.v))).toEqual(Array.from({ length: 100 }, (_, i) => i));
    await waitFor(() => fed.outbox.stats().messages === 0, 5000, 'outbox drained');
    expect(await metric(registry, 'swarmgate_federation_acked_total', { kind: 'telemetry' })).toBe(10);
  });

  it('replays the backlog after an outage in order, flagged historical, while live data keeps flowing; nothing lost or duplicated', async () => {
    const { broker, gw, hub, fed } = await setup({ outbox: { flushMs: 20, batchMax: 10 } });
    await waitFor(() => fed.publisher.connected, 5000, 'connect');
    let n = 0;
    const emit = (): void => gw.emit({ device: 'ahu1', point: 'temp', value: n++, quality: 'good', ts: 1_700_000_000_000 + n });
    const live = setInterval(emit, 5);
    cleanups.push(() => clearInterval(live));
    await waitFor(() => telemetry(hub.messages).length >= 3, 5000, 'first batches');

    await broker.goDown();
    await waitFor(() => !fed.publisher.connected, 5000, 'disconnect');
    // a burst while the broker is away: a backlog worth measuring the replay with
    for (let i = 0; i < 20_000; i++) emit();
    fed.outbox.flush();
    const backlog = fed.outbox.stats().messages;
    expect(backlog).toBeGreaterThan(2000);
    const before = hub.messages.length;

    await broker.comeBack();
    const t0 = Date.now();
    await waitFor(() => telemetry(hub.messages.slice(before)).filter((b) => b.historical).length >= backlog - 20, 20_000, 'backlog replay');
    const replayMs = Date.now() - t0;
    clearInterval(live);
    const emitted = n;
    await waitFor(() => new Set(telemetry(hub.messages).flatMap((b) => b.readings.map((r) => r.v))).size === emitted, 10_000, 'every reading');
    await waitFor(() => fed.outbox.stats().messages === 0, 5000, 'outbox drained');

    const all = telemetry(hub.messages);
    const bySeq = new Map<number, TelemetryBatch>();
    for (const b of all) bySeq.set(b.seq, b);
    const duplicates = all.length - bySeq.size;
    // QoS 1: at most the in-flight window can arrive twice (PUBACK lost with the connection)
    expect(duplicates).toBeLessThanOrEqual(10);
    const seqs = [...bySeq.keys()].sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i));
    const values = [...bySeq.values()].flatMap((b) => b.readings.map((r) => r.v as number)).sort((a, b) => a - b);
    expect(values).toEqual(Array.from({ length: emitted }, (_, i) => i));

    const after = telemetry(hub.messages.slice(before));
    const hist = after.filter((b) => b.historical);
    const liveAfter = after.filter((b) => !b.historical);
    const increasing = (xs: number[]): boolean => xs.every((x, i) => i === 0 || x > (xs[i - 1] ?? -1));
    expect(increasing(hist.map((b) => b.seq))).toBe(true);
    expect(increasing(liveAfter.map((b) => b.seq))).toBe(true);
    // live batches were delivered while the backlog was still replaying
    const lastHist = after.lastIndexOf(hist[hist.length - 1]!);
    expect(after.findIndex((b) => !b.historical)).toBeLessThan(lastHist);
    console.info(`replayed ${backlog} backlog messages in ${replayMs} ms (${Math.round((backlog / replayMs) * 1000)} msg/s), ${duplicates} duplicate(s)`);
  });

  it('the broker publishes the retained offline will when the gateway vanishes; a clean stop publishes offline itself', async () => {
    const { broker, hub, fed } = await setup();
    await waitFor(() => fed.publisher.connected, 5000, 'connect');
    // vanish: drop the gateway's connection without DISCONNECT
    for (const c of Object.values((broker.broker as unknown as { clients: Record<string, { id: string; conn: { destroy(): void } }> }).clients)) {
      if (c.id === 'gw-1') c.conn.destroy();
    }
    await waitFor(() => hub.messages.some((m) => m.topic.endsWith('/state') && JSON.parse(m.payload.toString()).status === 'offline'), 5000, 'will');
    await waitFor(() => fed.publisher.connected, 5000, 'reconnect');
    const count = hub.messages.length;
    await fed.stop();
    const last = hub.messages.slice(count).filter((m) => m.topic.endsWith('/state')).pop();
    expect(last && JSON.parse(last.payload.toString())).toMatchObject({ status: 'offline', bootId: fed.bootId });
  });
});

describe('stored receipts: the outbox keeps a batch until the hub has stored it', () => {
  const emit100 = (gw: ReturnType<typeof fakeGateway>): void => {
    for (let i = 0; i < 100; i++) gw.emit({ device: 'ahu1', point: 'temp', value: i, quality: 'good', ts: Date.now() - 1000 + i });
  };
  const seqs = (messages: readonly Received[]): number[] => telemetry(messages).map((b) => b.seq);

  it('a PUBACK alone deletes nothing; with no receipt at all only the oldest in-flight window goes again (a probe, backing off); once the hub answers, every batch past storedTimeoutS goes again; the receipt deletes them', async () => {
    const { broker, gw, hub, fed, registry } = await setup({ mqtt: { url: 'set by setup', inflight: 2 }, outbox: { flushMs: 20, batchMax: 10, storedTimeoutS: 1 } }, false);
    await waitFor(() => fed.publisher.connected, 5000, 'connect');
    emit100(gw);
    await waitFor(() => seqs(hub.messages).length >= 10, 5000, 'ten batches at the broker');
    // The broker acknowledged all ten, yet they stay: the broker could still lose them.
    await waitFor(() => fed.outbox.awaitingCount === 10, 5000, 'ten batches waiting for a receipt');
    expect(fed.outbox.stats().messages).toBe(10);
    expect(await metric(registry, 'swarmgate_federation_awaiting_stored', {})).toBe(10);
    // No receipt at all within a second: the hub is silent and the broker holds the ten for it;
    // only the oldest two (one in-flight window) go again, as a probe (same bootId and seq), and
    // the next probe waits 2 s.
    await waitFor(() => seqs(hub.messages).length >= 12, 5000, 'a probe');
    await new Promise((r) => setTimeout(r, 1000));
    expect(seqs(hub.messages).slice(10)).toEqual([0, 1]);
    expect(await metric(registry, 'swarmgate_federation_resent_total', { cause: 'probe' })).toBe(2);
    expect(await metric(registry, 'swarmgate_federation_resent_total', { cause: 'timeout' })).toBe(0);
    // A receipt (for another boot: it deletes nothing) shows the hub answers: every batch that
    // waited a second goes again.
    const receipt = (bootId: string, from: number, to: number): Promise<void> =>
      publishTo(broker.broker, 'swarmgate/v1/site-a/gw-1/stored', encode(StoredReceiptSchema, { v: 1, ts: Date.now(), batches: [{ bootId, from, to }] }));
    await receipt('another-boot-0001', 0, 9);
    // (0 and 1, the probe, go again too when the receipt comes more than a second after it: a slow machine.)
    await waitFor(() => [2, 3, 4, 5, 6, 7, 8, 9].every((seq) => seqs(hub.messages).slice(12).includes(seq)), 5000, 'the batches sent again');
    expect(await metric(registry, 'swarmgate_federation_resent_total', { cause: 'timeout' })).toBeGreaterThanOrEqual(8);
    // A receipt for 0..6 deletes those.
    await receipt(fed.bootId, 0, 6);
    await waitFor(() => fed.outbox.stats().messages === 3, 5000, 'seven batches receipted and deleted');
    expect(fed.outbox.all().map((r) => r.batchSeq)).toEqual([7, 8, 9]);
    await receipt(fed.bootId, 7, 9);
    await waitFor(() => fed.outbox.stats().messages === 0, 5000, 'all receipted');
    expect(await metric(registry, 'swarmgate_federation_acked_total', { kind: 'telemetry' })).toBe(10);
  });

  it('at most receiptWindow messages are out without a receipt; receipts let the rest follow in order', async () => {
    const { broker, gw, hub, fed, registry } = await setup({ outbox: { flushMs: 20, batchMax: 10, storedTimeoutS: 60, receiptWindow: 30 } }, false);
    await waitFor(() => fed.publisher.connected, 5000, 'connect');
    for (let i = 0; i < 1000; i++) gw.emit({ device: 'ahu1', point: 'temp', value: i, quality: 'good', ts: Date.now() - 2000 + i });
    await waitFor(() => fed.outbox.stats().messages === 100 && fed.outbox.awaitingCount === 30, 5000, 'a full receipt window');
    await new Promise((r) => setTimeout(r, 500));
    expect(seqs(hub.messages)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(await metric(registry, 'swarmgate_federation_awaiting_stored', {})).toBe(30);
    const receipt = (from: number, to: number): Promise<void> =>
      publishTo(broker.broker, 'swarmgate/v1/site-a/gw-1/stored', encode(StoredReceiptSchema, { v: 1, ts: Date.now(), batches: [{ bootId: fed.bootId, from, to }] }));
    for (let from = 0; from < 100; from += 30) {
      await waitFor(() => seqs(hub.messages).length >= Math.min(100, from + 30), 5000, `batches up to ${from + 30} sent`);
      expect(fed.outbox.awaitingCount).toBeLessThanOrEqual(30);
      await receipt(from, Math.min(99, from + 29));
    }
    await waitFor(() => fed.outbox.stats().messages === 0, 5000, 'all receipted');
    expect(seqs(hub.messages)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('an event waits for a receipt naming the digest of its payload, then goes', async () => {
    const { broker, hub, fed, registry } = await setup({ outbox: { flushMs: 20, storedTimeoutS: 60 } }, false);
    await waitFor(() => fed.publisher.connected, 5000, 'connect');
    const event = { v: 1 as const, id: 'evt-0000001', gateway: 'gw-1', ts: Date.now(), kind: 'system' as const, severity: 'info' as const, message: 'hello' };
    const payload = encode(EventSchema, event);
    fed.outbox.enqueue('swarmgate/v1/site-a/gw-1/events', 'event', payload);
    await waitFor(() => hub.messages.some((m) => m.topic.endsWith('/events')) && fed.outbox.awaitingCount === 1, 5000, 'event at the broker, waiting for its receipt');
    expect(fed.outbox.stats().messages).toBe(1);
    await publishTo(broker.broker, 'swarmgate/v1/site-a/gw-1/stored', encode(StoredReceiptSchema, { v: 1, ts: Date.now(), batches: [], messages: [messageDigest(Buffer.from('other payload'))] }));
    await new Promise((r) => setTimeout(r, 200));
    expect(fed.outbox.stats().messages).toBe(1);
    await publishTo(broker.broker, 'swarmgate/v1/site-a/gw-1/stored', encode(StoredReceiptSchema, { v: 1, ts: Date.now(), batches: [], messages: [messageDigest(payload)] }));
    await waitFor(() => fed.outbox.stats().messages === 0, 5000, 'event receipted and deleted');
    expect(await metric(registry, 'swarmgate_federation_acked_total', { kind: 'event' })).toBe(1);
  });

  it('a malformed receipt is refused and counted, and deletes nothing', async () => {
    const { broker, gw, hub, fed, registry } = await setup({ outbox: { flushMs: 20, batchMax: 10, storedTimeoutS: 60 } }, false);
    await waitFor(() => fed.publisher.connected, 5000, 'connect');
    emit100(gw);
    await waitFor(() => seqs(hub.messages).length >= 10 && fed.outbox.awaitingCount === 10, 5000, 'ten batches waiting');
    await publishTo(broker.broker, 'swarmgate/v1/site-a/gw-1/stored', JSON.stringify({ v: 1, ts: Date.now(), batches: [{ bootId: fed.bootId, from: 0, to: 1e300 }] }));
    const deadline = Date.now() + 5000;
    while ((await metric(registry, 'swarmgate_federation_rejected_total', { source: 'stored-receipt' })) < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await metric(registry, 'swarmgate_federation_rejected_total', { source: 'stored-receipt' })).toBe(1);
    expect(fed.outbox.stats().messages).toBe(10);
  });

  it("deleteOn 'puback' deletes a batch on the broker's PUBACK (a broker with no hub behind it)", async () => {
    const { gw, hub, fed } = await setup({ outbox: { flushMs: 20, batchMax: 10, deleteOn: 'puback' } }, false);
    await waitFor(() => fed.publisher.connected, 5000, 'connect');
    emit100(gw);
    await waitFor(() => seqs(hub.messages).length >= 10, 5000, 'ten batches');
    await waitFor(() => fed.outbox.stats().messages === 0, 5000, 'outbox drained on PUBACK');
    expect(fed.outbox.awaitingCount).toBe(0);
  });

  it('after a reconnect batches not yet receipted wait for their receipts; once the hub receipts one sent on the new connection, those still waiting go again', async () => {
    const { broker, gw, hub, fed, registry } = await setup({ outbox: { flushMs: 20, batchMax: 10, storedTimeoutS: 3600 } }, false);
    await waitFor(() => fed.publisher.connected, 5000, 'connect');
    emit100(gw);
    await waitFor(() => fed.outbox.awaitingCount === 10, 5000, 'ten batches waiting');
    await broker.goDown();
    await waitFor(() => !fed.publisher.connected, 5000, 'disconnect');
    await broker.comeBack();
    await waitFor(() => fed.publisher.connected, 10_000, 'reconnect');
    // Fresh data goes out; the reconnect alone sends nothing again.
    gw.emit({ device: 'ahu1', point: 'temp', value: 100, quality: 'good', ts: Date.now() });
    await waitFor(() => seqs(hub.messages).includes(10), 5000, 'the fresh batch');
    expect(seqs(hub.messages)).toEqual(Array.from({ length: 11 }, (_, i) => i));
    expect(fed.outbox.awaitingCount).toBe(11);
    // The hub receipts the fresh batch only: the ten before the reconnect were lost on the way.
    const receipt = (from: number, to: number): Promise<void> =>
      publishTo(broker.broker, 'swarmgate/v1/site-a/gw-1/stored', encode(StoredReceiptSchema, { v: 1, ts: Date.now(), batches: [{ bootId: fed.bootId, from, to }] }));
    await receipt(10, 10);
    await waitFor(() => seqs(hub.messages).length >= 21, 10_000, 'sent again after the receipt');
    expect(seqs(hub.messages).slice(11)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(await metric(registry, 'swarmgate_federation_resent_total', { cause: 'reconnect' })).toBe(10);
    await receipt(0, 9);
    await waitFor(() => fed.outbox.stats().messages === 0, 5000, 'all receipted');
  });
});

export type { Federation, TestBroker };
