/**
 * The hub scaled out: two and three hub processes (`swarmgate hub --config`, each a child process)
 * behind a clustered broker, storing into one PostgreSQL schema, while a fleet of simulated
 * gateways (the real federation: outbox, publisher, stored receipts) streams. Mid-run one hub is
 * killed with SIGKILL and one broker node too. Afterwards every reading each gateway reported is
 * in the database exactly once (counted per gateway and reading: nothing missing, nothing twice),
 * and every hub stored a share.
 *   - NATS: a three-node cluster of our own (JetStream R3, MQTT listener on every node); gateways
 *     speak MQTT 3.1.1 to it, hubs pull from one shared durable consumer. The node killed is the
 *     stream's leader.
 *   - Mosquitto: MQTT 5 shared subscriptions with persistent hub sessions, on a Mosquitto of our
 *     own that is killed and started again (a single broker node; EMQX/HiveMQ clusters speak the
 *     same protocol). A hub killed there is restarted, as systemd would: its broker session holds
 *     the messages the broker had already assigned to it.
 * And on NATS with publishers that never resend (plain MQTT clients): a hub killed while it holds
 * unacknowledged messages loses none of them, because JetStream hands them to the other hub; this
 * one fails if the source acknowledged before the store write.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { connect } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MOSQUITTO_BIN, ownMosquitto, type OwnMosquitto } from '../support/mosquitto.js';
import { natsServerPeer, ownNatsCluster, type NatsCluster } from '../support/nats.js';
import { peerOrSkip, tcpPeer } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import { startFleet, type Fleet } from './support/fleet.js';
import { addGatewayUser, addHubUser } from './support/hub.js';
import { clusterSchema, mqttBrokerYaml, natsBrokerYaml, startHubProcesses, type BrokerYaml, type ClusterSchema, type HubProcesses } from './support/hub-cluster.js';
import { PERFECT, checkStored, summary, waitStored } from './support/stored.js';
import { sleep, uniqueId, waitFor } from './support/util.js';
import type { Reading } from '../../edge/drivers/driver.js';
import { StoredReceiptSchema, TelemetryBatchSchema, decode, encode } from '../../shared/wire/index.js';

const hasPostgres = peerOrSkip(await tcpPeer('127.0.0.1', 5432, 'postgresql'));
const hasNats = peerOrSkip(natsServerPeer());
const hasMosquitto = peerOrSkip({ available: existsSync(MOSQUITTO_BIN), reason: 'mosquitto binary not found: apt-get install -y mosquitto' });

const GATEWAYS = 6;
const POINTS = 20;
const TICK_MS = 100;

interface RunResult {
  readonly reported: number;
  readonly stored: number;
  /** Readings each hub said it stored at stop; undefined for the one killed. */
  readonly shares: (number | undefined)[];
  readonly checks: ReturnType<typeof summary>[];
}

/**
 * Streams from the fleet for `beforeS`, runs `faults`, streams `afterS` more, then waits for every
 * outbox to empty, stops the hubs and checks the database gateway by gateway.
 */
async function run(fleet: Fleet, hubs: HubProcesses, schema: ClusterSchema, faults: () => Promise<void>, beforeS = 8, afterS = 8): Promise<RunResult> {
  await sleep(beforeS * 1000);
  await faults();
  await sleep(afterS * 1000);
  fleet.halt();
  await fleet.drained(90_000).catch((err: unknown) => {
    const gateways = fleet.gateways.map((g) => `${g.id}: connected ${g.federation.publisher.connected}, outbox ${JSON.stringify(g.federation.outbox.stats())}`);
    const logs = hubs.hubs.map((h) => `--- hub ${h.index}\n${(h.child?.output() ?? '').slice(-3000)}`);
    throw new Error(`${String(err)}\n${gateways.join('\n')}\n${logs.join('\n')}`);
  });
  const shares = await hubs.stopAll();
  const checks = [];
  let stored = 0;
  for (const g of fleet.gateways) {
    const c = await checkStored(schema.store, g.id, g.reported);
    stored += c.stored;
    checks.push(summary(c));
  }
  const dupes = await fleet.duplicatesSeen();
  console.info(`multi-hub: reported ${fleet.reportedCount()}, stored ${stored}; readings stored per hub at stop ${JSON.stringify(shares)} (null: killed); batches sent again by gateways ${dupes}`);
  return { reported: fleet.reportedCount(), stored, shares, checks };
}

function expectExactlyOnceWithShares(r: RunResult, hubCount: number): void {
  expect(r.checks).toEqual(Array.from({ length: GATEWAYS }, () => PERFECT));
  expect(r.stored).toBe(r.reported);
  expect(r.reported).toBeGreaterThan(GATEWAYS * POINTS * 100);
  // Every survivor stored a share; the killed one stored the rest (its readings are in the database too).
  const survivors = r.shares.filter((s): s is number => s !== undefined);
  expect(survivors).toHaveLength(hubCount - 1);
  for (const s of survivors) expect(s).toBeGreaterThan(0);
  const killedShare = r.stored - survivors.reduce((a, b) => a + b, 0);
  expect(killedShare).toBeGreaterThan(0);
}

describe.skipIf(!hasPostgres || !hasNats)('hub processes on a NATS JetStream cluster (MQTT listener) and PostgreSQL', { timeout: 300_000 }, () => {
  const dir = tempDir('swg-e2e-multihub-nats-');
  let cluster: NatsCluster;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    cluster = await ownNatsCluster(join(dir.path, 'nats'), 3);
  }, 120_000);

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await cluster?.stop();
    dir.remove();
  });

  /**
   * Deletes a stream; the cluster may still be electing after a node came back (and a loaded CI box
   * answers slowly), so the JetStream API gets 20 s and three tries.
   */
  async function deleteStream(stream: string): Promise<void> {
    const nc = await connect({ servers: cluster.natsUrls.split(',') });
    try {
      const jsm = await nc.jetstreamManager({ timeout: 20_000 });
      for (let attempt = 1; ; attempt++) {
        try {
          await jsm.streams.delete(stream);
          return;
        } catch (err) {
          if (attempt >= 3) throw err;
          await sleep(2000);
        }
      }
    } finally {
      await nc.close();
    }
  }

  /** Moves the stream's leadership to `node` (a step-down elects a random peer), then says who leads. */
  async function leadOn(stream: string, node: string): Promise<string | undefined> {
    const nc = await connect({ servers: cluster.natsUrls.split(',') });
    try {
      const jsm = await nc.jetstreamManager({ timeout: 20_000 });
      for (let i = 0; i < 20; i++) {
        const leader = (await jsm.streams.info(stream)).cluster?.leader;
        if (leader === node) return leader;
        await nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${stream}`, new Uint8Array(), { timeout: 5000 }).catch(() => undefined);
        await sleep(1500);
      }
      return (await jsm.streams.info(stream)).cluster?.leader;
    } finally {
      await nc.close();
    }
  }

  async function scenario(hubCount: number): Promise<RunResult> {
    const [n1, n2, n3] = cluster.nodes as [NonNullable<NatsCluster['nodes'][0]>, NatsCluster['nodes'][0], NatsCluster['nodes'][0]];
    const schema = await clusterSchema();
    cleanups.push(() => schema.drop());
    const stream = uniqueId('SWG').replace(/-/g, '_');
    // Every hub lists every node; the hubs' MQTT link and the gateways use nodes 1 and 2, node 3 dies.
    const broker: BrokerYaml = natsBrokerYaml([n3!.natsUrl, n1.natsUrl, n2!.natsUrl], n1.mqttUrl, { stream, ackWaitS: 5 });
    const hubDir = join(dir.path, `hubs-${hubCount}`);
    mkdirSync(hubDir, { recursive: true });
    const hubs = await startHubProcesses(hubDir, hubCount, broker, schema.schema);
    cleanups.push(() => hubs.stopAll());
    const site = uniqueId('site');
    const fleet = await startFleet({ dir: join(hubDir, 'gw'), site, ids: Array.from({ length: GATEWAYS }, (_, i) => `gw-${hubCount}-${i}`), urls: [n1.mqttUrl, n2!.mqttUrl], points: POINTS, tickMs: TICK_MS });
    cleanups.push(() => fleet.stop());
    const result = await run(fleet, hubs, schema, async () => {
      expect(await leadOn(stream, n3!.name)).toBe(n3!.name);
      await hubs.kill(0);
      await n3!.stop('SIGKILL');
    });
    await fleet.stop();
    await n3!.start();
    // One stream per set of subjects in an account: the next scenario makes its own.
    await deleteStream(stream);
    return result;
  }

  it('two hubs: each stores a share; kill -9 of a hub and of the stream leader loses nothing and doubles nothing', async () => {
    expectExactlyOnceWithShares(await scenario(2), 2);
  });

  it('three hubs: the same with one hub and one NATS node killed', async () => {
    expectExactlyOnceWithShares(await scenario(3), 3);
  });

  it('a hub killed with messages in hand: JetStream hands them to the other hub, with no gateway sending anything again', async () => {
    const n1 = cluster.nodes[0]!;
    const schema = await clusterSchema();
    cleanups.push(() => schema.drop());
    const stream = uniqueId('SWG').replace(/-/g, '_');
    const hubDir = join(dir.path, 'hubs-burst');
    mkdirSync(hubDir, { recursive: true });
    const hubs = await startHubProcesses(hubDir, 2, natsBrokerYaml(cluster.natsUrls.split(','), n1.mqttUrl, { stream, ackWaitS: 3 }), schema.schema);
    cleanups.push(() => hubs.stopAll());
    const site = uniqueId('site');
    // Plain MQTT publishers that never resend: whatever the hubs lose stays lost.
    const gw = await mqtt.connectAsync(n1.mqttUrl, { clientId: uniqueId('burst'), protocolVersion: 4, clean: true });
    cleanups.push(() => gw.endAsync());
    const receipted = new Set<string>();
    gw.on('message', (topic, payload) => {
      const r = decode(StoredReceiptSchema, topic, payload);
      if (r.ok) for (const b of r.value.batches) for (let q = b.from; q <= b.to; q++) receipted.add(`${topic.split('/')[3]}:${q}`);
    });
    await gw.subscribeAsync(`swarmgate/v1/${site}/+/stored`, { qos: 1 });
    const gateways = ['gw-b0', 'gw-b1', 'gw-b2', 'gw-b3'];
    const reported = new Map<string, Reading[]>(gateways.map((g) => [g, []]));
    const BATCHES = 400;
    const t0 = Date.now() - 600_000;
    const sends: Promise<unknown>[] = [];
    for (let seq = 0; seq < BATCHES; seq++) {
      for (const g of gateways) {
        const readings: Reading[] = Array.from({ length: 10 }, (_, p) => ({ device: 'sim', point: `p${p}`, value: seq * 100 + p, quality: 'good', ts: t0 + seq * 100 }));
        reported.get(g)!.push(...readings);
        const batch = { v: 1 as const, gateway: g, bootId: 'boot-burst-1', seq, sentAt: Date.now(), historical: true, readings: readings.map((r) => ({ d: r.device, p: r.point, v: r.value as number, q: 'good' as const, ts: r.ts })) };
        sends.push(gw.publishAsync(`swarmgate/v1/${site}/${g}/telemetry`, encode(TelemetryBatchSchema, batch), { qos: 1 }));
      }
    }
    await Promise.all(sends);
    const total = BATCHES * gateways.length;
    // Mid-drain: each hub holds up to `concurrency` messages unacknowledged. The database says how
    // far the drain got: the receipts travel back through the MQTT listener's own JetStream
    // streams, which lag on a loaded box while the node killed in the scenarios before catches up.
    const storedRows = async (): Promise<number> => {
      let rows = 0;
      for (const g of gateways) rows += (await checkStored(schema.store, g, reported.get(g)!)).stored;
      return rows;
    };
    await waitFor(async () => (await storedRows()) >= total * 10 * 0.2, 90_000, 'a fifth of the burst stored', 250).catch(async (err: unknown) => {
      const logs = hubs.hubs.map((h) => `--- hub ${h.index}\n${(h.child?.output() ?? '').slice(-4000)}`).join('\n');
      throw new Error(`${String(err)}: ${await storedRows()} of ${total * 10} readings stored, ${receipted.size} batches receipted\n${logs}`);
    });
    await hubs.kill(0);
    // The database, not the receipts, is the judge: a hub killed between a store write and its
    // receipt (receipts go out every 50 ms) stored the batch, and a real gateway would send it
    // again and be receipted for the duplicate; these publishers never do.
    const checks = [];
    for (const g of gateways) checks.push(summary(await waitStored(schema.store, g, reported.get(g)!, 90_000)));
    const shares = await hubs.stopAll();
    if (checks.some((c) => c.missing.length > 0)) console.info(hubs.hubs.map((h) => `--- hub ${h.index}\n${(h.child?.output() ?? '').slice(-4000)}`).join('\n'));
    expect(checks).toEqual(gateways.map(() => PERFECT));
    expect(shares[1]).toBeGreaterThan(0);
    await deleteStream(stream);
  });
});

describe.skipIf(!hasPostgres || !hasMosquitto)('hub processes on Mosquitto shared subscriptions and PostgreSQL', { timeout: 300_000 }, () => {
  const dir = tempDir('swg-e2e-multihub-mqtt-');
  const users = join(dir.path, 'users.yaml');
  let broker: OwnMosquitto;
  let hubAuth: { username: string; password: string };
  const gatewayAuth = new Map<string, { username: string; password: string }>();
  const cleanups: (() => Promise<unknown>)[] = [];
  const site = uniqueId('site');
  const ids = (hubCount: number): string[] => Array.from({ length: GATEWAYS }, (_, i) => `gw-m${hubCount}-${i}`);

  beforeAll(async () => {
    hubAuth = await addHubUser(users, 'hub-mh');
    for (const n of [2, 3]) for (const id of ids(n)) gatewayAuth.set(id, await addGatewayUser(users, site, id));
    broker = await ownMosquitto(join(dir.path, 'mosquitto'), users, hubAuth);
  }, 60_000);

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await broker?.stop('SIGTERM');
    dir.remove();
  });

  async function scenario(hubCount: number): Promise<RunResult> {
    const schema = await clusterSchema();
    cleanups.push(() => schema.drop());
    const hubDir = join(dir.path, `hubs-${hubCount}`);
    mkdirSync(hubDir, { recursive: true });
    const hubs = await startHubProcesses(hubDir, hubCount, mqttBrokerYaml(broker.url, hubAuth, uniqueId('grp')), schema.schema);
    cleanups.push(() => hubs.stopAll());
    const fleet = await startFleet({ dir: join(hubDir, 'gw'), site, ids: ids(hubCount), urls: [broker.url], points: POINTS, tickMs: TICK_MS, auth: (id) => gatewayAuth.get(id) });
    cleanups.push(() => fleet.stop());
    let restarted: HubProcesses['hubs'][number] | undefined;
    const result = await run(fleet, hubs, schema, async () => {
      await hubs.kill(0);
      await broker.stop('SIGKILL');
      await sleep(1000);
      await broker.start();
      // systemd (Restart=always) brings the killed hub back under its client id: its session's queue drains.
      await hubs.start(0);
      restarted = hubs.hubs[0];
    });
    await fleet.stop();
    expect(restarted?.child?.output()).toContain('"msg":"hub started"');
    return result;
  }

  it('two hubs: each stores a share; kill -9 of a hub and of the broker loses nothing and doubles nothing', async () => {
    const r = await scenario(2);
    // Hub 0 was killed and restarted: its final line counts only what it stored after the restart.
    expect(r.checks).toEqual(Array.from({ length: GATEWAYS }, () => PERFECT));
    expect(r.stored).toBe(r.reported);
    for (const s of r.shares) expect(s).toBeGreaterThan(0);
  });

  it('three hubs: the same', async () => {
    const r = await scenario(3);
    expect(r.checks).toEqual(Array.from({ length: GATEWAYS }, () => PERFECT));
    expect(r.stored).toBe(r.reported);
    for (const s of r.shares) expect(s).toBeGreaterThan(0);
  });
});
