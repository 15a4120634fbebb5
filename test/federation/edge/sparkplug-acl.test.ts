/**
 * The Sparkplug node against the hub's real brokers and their ACL: the embedded broker (aedes,
 * MQTT 3.1.1: a denied publish closes the connection, a denied subscription gets SUBACK 0x80) and
 * a Mosquitto run with the files `hub mosquitto` writes (a denied QoS 0 publish is dropped
 * silently, a denied subscription gets SUBACK 0x80). A group id other than the site works when
 * the gateway's credential carries it; when it does not, the gateway says so (errors with the
 * topic and reason, a metric) and never claims births it could not make, without burning bdSeq.
 * Mosquitto 2.0 over MQTT 3.1.1 grants a subscription its ACL denies and drops a denied QoS 0
 * publish, so a client cannot see that refusal at all: only the allowed case is checked there.
 */
import { existsSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { Registry } from 'prom-client';
import sparkplugPayload from 'sparkplug-payload';
import type { UPayload } from 'sparkplug-payload/lib/sparkplugbpayload.js';
import { afterEach, describe, expect, it } from 'vitest';
import { startFederation, type Federation } from '../../../edge/federation/index.js';
import type { UserSpec } from '../../../hub/broker/credentials.js';
import { startEmbeddedBroker } from '../../../hub/broker/embedded.js';
import { addUsers } from '../../hub/helpers.js';
import { MOSQUITTO_BIN, ownMosquitto } from '../../support/mosquitto.js';
import { peerOrSkip } from '../../support/peers.js';
import { capturedLog } from '../../support/captured-log.js';
import { tempDir } from '../../support/tmp.js';
import { fakeGateway, waitFor, type Received } from './helpers.js';

const spb = sparkplugPayload.get('spBv1.0')!;
const hasMosquitto = peerOrSkip({ available: existsSync(MOSQUITTO_BIN), reason: 'mosquitto binary not found: apt-get install -y mosquitto' });
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const SITE = 'hq';
const GATEWAY = 'gw-plant-1';
const PASSWORD = 'gw-plant-1-password';


const num = (v: unknown): number => (typeof v === 'object' && v !== null && 'toNumber' in v ? (v as { toNumber(): number }).toNumber() : Number(v));
const bdSeqOf = (p: UPayload): number => num(p.metrics?.find((m) => m.name === 'bdSeq')?.value);

async function subscriber(url: string, options: mqtt.IClientOptions, filter: string): Promise<{ client: MqttClient; messages: Received[] }> {
  const client = await mqtt.connectAsync(url, { ...options, reconnectPeriod: 0 });
  cleanups.push(() => client.endAsync(true));
  const messages: Received[] = [];
  client.on('message', (topic, payload, packet) => messages.push({ topic, payload, retain: packet.retain }));
  const granted = await client.subscribeAsync(filter, { qos: 0 });
  expect(granted[0]?.qos).toBe(0);
  return { client, messages };
}

async function gatewayNode(url: string, groupId: string): Promise<{ fed: Federation; lines: Record<string, unknown>[]; registry: Registry }> {
  const dir = tempDir('swg-spb-acl-');
  cleanups.push(() => dir.remove());
  const gw = fakeGateway(GATEWAY, SITE);
  gw.emit({ device: 'ahu1', point: 'temp', value: 18.5, quality: 'good', ts: 1_700_000_000_000 });
  const { log, lines } = capturedLog();
  const registry = new Registry();
  const fed = await startFederation({
    gateway: gw,
    dataDir: dir.path,
    log,
    registry,
    config: {
      mqtt: { url, username: GATEWAY, password: PASSWORD, reconnectPeriodMs: 100 },
      stateIntervalS: 0,
      integration: { sparkplug: { enabled: true, groupId } },
    },
  });
  cleanups.push(() => fed.stop());
  return { fed, lines, registry };
}

async function refusals(registry: Registry): Promise<number> {
  const metric = await registry.getSingleMetric('swarmgate_federation_sparkplug_refused_total')?.get();
  return (metric?.values ?? []).reduce((sum, v) => sum + v.value, 0);
}

const births = (lines: readonly Record<string, unknown>[]) => lines.filter((l) => l.msg === 'sparkplug births published');

async function expectBirthsReach(url: string, subscriberOptions: mqtt.IClientOptions): Promise<void> {
  const scada = await subscriber(url, subscriberOptions, 'spBv1.0/plant/#');
  const { lines, registry } = await gatewayNode(url, 'plant');
  await waitFor(() => scada.messages.some((m) => m.topic === `spBv1.0/plant/DBIRTH/${GATEWAY}/ahu1`), 10_000, 'DBIRTH in group plant');
  const nbirth = scada.messages.find((m) => m.topic === `spBv1.0/plant/NBIRTH/${GATEWAY}`);
  expect(nbirth && bdSeqOf(spb.decodePayload(nbirth.payload))).toBe(0);
  const dbirth = spb.decodePayload(scada.messages.find((m) => m.topic.endsWith('/ahu1'))!.payload);
  expect(dbirth.metrics?.map((m) => [m.name, m.type, m.value])).toEqual([
    ['temp', 'Double', 18.5],
    ['setpoint', 'Double', null],
  ]);
  await waitFor(() => births(lines).length === 1, 5000, 'births logged');
  expect(await refusals(registry)).toBe(0);
  expect(lines.filter((l) => l.level === 50)).toEqual([]);
}

async function expectRefusalsReported(url: string, subscriberOptions: mqtt.IClientOptions): Promise<void> {
  const scada = await subscriber(url, subscriberOptions, 'spBv1.0/#');
  const { fed, lines, registry } = await gatewayNode(url, 'plant');
  await waitFor(() => lines.some((l) => l.level === 50 && String(l.topic ?? '').startsWith('spBv1.0/plant/')), 20_000, 'an error naming the refused topic');
  const error = lines.find((l) => l.level === 50)!;
  expect(String(error.reason)).toMatch(/refused|not authori[sz]ed|closed|dropped/i);
  expect(String(error.hint)).toContain('--sparkplug-group plant');
  expect(await refusals(registry)).toBeGreaterThan(0);
  // Ten seconds of a broker saying no: no births claimed, none delivered, bdSeq not raced up.
  const bdSeqBefore = fed.sparkplug!.currentBdSeq;
  await new Promise((r) => setTimeout(r, 10_000));
  expect(births(lines)).toEqual([]);
  expect(scada.messages.filter((m) => /\/(NBIRTH|DBIRTH)\//.test(m.topic))).toEqual([]);
  expect(fed.sparkplug!.currentBdSeq - bdSeqBefore).toBeLessThanOrEqual(1);
  expect(fed.sparkplug!.currentBdSeq).toBeLessThanOrEqual(2);
}

const allowed: UserSpec = { role: 'gateway', username: GATEWAY, site: SITE, gateway: GATEWAY, sparkplugGroups: ['plant'] };
const notAllowed: UserSpec = { role: 'gateway', username: GATEWAY, site: SITE, gateway: GATEWAY };

describe('sparkplug group ids and the embedded broker ACL', () => {
  async function broker(spec: UserSpec): Promise<{ url: string; internal: mqtt.IClientOptions }> {
    const dir = tempDir('swg-spb-hub-');
    cleanups.push(() => dir.remove());
    const credentialsFile = `${dir.path}/users.yaml`;
    await addUsers(credentialsFile, [{ spec, password: PASSWORD }]);
    const b = await startEmbeddedBroker({ host: '127.0.0.1', port: 0, credentialsFile, logger: pino({ level: 'silent' }) });
    cleanups.push(() => b.close());
    return { url: b.url, internal: { username: b.internal.username, password: b.internal.password, clientId: `scada-${Date.now()}` } };
  }

  it('groupId "plant" on site "hq": a credential with --sparkplug-group plant lets the births reach a host', async () => {
    const { url, internal } = await broker(allowed);
    await expectBirthsReach(url, internal);
  });

  it('a group the credential does not allow: errors with topic and reason, refusals counted, no births claimed, bdSeq does not race', { timeout: 30_000 }, async () => {
    const { url, internal } = await broker(notAllowed);
    await expectRefusalsReported(url, internal);
  });
});

describe.skipIf(!hasMosquitto)('sparkplug group ids and the emitted Mosquitto ACL', () => {
  async function mosquitto(spec: UserSpec): Promise<{ url: string; hub: mqtt.IClientOptions }> {
    const dir = tempDir('swg-spb-mosq-');
    cleanups.push(() => dir.remove());
    const credentialsFile = `${dir.path}/users.yaml`;
    await addUsers(credentialsFile, [
      { spec, password: PASSWORD },
      { spec: { role: 'hub', username: 'hub-1' }, password: 'hub-1-password' },
    ]);
    const m = await ownMosquitto(`${dir.path}/mosquitto`, credentialsFile, { username: 'hub-1', password: 'hub-1-password' });
    cleanups.push(() => m.stop('SIGKILL'));
    return { url: m.url, hub: { username: 'hub-1', password: 'hub-1-password', clientId: `scada-${Date.now()}` } };
  }

  it('a credential with --sparkplug-group plant lets the births reach a host', async () => {
    const { url, hub } = await mosquitto(allowed);
    await expectBirthsReach(url, hub);
  });

  it('a group the credential does not allow: Mosquitto drops the births silently, the node notices (no echo), says why and counts it; no births claimed, bdSeq does not race', { timeout: 45_000 }, async () => {
    const { url, hub } = await mosquitto(notAllowed);
    await expectRefusalsReported(url, hub);
  });

});
