/**
 * The same federation paths against the machine's real Mosquitto (127.0.0.1:1883). Ids are
 * unique per run; retained messages and the persistent session are removed afterwards. The
 * outage goes through a TCP proxy we can cut, since the system broker must stay up.
 */
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import sparkplugPayload from 'sparkplug-payload';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CommandAckSchema, CommandSchema, PointValueMessageSchema, TelemetryBatchSchema, decode, encode, type TelemetryBatch } from '../../../shared/wire/index.js';
import { startFederation, type Federation } from '../../../edge/federation/index.js';
import { peerOrSkip, tcpPeer } from '../../support/peers.js';
import { tempDir } from '../../support/tmp.js';
import { fakeGateway, uniqueId, waitFor, type FakeGateway } from './helpers.js';

const HOST = '127.0.0.1';
const PORT = 1883;
const available = peerOrSkip(await tcpPeer(HOST, PORT, 'mosquitto'));
const spb = sparkplugPayload.get('spBv1.0')!;

interface Proxy {
  readonly url: string;
  goDown(): Promise<void>;
  comeBack(): Promise<void>;
}

async function startProxy(): Promise<Proxy> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const listen = async (port: number): Promise<number> => {
    const s = createServer((client) => {
      const upstream = tcpConnect(PORT, HOST);
      for (const x of [client, upstream]) {
        sockets.add(x);
        x.on('close', () => sockets.delete(x));
        x.on('error', () => x.destroy());
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    server = s;
    await new Promise<void>((resolve) => s.listen(port, HOST, () => resolve()));
    const a = s.address();
    return typeof a === 'object' && a ? a.port : port;
  };
  const port = await listen(0);
  const goDown = async (): Promise<void> => {
    const s = server;
    server = undefined;
    for (const x of sockets) x.destroy();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  cleanups.push(goDown);
  return { url: `mqtt://${HOST}:${port}`, goDown, comeBack: async () => void (await listen(port)) };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe.skipIf(!available)('federation over the real Mosquitto', () => {
  let hub: MqttClient;
  const received: { topic: string; payload: Buffer; retain: boolean }[] = [];
  const site = uniqueId('swgt').slice(0, 60);
  const retainedTopics = new Set<string>();
  const sessions = new Set<string>();

  beforeAll(async () => {
    hub = await mqtt.connectAsync(`mqtt://${HOST}:${PORT}`, { clientId: uniqueId('swgt-hub'), clean: true, reconnectPeriod: 0 });
    hub.on('message', (topic, payload, packet) => received.push({ topic, payload: Buffer.from(payload), retain: packet.retain }));
    await hub.subscribeAsync([`swarmgate/v1/${site}/#`, `spBv1.0/${site}/#`], { qos: 1 });
  });

  afterAll(async () => {
    // leave the shared broker as we found it: no retained messages, no persistent sessions
    for (const t of [...new Set(received.filter((m) => m.topic.endsWith('/state') || m.topic.includes('/points/')).map((m) => m.topic)), ...retainedTopics]) {
      await hub.publishAsync(t, '', { qos: 1, retain: true });
    }
    for (const id of sessions) {
      const c = await mqtt.connectAsync(`mqtt://${HOST}:${PORT}`, { clientId: id, clean: true, reconnectPeriod: 0 });
      await c.endAsync();
    }
    await hub?.endAsync();
  });

  async function start(gatewayId: string, url: string, extra: { plain?: boolean; sparkplug?: boolean } = {}): Promise<{ fed: Federation; gw: FakeGateway }> {
    const dir = tempDir('swg-mosq-');
    cleanups.push(() => dir.remove());
    const gw = fakeGateway(gatewayId, site);
    sessions.add(gatewayId);
    const fed = await startFederation({
      gateway: gw,
      dataDir: dir.path,
      config: {
        mqtt: { url, reconnectPeriodMs: 100, inflight: 20 },
        outbox: { flushMs: 20, batchMax: 10 },
        stateIntervalS: 0,
        integration: {
          ...(extra.plain ? { plainTopics: { enabled: true, writable: true } } : {}),
          ...(extra.sparkplug ? { sparkplug: { enabled: true, groupId: site, edgeNodeId: gatewayId } } : {}),
        },
      },
    });
    cleanups.push(() => fed.stop());
    await waitFor(() => fed.publisher.connected, 5000, 'connect');
    await new Promise((r) => setTimeout(r, 50)); // SUBACK of the command subscription
    return { fed, gw };
  }

  const batchesOf = (gatewayId: string): TelemetryBatch[] =>
    received
      .filter((m) => m.topic === `swarmgate/v1/${site}/${gatewayId}/telemetry`)
      .map((m) => {
        const d = decode(TelemetryBatchSchema, m.topic, m.payload);
        if (!d.ok) throw new Error(d.error);
        return d.value;
      });

  it('delivers telemetry batches in order', async () => {
    const id = uniqueId('gwa');
    const { gw } = await start(id, `mqtt://${HOST}:${PORT}`);
    for (let i = 0; i < 200; i++) gw.emit({ device: 'ahu1', point: 'temp', value: i, quality: 'good', ts: 1_700_000_000_000 + i });
    await waitFor(() => batchesOf(id).reduce((n, b) => n + b.readings.length, 0) >= 200, 5000, 'readings');
    expect(batchesOf(id).map((b) => b.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(batchesOf(id).flatMap((b) => b.readings.map((r) => r.v))).toEqual(Array.from({ length: 200 }, (_, i) => i));
  });

  it('replays the backlog after the link is cut, historical and in order, nothing lost', async () => {
    const id = uniqueId('gwb');
    const proxy = await startProxy();
    const { gw, fed } = await start(id, proxy.url);
    let n = 0;
    const emit = (): void => gw.emit({ device: 'ahu1', point: 'temp', value: n++, quality: 'good', ts: 1_700_000_000_000 + n });
    for (let i = 0; i < 50; i++) emit();
    await waitFor(() => batchesOf(id).length >= 5, 5000, 'first batches');
    await proxy.goDown();
    await waitFor(() => !fed.publisher.connected, 5000, 'disconnect');
    for (let i = 0; i < 3000; i++) emit();
    fed.outbox.flush();
    const backlog = fed.outbox.stats().messages;
    await proxy.comeBack();
    const t0 = Date.now();
    await waitFor(() => new Set(batchesOf(id).flatMap((b) => b.readings.map((r) => r.v))).size === n, 15_000, 'every reading');
    const ms = Date.now() - t0;
    const bySeq = new Map(batchesOf(id).map((b) => [b.seq, b]));
    expect([...bySeq.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: bySeq.size }, (_, i) => i));
    const hist = batchesOf(id).filter((b) => b.historical);
    expect(hist.length).toBeGreaterThan(200);
    expect(hist.every((b, i) => i === 0 || b.seq > hist[i - 1]!.seq)).toBe(true);
    console.info(`mosquitto: replayed ${backlog} messages in ${ms} ms (${Math.round((backlog / ms) * 1000)} msg/s incl. reconnect)`);
  });

  it('applies commands and rejects one outside the limits', async () => {
    const id = uniqueId('gwc');
    const { gw } = await start(id, `mqtt://${HOST}:${PORT}`);
    const cmd = (cid: string, value: number): Buffer =>
      encode(CommandSchema, { v: 1, id: cid, ts: Date.now(), origin: 'agent:test', action: { kind: 'write', device: 'ahu1', point: 'setpoint', value } });
    await hub.publishAsync(`swarmgate/v1/${site}/${id}/commands`, cmd('mosq-cmd-ok-1', 25), { qos: 1 });
    await hub.publishAsync(`swarmgate/v1/${site}/${id}/commands`, cmd('mosq-cmd-no-1', 50), { qos: 1 });
    const acks = () =>
      received
        .filter((m) => m.topic === `swarmgate/v1/${site}/${id}/commands/ack`)
        .map((m) => {
          const d = decode(CommandAckSchema, m.topic, m.payload);
          if (!d.ok) throw new Error(d.error);
          return d.value;
        });
    await waitFor(() => acks().length === 4, 5000, 'acks');
    expect(acks().map((a) => [a.id, a.status, a.code])).toEqual([
      ['mosq-cmd-ok-1', 'delivered', undefined],
      ['mosq-cmd-ok-1', 'applied', undefined],
      ['mosq-cmd-no-1', 'delivered', undefined],
      ['mosq-cmd-no-1', 'rejected', 'SWG_ERR_POINT_LIMIT'],
    ]);
    expect(gw.writes.map((w) => w.value)).toEqual([25]);
  });

  it('keeps retained plain point values and births a Sparkplug node', async () => {
    const id = uniqueId('gwd');
    const { gw } = await start(id, `mqtt://${HOST}:${PORT}`, { plain: true, sparkplug: true });
    await waitFor(() => received.some((m) => m.topic === `spBv1.0/${site}/DBIRTH/${id}/ahu1`), 5000, 'DBIRTH');
    gw.emit({ device: 'ahu1', point: 'temp', value: 20.5, quality: 'good', ts: 1_700_000_000_000 });
    const topic = `swarmgate/v1/${site}/${id}/points/ahu1/temp`;
    retainedTopics.add(topic);
    await waitFor(() => received.some((m) => m.topic === topic), 5000, 'point value');
    const late = await mqtt.connectAsync(`mqtt://${HOST}:${PORT}`, { clientId: uniqueId('swgt-bms'), clean: true, reconnectPeriod: 0 });
    cleanups.push(() => late.endAsync());
    const got = new Promise<Buffer>((resolve) => late.on('message', (_t, p, packet) => packet.retain && resolve(p)));
    await late.subscribeAsync(topic, { qos: 0 });
    const value = decode(PointValueMessageSchema, topic, await got);
    expect(value.ok && value.value).toEqual({ v: 20.5, ts: 1_700_000_000_000, q: 'good', unit: 'degC' });
    await waitFor(() => received.some((m) => m.topic === `spBv1.0/${site}/DDATA/${id}/ahu1`), 5000, 'DDATA');
    const nbirth = spb.decodePayload(received.find((m) => m.topic === `spBv1.0/${site}/NBIRTH/${id}`)!.payload);
    expect(Number(nbirth.seq)).toBe(0);
    sessions.add(`${id}-spb`);
  });
});
