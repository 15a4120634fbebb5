/**
 * Several hub processes (`swarmgate hub --config FILE`, each its own child process) on one broker
 * and one PostgreSQL schema: the shape of a scaled-out hub. Configs are written the way an
 * operator writes them (deploy/examples/cluster/hub-*.yaml); the schema is made and migrated once
 * before the hubs start and dropped at the end.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { openHubStore } from '../../../hub/features.js';
import type { HubStore } from '../../../hub/store/types.js';
import { PG_URL } from './hub.js';
import { spawnHub, stopHub, type HubChild } from './processes.js';

export interface ClusterSchema {
  readonly schema: string;
  /** A store on the schema for the test's own reads. */
  readonly store: HubStore;
  drop(): Promise<void>;
}

/** A fresh schema with every table (so hubs starting together do not race to create them). */
export async function clusterSchema(): Promise<ClusterSchema> {
  const schema = `swg_e2e_mh_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
  const store = await openHubStore({ kind: 'postgres', url: PG_URL, schema }, {});
  return {
    schema,
    store,
    async drop() {
      await store.close().catch(() => undefined);
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}

export type BrokerYaml = (index: number) => string;

/** broker: for hub `index` in NATS mode (JetStream consumer + the NATS MQTT listener). */
export function natsBrokerYaml(servers: readonly string[], mqttUrl: string, o: { stream: string; ackWaitS: number; replicas?: number }): BrokerYaml {
  return (i) =>
    `broker:\n  mode: nats\n  nats:\n    servers: [${servers.map((s) => `"${s}"`).join(', ')}]\n    mqttUrl: "${mqttUrl}"\n    clientId: hub-${i}-${randomUUID().slice(0, 6)}\n` +
    `    stream: ${o.stream}\n    consumer: ${o.stream}-hubs\n    replicas: ${o.replicas ?? 3}\n    ackWaitS: ${o.ackWaitS}\n`;
}

/** broker: for hub `index` in external mode (MQTT 5 shared subscriptions, persistent session). */
export function mqttBrokerYaml(url: string, auth: { username: string; password: string }, shareGroup: string): BrokerYaml {
  return (i) =>
    `broker:\n  mode: external\n  external: { url: "${url}", username: ${auth.username}, password: "${auth.password}", shareGroup: ${shareGroup}, clientId: ${shareGroup}-hub-${i}, persistentSession: true, stallAfterS: 10 }\n`;
}

export interface HubProcess {
  readonly index: number;
  readonly file: string;
  child: HubChild | undefined;
}

export interface HubProcesses {
  readonly hubs: HubProcess[];
  start(index: number): Promise<void>;
  kill(index: number): Promise<void>;
  /** SIGTERM to every running hub; the readings each says it stored ('ingest stopped'), undefined for one that was killed. */
  stopAll(): Promise<(number | undefined)[]>;
}

/** Writes hub-<i>.yaml for `count` hubs in `dir` and starts them one after another. */
export async function startHubProcesses(dir: string, count: number, broker: BrokerYaml, schema: string): Promise<HubProcesses> {
  const hubs: HubProcess[] = Array.from({ length: count }, (_, i) => {
    const file = join(dir, `hub-${i}.yaml`);
    writeFileSync(file, `${broker(i)}store: { kind: postgres, url: "${PG_URL}", schema: ${schema} }\nretention: { intervalMinutes: 1440 }\n`);
    return { index: i, file, child: undefined };
  });
  const killed = new Set<number>();
  const handle: HubProcesses = {
    hubs,
    async start(i) {
      killed.delete(i);
      hubs[i]!.child = await spawnHub(hubs[i]!.file, 90_000);
    },
    async kill(i) {
      killed.add(i);
      await stopHub(hubs[i]!.child, 'SIGKILL');
    },
    async stopAll() {
      await Promise.all(hubs.map((h) => stopHub(h.child, 'SIGTERM')));
      return hubs.map((h) => (killed.has(h.index) ? undefined : readingsStoredOf(h.child?.output() ?? '')));
    },
  };
  try {
    for (let i = 0; i < count; i++) await handle.start(i);
  } catch (err) {
    await handle.stopAll();
    throw err;
  }
  return handle;
}

/** The readingsStored of the last 'ingest stopped' log line. */
export function readingsStoredOf(output: string): number | undefined {
  let found: number | undefined;
  for (const line of output.split('\n')) {
    if (!line.includes('"msg":"ingest stopped"')) continue;
    try {
      const v = (JSON.parse(line) as { readingsStored?: unknown }).readingsStored;
      if (typeof v === 'number') found = v;
    } catch {
      // not a whole JSON line
    }
  }
  return found;
}
