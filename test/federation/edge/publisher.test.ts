import { afterEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { GatewayStateSchema, TelemetryBatchSchema, decode, type TelemetryBatch } from '../../../shared/wire/index.js';
import { startFederation, type Federation, type FederationConfig } from '../../../edge/federation/index.js';
import { fakeGateway, startPeers, waitFor, type Cleanup, type Received, type TestBroker } from './helpers.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(config: Partial<FederationConfig> & { outbox?: FederationConfig['outbox'] } = {}) {
  const { broker, dir, hub } = await startPeers(cleanups, 'swarmgate/v1/site-a/gw-1/#');
  const gw = fakeGateway('gw-1', 'site-a');
  const registry = new Registry();
  const fed = await startFederation({
    gateway: gw,
    dataDir: dir.path,
    registry,
    config: { mqtt: { url: broker.url, reconnectPeriodMs: 100, inflight: 10, ...config.mqtt }, outbox: { flushMs: 20, batchMax: 10, ...config.outbox }, stateIntervalS: 0 },
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
  it('publishes a retained online birth and telemetry batches in order, deleting rows after PUBACK', async () => {
    const { gw, hub, fed, registry } = await setup();
    await waitFor(() => fed.publisher.connected, 5000, 'connect');
    await waitFor(() => hub.messages.some((m) => m.topic.endsWith('/state')), 5000, 'birth');
    const birth = decode(GatewayStateSchema, 'state', hub.messages.find((m) => m.topic.endsWith('/state'))!.payload);
    expect(birth.ok && birth.value).toMatchObject({ status: 'online', gateway: 'gw-1', site: 'site-a', bootId: fed.bootId, devices: [{ id: 'ahu1', protocol: 'modbus-tcp', state: 'up' }] });
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

export type { Federation, TestBroker };
