/**
 * Profiling helper (not part of `npm run bench`): one hub in external mode on the local Mosquitto
 * ingesting INGEST_BATCHES telemetry batches, publisher in this process.
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/ingest-profile.ts [json|binary] [batches] [gateways]
 *   (READINGS=n readings per batch, default 100; AGENTS=1 with the agents and API on)
 * EXTRA=n adds n consumer connections to the hub's share group, each handing its messages to the
 * same ingest (MQTT.js hands over one message at a time per connection): the measurement behind
 * keeping one consumer connection (no gain seen: 1,800-2,100 msgs/s either way at load 13).
 * With the PostgreSQL store (SWARMGATE_PROFILE_PG, journaled with SWARMGATE_PROFILE_PG_JOURNAL=1)
 * one run showed 2.2x with EXTRA=3 (43 -> 96, 270 -> 610 msgs/s at load 12-15), but alternated
 * A/B runs did not (8 gateways, journaled: 629/1138/760 msgs/s with one connection, 750/793/736
 * with four, each batch's hub CPU 0.4-3.4 ms): the first figures were the machine's load moving.
 * A hub-side consumers option with per-gateway lanes was built, tested and left out for that.
 * cpuShare is the process's CPU seconds per wall second: well under 1 means the machine's other
 * load, not this process's work, set the pace.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { parseHubConfig } from '../hub/config.js';
import { startHub } from '../hub/index.js';
import { createLogger } from '../shared/kit/log.js';
import { TelemetryBatchSchema, encode, encodeTelemetryBinary, gatewayTopic, type TelemetryBatch, type WireReading } from '../shared/wire/index.js';
import { tempDir } from '../test/support/tmp.js';

const encoding = process.argv[2] === 'binary' ? 'binary' : 'json';
const count = Number(process.argv[3] ?? 6000);
const gateways = Number(process.argv[4] ?? 1);
// READINGS=n readings per batch (default 100); AGENTS=1 runs the agents (demo facility model) and the API as a production hub does.
const perBatch = Number(process.env.READINGS ?? 100);
const withAgents = process.env.AGENTS === '1';
const site = `prof-${randomUUID().slice(0, 6)}`;
const t0 = Date.now() - (count / gateways) * 1000 - 600_000;
const payloads: { topic: string; payload: Buffer }[] = [];
const boots = Array.from({ length: gateways }, () => randomUUID());
for (let seq = 0; seq < count / gateways; seq++) {
  for (let g = 0; g < gateways; g++) {
    const gateway = `gw-${g}`;
    const readings: WireReading[] = Array.from({ length: perBatch }, (_, i) => ({ d: `dev${i % 10}`, p: `point_${(seq * perBatch + i) % 100}`, v: 20 + Math.sin(seq + i) * 5, q: 'good', ts: t0 + seq * 1000 + i }));
    const b: TelemetryBatch = { v: 1, gateway, bootId: boots[g]!, seq, sentAt: Date.now(), historical: false, readings };
    payloads.push({ topic: gatewayTopic(site, gateway, 'telemetry'), payload: encoding === 'binary' ? encodeTelemetryBinary(b, b.readings) : encode(TelemetryBatchSchema, b) });
  }
}
const dir = tempDir('swg-prof-');
const group = `prof-${randomUUID().slice(0, 6)}`;
// SWARMGATE_PROFILE_PG=<postgres url>: the PostgreSQL store in a schema of its own (dropped at the
// end), journaled with SWARMGATE_PROFILE_PG_JOURNAL=1; else SQLite.
const pgUrl = process.env.SWARMGATE_PROFILE_PG;
const pgSchema = `prof_${randomUUID().slice(0, 8).replace(/-/g, '')}`;
const store = pgUrl ? `store: { kind: postgres, url: "${pgUrl}", schema: ${pgSchema}${process.env.SWARMGATE_PROFILE_PG_JOURNAL === '1' ? `, journal: ${join(dir.path, 'pg-journal')}` : ''} }` : 'store: { kind: sqlite, path: hub.db }';
const agents = withAgents ? `agents: { enabled: true, facilityModel: "${join(process.cwd(), 'deploy/examples/demo-facility.yaml')}" }\napi: { host: 127.0.0.1, port: 0 }\n` : '';
const config = parseHubConfig(`broker:\n  mode: external\n  external: { url: "mqtt://127.0.0.1:1883", shareGroup: ${group} }\n${store}\n${agents}`, join(dir.path, 'hub.yaml'));
const hub = await startHub(config, { logger: createLogger('prof', 'warn'), sites: [site], retentionIntervalMs: 0 });
const extra = Number(process.env.EXTRA ?? 0);
const extras = [];
for (let i = 0; i < extra; i++) {
  const c = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { clientId: `swg-prof-x${i}-${randomUUID().slice(0, 8)}`, clean: true, reconnectPeriod: 0 });
  c.handleMessage = (packet, done) => void hub.ingest.handle(packet.topic, packet.payload as Buffer).then(() => done());
  await c.subscribeAsync(`$share/${group}/swarmgate/v1/${site}/+/telemetry`, { qos: 1 });
  extras.push(c);
}
const pub = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { clientId: `swg-prof-pub-${randomUUID().slice(0, 8)}`, clean: true, reconnectPeriod: 0 });
const started = performance.now();
const cpu = process.cpuUsage();
for (let i = 0; i < payloads.length; i++) {
  while (i - hub.ingest.stats.handled >= 200) await new Promise((r) => setImmediate(r));
  pub.publish(payloads[i]!.topic, payloads[i]!.payload, { qos: 1 });
}
while (hub.ingest.stats.handled < payloads.length) await new Promise((r) => setTimeout(r, 2));
const ms = performance.now() - started;
const used = process.cpuUsage(cpu);
console.log(JSON.stringify({ cpuShare: Number(((used.user + used.system) / 1000 / ms).toFixed(2)), encoding, gateways, msgs: payloads.length, perS: Math.round((payloads.length / ms) * 1000), cpuUsPerMsg: Math.round((used.user + used.system) / payloads.length), stored: await hub.metrics.count(hub.metrics.readingsStored) }));
await pub.endAsync();
for (const c of extras) await c.endAsync();
await hub.stop();
if (pgUrl) {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: pgUrl });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${pgSchema} CASCADE`);
  await client.end();
}
dir.remove();
