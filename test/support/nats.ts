/**
 * A NATS cluster of the test's own: N `nats-server` nodes on loopback ports, each with JetStream
 * (its own store folder) and an MQTT listener, routed to each other. Nodes are killed and started
 * again one by one (same ports, same store folder), like a node that crashed and came back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { exited } from './child.js';
import { freePort } from './mosquitto.js';
import type { PeerStatus } from './peers.js';

export const NATS_SERVER_BIN = '/usr/sbin/nats-server';

export function natsServerPeer(): PeerStatus {
  const ok = existsSync(NATS_SERVER_BIN);
  return { available: ok, reason: ok ? '' : `${NATS_SERVER_BIN} not found: apt-get install -y nats-server` };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface NatsNode {
  readonly name: string;
  /** nats://127.0.0.1:port (the hub's JetStream connection). */
  readonly natsUrl: string;
  /** mqtt://127.0.0.1:port (gateways and the hub's MQTT link). */
  readonly mqttUrl: string;
  readonly running: boolean;
  stop(signal: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  start(): Promise<void>;
}

export interface NatsCluster {
  readonly nodes: readonly NatsNode[];
  /** Every node's client URL, comma separated (what a hub config lists). */
  readonly natsUrls: string;
  stop(): Promise<void>;
}

/** The config of one node: JetStream in `dir`, routes to every other node, an MQTT listener. */
export function natsNodeConf(o: { name: string; dir: string; port: number; clusterPort: number; mqttPort: number; routes: readonly number[] }): string {
  const clustered = o.routes.length > 0;
  return [
    `server_name: ${o.name}`,
    `log_file: "${o.dir}.log"`,
    `listen: 127.0.0.1:${o.port}`,
    `jetstream { store_dir: "${o.dir}", max_memory_store: 64MB, max_file_store: 2GB }`,
    ...(clustered ? [`cluster { name: swg-test, listen: 127.0.0.1:${o.clusterPort}, routes: [${o.routes.map((p) => `nats-route://127.0.0.1:${p}`).join(', ')}] }`] : []),
    // Explicit: the MQTT streams (sessions, retained, QoS 1 deliveries) are made with the nodes up at
    // the first MQTT connect, and an R2 stream of a three-node cluster dies with either of its nodes.
    `mqtt { listen: 127.0.0.1:${o.mqttPort}${clustered ? `, stream_replicas: ${Math.min(3, o.routes.length + 1)}` : ''} }`,
    '',
  ].join('\n');
}

async function waitMqtt(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const c = await mqtt.connectAsync(url, { clientId: `probe-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 2000 });
      await c.endAsync(true);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`NATS MQTT listener ${url} does not accept connections: ${String(err)}`);
      await sleep(200);
    }
  }
}

/** Starts `size` nodes in `dir`; resolves once every node's MQTT listener accepts a client (JetStream is up and has a leader). */
export async function ownNatsCluster(dir: string, size = 3): Promise<NatsCluster> {
  const ports = await Promise.all(Array.from({ length: size }, async () => ({ port: await freePort(), clusterPort: await freePort(), mqttPort: await freePort() })));
  const nodes = ports.map((p, i) => {
    const name = `n${i + 1}`;
    const nodeDir = join(dir, name);
    mkdirSync(nodeDir, { recursive: true });
    const conf = join(nodeDir, 'nats.conf');
    writeFileSync(conf, natsNodeConf({ name, dir: join(nodeDir, 'js'), ...p, routes: ports.filter((_, j) => j !== i).map((q) => q.clusterPort) }));
    let proc: ChildProcess | undefined;
    let log = '';
    const node: NatsNode = {
      name,
      natsUrl: `nats://127.0.0.1:${p.port}`,
      mqttUrl: `mqtt://127.0.0.1:${p.mqttPort}`,
      get running() {
        return proc !== undefined;
      },
      async stop(signal) {
        const running = proc;
        proc = undefined;
        if (!running || running.exitCode !== null) return;
        running.kill(signal);
        await exited(running);
      },
      async start() {
        if (proc) return;
        const child = spawn(NATS_SERVER_BIN, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
        child.stderr!.on('data', (chunk: Buffer) => {
          log = (log + chunk.toString('utf8')).slice(-20_000);
        });
        proc = child;
        child.once('exit', () => {
          if (proc === child) proc = undefined;
        });
        try {
          await waitMqtt(node.mqttUrl, 30_000);
        } catch (err) {
          const file = `${join(nodeDir, 'js')}.log`;
          throw new Error(`${String(err)}\n${log}${existsSync(file) ? readFileSync(file, 'utf8').slice(-5000) : ''}`);
        }
      },
    };
    return node;
  });
  // All at once: a node's JetStream waits for its peers before it serves.
  await Promise.all(nodes.map((n) => n.start()));
  return {
    nodes,
    natsUrls: nodes.map((n) => n.natsUrl).join(','),
    async stop() {
      await Promise.all(nodes.map((n) => n.stop('SIGTERM')));
    },
  };
}
