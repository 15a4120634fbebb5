/**
 * A flapping link is not a broker refusal (review of the set-aside rule): a TCP proxy between the
 * gateway and a real broker cuts the connection around the gateway's telemetry publish.
 * - cut right after the publish, more times than REFUSALS_BEFORE_SET_ASIDE within seconds: the
 *   batch is not set aside (the strikes do not span REFUSAL_MIN_SPAN_MS) and is delivered;
 * - cut later than the close window after the publish: no strike at all;
 * - a proxy that cuts after every such publish (a refusal) still gets the row set aside, once the
 *   strikes span the minimum time;
 * - a wall-clock step back does not stop the probes to a silent hub (monotonic backoff).
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { startFederation } from '../../../edge/federation/index.js';
import { REFUSALS_BEFORE_SET_ASIDE, type RefusalPolicy } from '../../../edge/federation/publisher.js';
import { decode, TelemetryBatchSchema } from '../../../shared/wire/index.js';
import { tempDir } from '../../support/tmp.js';
import { fakeGateway, startBroker, startPeers, waitFor, type Cleanup } from './helpers.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A client's MQTT PUBLISH packet (type 3) to a telemetry topic, read from the start of a chunk. */
function isTelemetryPublish(d: Buffer): boolean {
  return d[0]! >> 4 === 3 && d.includes('/telemetry');
}

/**
 * A proxy to brokerPort that, while cut() says so, cuts the link on a chunk holding a telemetry
 * publish: at once (holdMs 0) or holdMs later without forwarding it; the broker never sees it.
 */
async function cuttingProxy(brokerPort: number, cut: () => boolean, holdMs = 0): Promise<{ port: number; cuts: number[] }> {
  const cuts: number[] = [];
  const socks = new Set<Socket>();
  const server: Server = createServer((client) => {
    const up = createConnection(brokerPort, '127.0.0.1');
    socks.add(client);
    socks.add(up);
    let held = false;
    up.on('data', (d) => client.write(d));
    client.on('data', (d) => {
      if (held) return;
      if (isTelemetryPublish(d) && cut()) {
        held = true;
        const drop = (): void => {
          cuts.push(performance.now());
          client.destroy();
          up.destroy();
        };
        if (holdMs > 0) setTimeout(drop, holdMs);
        else drop();
        return;
      }
      up.write(d);
    });
    client.on('error', () => up.destroy());
    up.on('error', () => client.destroy());
    client.on('close', () => up.destroy());
    up.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => {
    for (const s of socks) s.destroy();
    server.close(() => r());
  }));
  return { port: (server.address() as { port: number }).port, cuts };
}

async function gatewayVia(port: number, refusal?: Partial<RefusalPolicy>): Promise<{ fed: Awaited<ReturnType<typeof startFederation>>; gw: ReturnType<typeof fakeGateway> }> {
  const dir = tempDir('swg-pub-flaky-');
  cleanups.push(() => dir.remove());
  const gw = fakeGateway('gw-1', 's1');
  const fed = await startFederation({
    gateway: gw,
    dataDir: dir.path,
    registry: new Registry(),
    ...(refusal ? { refusal } : {}),
    config: { mqtt: { url: `mqtt://127.0.0.1:${port}`, reconnectPeriodMs: 100, reconnectMaxPeriodMs: 500, inflight: 10 }, outbox: { flushMs: 20, batchMax: 10, deleteOn: 'puback' }, stateIntervalS: 0 },
  });
  cleanups.push(() => fed.stop());
  await waitFor(() => fed.publisher.connected, 10_000, 'connect');
  return { fed, gw };
}

/** Ten readings into a link the proxy cuts `cuts` times: waits for the cuts, then for the outbox to empty or set something aside. */
async function emitThroughCuts(fed: Awaited<ReturnType<typeof gatewayVia>>['fed'], gw: Awaited<ReturnType<typeof gatewayVia>>['gw'], proxy: { cuts: readonly number[] }, cuts: number): Promise<void> {
  for (let i = 0; i < 10; i++) gw.emit({ device: 'ahu1', point: 'temp', value: i, quality: 'good', ts: Date.now() + i });
  await waitFor(() => proxy.cuts.length >= cuts || fed.outbox.deadLetters().length > 0, 20_000, 'the link cut');
  await waitFor(() => fed.outbox.stats().messages === 0 || fed.outbox.deadLetters().length > 0, 10_000, 'settled');
}

describe('a flapping link', () => {
  it(`cut right after a telemetry publish ${REFUSALS_BEFORE_SET_ASIDE + 1} times within seconds: the batch is not set aside and is delivered`, async () => {
    const broker = await startBroker();
    cleanups.push(() => broker.close());
    const drops = REFUSALS_BEFORE_SET_ASIDE + 1;
    const proxy = await cuttingProxy(broker.port, () => proxy.cuts.length < drops);
    const { fed, gw } = await gatewayVia(proxy.port);
    await emitThroughCuts(fed, gw, proxy, drops);
    expect(fed.outbox.deadLetters()).toEqual([]);
    expect(fed.outbox.stats().messages).toBe(0);
  }, 120_000);

  it('cut later than the close window after the publish: no strike, nothing set aside', async () => {
    const broker = await startBroker();
    cleanups.push(() => broker.close());
    const proxy = await cuttingProxy(broker.port, () => proxy.cuts.length < 4, 600);
    // Two strikes would do, at once: only the close window keeps the row.
    const { fed, gw } = await gatewayVia(proxy.port, { closeWithinMs: 200, strikes: 2, minSpanMs: 0 });
    await emitThroughCuts(fed, gw, proxy, 4);
    expect(fed.outbox.deadLetters()).toEqual([]);
    expect(fed.outbox.stats().messages).toBe(0);
  }, 120_000);

  it('a cut after every publish of the row (a refusal) sets it aside, only once the strikes span the minimum time', async () => {
    const broker = await startBroker();
    cleanups.push(() => broker.close());
    // Every telemetry publish is cut, every time (as a broker refuses a message): the first batch is first.
    const proxy = await cuttingProxy(broker.port, () => true);
    const minSpanMs = 1500;
    const { fed, gw } = await gatewayVia(proxy.port, { strikes: 2, minSpanMs });
    for (let i = 0; i < 10; i++) gw.emit({ device: 'ahu1', point: 'temp', value: i, quality: 'good', ts: Date.now() + i });
    await waitFor(() => fed.outbox.deadLetters().length > 0, 20_000, 'set aside');
    const setAsideAt = performance.now();
    expect(fed.outbox.deadLetters()).toEqual([expect.objectContaining({ kind: 'telemetry', batchSeq: 0, readings: 10, reason: 'refused' })]);
    expect(proxy.cuts.length).toBeGreaterThan(2);
    expect(setAsideAt - proxy.cuts[0]!).toBeGreaterThanOrEqual(minSpanMs - 50);
  }, 120_000);
});

describe('probes to a silent hub on a monotonic clock', () => {
  it('a wall-clock step back an hour does not stop the probes', async () => {
    const { broker, dir, hub } = await startPeers(cleanups, 'swarmgate/v1/s1/gw-1/telemetry', 'swg-pub-mono-', { receipts: false });
    let offset = 0;
    const gw = fakeGateway('gw-1', 's1');
    const fed = await startFederation({ gateway: gw, dataDir: dir.path, registry: new Registry(), clock: () => Date.now() + offset, config: { mqtt: { url: broker.url, reconnectPeriodMs: 100, inflight: 5 }, outbox: { flushMs: 20, batchMax: 10, storedTimeoutS: 1 }, stateIntervalS: 0 } });
    cleanups.push(() => fed.stop());
    await waitFor(() => fed.publisher.connected, 10_000, 'connect');
    for (let i = 0; i < 200; i++) gw.emit({ device: 'ahu1', point: 'temp', value: i, quality: 'good', ts: Date.now() + i });
    const sent = (): number => hub.messages.filter((m) => decode(TelemetryBatchSchema, m.topic, m.payload).ok).length;
    await waitFor(() => sent() === 20, 10_000, 'twenty batches at the broker');
    // The first probe (one in-flight window, 5 batches), then the wall clock steps back an hour.
    await waitFor(() => sent() >= 25, 10_000, 'first probe');
    offset = -3_600_000;
    // The next probe comes 2 s later on the monotonic clock, not an hour later.
    await waitFor(() => sent() >= 30, 8000, 'second probe after the clock step');
  }, 120_000);
});
