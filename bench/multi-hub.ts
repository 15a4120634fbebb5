/**
 * Scale-out: throughput of 2 hub processes against 1 on the same broker and database, on each
 * broker kind: a NATS node of our own (JetStream + MQTT listener; hubs in nats mode sharing one
 * durable consumer) and a Mosquitto of our own (hubs in external mode, shared subscriptions,
 * persistent sessions). A backlog of telemetry batches (the gateways' wire messages, 100 readings
 * each, many gateways) is put in first (the stream, or the stopped hubs' sessions), then 1 (or 2)
 * `swarmgate hub` processes drain it into a fresh PostgreSQL schema. Progress is what gateways see: the hubs' stored receipts
 * (unique gateway/seq pairs), read from the NATS MQTT listener. The rate is taken between 10 % and
 * 90 % of the backlog (hub start-up excluded). Reported with the machine's CPU count and the hubs'
 * CPU time, since on a machine with fewer free cores than hubs the ratio says more about the CPU
 * than about the hub.
 *
 *   npx tsx bench/multi-hub.ts
 */
import { randomUUID } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import mqtt from 'mqtt';
import { connect } from 'nats';
import { upsertUser } from '../hub/broker/credentials.js';
import { StoredReceiptSchema, TelemetryBatchSchema, decode, encode, type WireReading } from '../shared/wire/index.js';
import { clusterSchema } from '../test/e2e/support/hub-cluster.js';
import { PG_URL } from '../test/e2e/support/hub.js';
import { spawnHub, stopHub, type HubChild } from '../test/e2e/support/processes.js';
import { MOSQUITTO_BIN, ownMosquitto } from '../test/support/mosquitto.js';
import { ownNatsCluster, type NatsCluster } from '../test/support/nats.js';
import { tempDir } from '../test/support/tmp.js';
import { cpuOfCommands, cpuSeconds } from './proc.js';
import { progress, ratioEntry, type BenchEntry } from './results.js';

const GATEWAYS = 30;
const BATCHES_PER_GATEWAY = 100;
const READINGS = 100;
const SITE = 'bench';

interface RunResult {
  readonly readingsPerS: number;
  readonly seconds: number;
  /** CPU seconds of each hub process over the whole run. */
  readonly hubCpuS: number[];
  /** CPU seconds of PostgreSQL (all its processes) and of the broker while the backlog drained. */
  readonly postgresCpuS: number;
  readonly brokerCpuS: number;
}

function payloads(): { subject: string; topic: string; data: Buffer }[] {
  const t0 = Date.now() - 3_600_000;
  const out: { subject: string; topic: string; data: Buffer }[] = [];
  for (let seq = 0; seq < BATCHES_PER_GATEWAY; seq++) {
    for (let g = 0; g < GATEWAYS; g++) {
      const gateway = `gw-${g}`;
      const readings: WireReading[] = Array.from({ length: READINGS }, (_, i) => ({ d: `dev${i % 10}`, p: `point_${i}`, v: 20 + Math.sin(seq + i) * 5, q: 'good', ts: t0 + seq * 1000 }));
      out.push({ subject: `swarmgate.v1.${SITE}.${gateway}.telemetry`, topic: `swarmgate/v1/${SITE}/${gateway}/telemetry`, data: encode(TelemetryBatchSchema, { v: 1, gateway, bootId: `boot-${gateway}`, seq, sentAt: Date.now(), historical: true, readings }) });
    }
  }
  return out;
}

/** Where the backlog waits and how hub processes reach it. */
interface BenchBroker {
  readonly name: string;
  /** MQTT url and user the receipt watcher connects with. */
  readonly watch: { url: string; username?: string; password?: string };
  /** A fresh backlog place per run (stream or share group); returns the broker: section of hub `i`. */
  prepare(runId: string): (i: number) => string;
  /** Puts the backlog in, once the hubs of the run have been started once and stopped (their stream, consumer or sessions exist). */
  load(messages: readonly { subject: string; topic: string; data: Buffer }[]): Promise<void>;
  cleanup(): Promise<void>;
}

async function natsBroker(cluster: NatsCluster): Promise<BenchBroker> {
  const node = cluster.nodes[0]!;
  const nc = await connect({ servers: node.natsUrl });
  let stream = '';
  return {
    name: 'NATS JetStream (one node, R1, MQTT listener)',
    watch: { url: node.mqttUrl },
    prepare(runId) {
      stream = `BENCH_${runId}`;
      return (i) => `broker:\n  mode: nats\n  nats: { servers: ["${node.natsUrl}"], mqttUrl: "${node.mqttUrl}", clientId: bench-hub-${i}, stream: ${stream}, consumer: ${stream}-hubs, replicas: 1 }\n`;
    },
    async load(messages) {
      const js = nc.jetstream();
      for (let i = 0; i < messages.length; i += 500) await Promise.all(messages.slice(i, i + 500).map((m) => js.publish(m.subject, m.data)));
    },
    async cleanup() {
      await (await nc.jetstreamManager()).streams.delete(stream).catch(() => undefined);
    },
  };
}

async function mosquittoBroker(dir: string): Promise<BenchBroker & { stop(): Promise<void> }> {
  const users = join(dir, 'users.yaml');
  const auth = { username: 'bench-hub', password: `pw-${randomUUID()}` };
  await upsertUser(users, { role: 'hub', username: auth.username }, auth.password, { mosquittoIterations: 101 });
  const broker = await ownMosquitto(join(dir, 'mosquitto'), users, auth);
  let group = '';
  return {
    name: 'Mosquitto 2 (MQTT 5 shared subscriptions, persistent hub sessions)',
    watch: { url: broker.url, ...auth },
    prepare(runId) {
      group = `bench-${runId}`;
      return (i) => `broker:\n  mode: external\n  external: { url: "${broker.url}", username: ${auth.username}, password: "${auth.password}", shareGroup: ${group}, clientId: ${group}-${i}, persistentSession: true }\n`;
    },
    async load(messages) {
      // Queued in the stopped hubs' sessions, spread over the group by the broker.
      const c = await mqtt.connectAsync(broker.url, { ...auth, clientId: `bench-load-${randomUUID().slice(0, 8)}`, protocolVersion: 5 });
      try {
        for (let i = 0; i < messages.length; i += 200) await Promise.all(messages.slice(i, i + 200).map((m) => c.publishAsync(m.topic, m.data, { qos: 1 })));
      } finally {
        await c.endAsync();
      }
    },
    async cleanup() {},
    stop: () => broker.stop('SIGTERM'),
  };
}

async function runWith(hubCount: number, broker: BenchBroker, dir: string): Promise<RunResult> {
  const schema = await clusterSchema();
  const runId = randomUUID().slice(0, 8);
  const brokerYaml = broker.prepare(runId);
  const hubs: (HubChild | undefined)[] = [];
  const watcher = await mqtt.connectAsync(broker.watch.url, { ...broker.watch, clientId: `bench-watch-${runId}`, protocolVersion: 4, clean: true });
  try {
    const files = Array.from({ length: hubCount }, (_, i) => {
      const file = join(dir, `hub-${runId}-${i}.yaml`);
      writeFileSync(file, `${brokerYaml(i)}store: { kind: postgres, url: "${PG_URL}", schema: ${schema.schema} }\nretention: { intervalMinutes: 1440 }\n`);
      return file;
    });
    // The stream and consumer (or the hubs' sessions and shared subscriptions) exist before the
    // backlog is put in: the hubs start once and stop.
    for (const h of await Promise.all(files.map((f) => spawnHub(f, 90_000)))) await stopHub(h, 'SIGTERM');
    const all = payloads();
    await broker.load(all);
    const total = all.length;
    const seen = new Set<string>();
    const marks: number[] = [];
    await watcher.subscribeAsync(`swarmgate/v1/${SITE}/+/stored`, { qos: 1 });
    watcher.on('message', (topic, payload) => {
      const r = decode(StoredReceiptSchema, topic, payload);
      if (!r.ok) return;
      const gateway = topic.split('/')[3];
      for (const b of r.value.batches) for (let s = b.from; s <= b.to; s++) {
        const key = `${gateway}:${s}`;
        if (seen.has(key)) continue;
        seen.add(key);
        marks.push(performance.now());
      }
    });
    const brokerCommands = ['nats-server', 'mosquitto'];
    const pgBefore = cpuOfCommands(['postgres']);
    const brokerBefore = cpuOfCommands(brokerCommands);
    // All hubs at once; each takes its share as soon as it is up.
    hubs.push(...(await Promise.all(files.map((f) => spawnHub(f, 90_000)))));
    const deadline = Date.now() + 600_000;
    while (seen.size < total) {
      if (Date.now() > deadline) throw new Error(`bench: ${seen.size}/${total} batches receipted after 600 s on ${broker.name}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const lo = marks[Math.floor(total * 0.1)]!;
    const hi = marks[Math.floor(total * 0.9) - 1]!;
    const seconds = (hi - lo) / 1000;
    const hubCpuS = hubs.map((h) => Number(cpuSeconds(h?.process.pid).toFixed(1)));
    const postgresCpuS = Number((cpuOfCommands(['postgres']) - pgBefore).toFixed(1));
    const brokerCpuS = Number((cpuOfCommands(brokerCommands) - brokerBefore).toFixed(1));
    return { readingsPerS: Math.round(((Math.floor(total * 0.9) - Math.floor(total * 0.1)) * READINGS) / seconds), seconds: Number(((marks[total - 1]! - marks[0]!) / 1000).toFixed(1)), hubCpuS, postgresCpuS, brokerCpuS };
  } finally {
    await Promise.all(hubs.map((h) => stopHub(h, 'SIGTERM')));
    await watcher.endAsync().catch(() => undefined);
    await broker.cleanup();
    await schema.drop();
  }
}

/** 1 and 2 hub processes on one broker; the entries named by `key`, the 2-hub one a ratio against the 1-hub one. */
async function pair(key: string, broker: BenchBroker, dir: string): Promise<BenchEntry[]> {
  const one = await runWith(1, broker, dir);
  const cpu = (r: RunResult): string => `${r.seconds} s; CPU: hubs ${r.hubCpuS.join('+')} s, PostgreSQL ${r.postgresCpuS} s, broker ${r.brokerCpuS} s`;
  progress(`multi-hub ${key}: 1 hub: ${one.readingsPerS} readings/s (${cpu(one)})`);
  const two = await runWith(2, broker, dir);
  progress(`multi-hub ${key}: 2 hubs: ${two.readingsPerS} readings/s (${cpu(two)})`);
  const cores = cpus().length;
  const what = `${GATEWAYS * BATCHES_PER_GATEWAY} batches of ${READINGS} readings (${GATEWAYS} gateways) backlogged on ${broker.name}, drained by hub processes into one PostgreSQL schema; rate between 10 % and 90 % of the stored receipts; machine: ${cores} CPU cores shared with the broker, PostgreSQL and this harness (load average at the end ${loadavg()[0]!.toFixed(1)})`;
  const oneEntry = { name: `multi_hub_${key}_1_hub_readings_per_s`, value: one.readingsPerS, unit: 'readings/s' };
  return [
    { ...oneEntry, notes: `${what}; 1 hub process (${cpu(one)})` },
    ratioEntry(
      `multi_hub_${key}_2_hubs_readings_per_s`,
      { value: two.readingsPerS, unit: 'readings/s' },
      oneEntry,
      1.8,
      `${what}; 2 hub processes (${cpu(two)}). The 1.8 target assumes a free core per hub process and a database that keeps up; with ${cores} cores shared by both hubs, the broker, PostgreSQL and the harness it cannot be met here`,
    ),
  ];
}

export async function benchMultiHub(): Promise<BenchEntry[]> {
  const dir = tempDir('swg-bench-multihub-');
  const entries: BenchEntry[] = [];
  try {
    const cluster = await ownNatsCluster(join(dir.path, 'nats'), 1);
    try {
      entries.push(...(await pair('nats', await natsBroker(cluster), dir.path)));
    } finally {
      await cluster.stop();
    }
    if (existsSync(MOSQUITTO_BIN)) {
      const mosquitto = await mosquittoBroker(dir.path);
      try {
        entries.push(...(await pair('mosquitto', mosquitto, dir.path)));
      } finally {
        await mosquitto.stop();
      }
    } else progress(`multi-hub: ${MOSQUITTO_BIN} not found (apt-get install -y mosquitto): the shared-subscription pair is left out`);
    return entries;
  } finally {
    dir.remove();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href || process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const e of await benchMultiHub()) progress(`${e.name}: ${e.value} ${e.unit}${e.ratio !== undefined ? ` ratio ${e.ratio} (target ${e.target}: ${e.meetsTarget ? 'met' : 'NOT met'})` : ''}`);
}
