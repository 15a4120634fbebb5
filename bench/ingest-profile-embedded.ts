/**
 * Profiling helper (not part of `npm run bench`): the embedded hub (SQLite store) with G gateways
 * connected to its broker, each publishing its share of N telemetry batches QoS 1 with at most W
 * unacknowledged (like a gateway's outbox window), all at once.
 *   node --cpu-prof --import tsx bench/ingest-profile-embedded.ts [json|binary] [N] [G] [W]
 */
import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { TelemetryBatchSchema, encode, encodeTelemetryBinary, gatewayTopic, type TelemetryBatch, type WireReading } from '../shared/wire/index.js';
import { tempDir } from '../test/support/tmp.js';
import { upsertUser } from '../hub/broker/credentials.js';
import { parseHubConfig } from '../hub/config.js';
import { startHub } from '../hub/index.js';
import { SqliteStore } from '../hub/store/sqlite/sqlite.js';
import { createLogger } from '../shared/kit/log.js';
import { join } from 'node:path';

const encoding = process.argv[2] === 'binary' ? 'binary' : 'json';
const count = Number(process.argv[3] ?? 6000);
const gateways = Number(process.argv[4] ?? 20);
const window = Number(process.argv[5] ?? 20);
const per = Math.floor(count / gateways);
const t0 = Date.now() - per * 1000 - 600_000;
const dir = tempDir('swg-prof-emb-');
// SWARMGATE_PROFILE_FSYNC=1: the journal fsyncs every write (power-loss durability).
const fsync = process.env.SWARMGATE_PROFILE_FSYNC === '1';
const config = parseHubConfig(`broker: { embedded: { host: 127.0.0.1, port: 0, credentialsFile: users.yaml } }\nstore: { kind: sqlite, path: hub.db, fsync: ${fsync} }\n`, join(dir.path, 'hub.yaml'));
const started0 = await startHub(config, { logger: createLogger('prof', 'warn'), retentionIntervalMs: 0 });
const hub = {
  hub: started0,
  url: started0.broker!.url,
  async user(site: string, gateway: string) {
    const password = `pw-${randomUUID()}`;
    await upsertUser(join(dir.path, 'users.yaml'), { role: 'gateway', username: gateway, site, gateway }, password, { mosquittoIterations: 101 });
    return { username: gateway, password };
  },
};
const clients: { client: MqttClient; topic: string; payloads: Buffer[] }[] = [];
for (let g = 0; g < gateways; g++) {
  const gateway = `gw-${g}`;
  const auth = await hub.user('prof', gateway);
  const client = await mqtt.connectAsync(hub.url, { ...auth, clientId: gateway, clean: true, reconnectPeriod: 0 });
  const bootId = randomUUID();
  const payloads = Array.from({ length: per }, (_, seq) => {
    const readings: WireReading[] = Array.from({ length: 100 }, (_, i) => ({ d: `dev${i % 10}`, p: `point_${i}`, v: 20 + Math.sin(seq + i) * 5, q: 'good', ts: t0 + seq * 1000 }));
    const b: TelemetryBatch = { v: 1, gateway, bootId, seq, sentAt: Date.now(), historical: false, readings };
    return encoding === 'binary' ? encodeTelemetryBinary(b, b.readings) : encode(TelemetryBatchSchema, b);
  });
  clients.push({ client, topic: gatewayTopic('prof', gateway, 'telemetry'), payloads });
}
const started = performance.now();
const cpu = process.cpuUsage();
await Promise.all(
  clients.map(async ({ client, topic, payloads }) => {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < payloads.length) await client.publishAsync(topic, payloads[next++]!, { qos: 1 });
    };
    await Promise.all(Array.from({ length: window }, worker));
  }),
);
const ms = performance.now() - started;
const used = process.cpuUsage(cpu);
const store = hub.hub.store;
const stats = store instanceof SqliteStore ? store.telemetryStats() : undefined;
console.log(JSON.stringify({ fsync, encoding, gateways, window, msgs: per * gateways, perS: Math.round(((per * gateways) / ms) * 1000), cpuUsPerMsg: Math.round((used.user + used.system) / (per * gateways)), groupWrites: stats?.journalGroupWrites, stored: await hub.hub.metrics.count(hub.hub.metrics.readingsStored) }));
for (const c of clients) await c.client.endAsync();
await hub.hub.stop();
dir.remove();
