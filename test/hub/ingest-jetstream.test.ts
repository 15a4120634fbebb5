/**
 * The NATS mode's pieces that need no cluster: the subject <-> topic mapping of the NATS MQTT
 * listener, the stream's subjects, the config variant and the example configs shipped for N hub
 * processes; and one hub process in nats mode on a single NATS node of the test's own, which
 * stores what a plain MQTT 3.1.1 client publishes and answers with a stored receipt (the
 * multi-process runs with kills are in test/e2e/multi-hub.test.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHubConfig } from '../../hub/config.js';
import { SHARED_CHANNELS } from '../../hub/ingest/ingest.js';
import { streamSubjects, subjectToTopic } from '../../hub/ingest/sources/jetstream.js';
import { startHub, type Hub } from '../../hub/index.js';
import { StoredReceiptSchema, TelemetryBatchSchema, decode, encode, gatewayTopic } from '../../shared/wire/index.js';
import { ownNatsCluster, natsServerPeer, type NatsCluster } from '../support/nats.js';
import { peerOrSkip } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import mqtt from 'mqtt';
import { RetentionPolicy, StorageType, connect } from 'nats';

const EXAMPLES = join(import.meta.dirname, '../../deploy/examples/cluster');

describe('nats mode without a cluster', () => {
  it('maps the NATS MQTT listener subjects back to topics', () => {
    expect(subjectToTopic('swarmgate.v1.hq.gw-1.commands.ack')).toBe('swarmgate/v1/hq/gw-1/commands/ack');
    expect(subjectToTopic('swarmgate.v1.hq.gw//1.telemetry')).toBe('swarmgate/v1/hq/gw.1/telemetry');
  });

  it('captures every shared channel and nothing broadcast (state stays on MQTT, retained)', () => {
    const subjects = streamSubjects(SHARED_CHANNELS);
    expect(subjects).toContain('swarmgate.v1.*.*.telemetry');
    expect(subjects).toContain('swarmgate.v1.*.*.commands.ack');
    expect(subjects).toContain('swarmgate.v1.*.*.config.reported');
    expect(subjects.some((s) => s.endsWith('.state') || s.endsWith('.stored'))).toBe(false);
  });

  it('parses the nats variant with its defaults and names what is missing', () => {
    const c = parseHubConfig('broker: { mode: nats, nats: { servers: ["nats://a:4222"], mqttUrl: "mqtt://a:1883" } }\nstore: { kind: sqlite, path: hub.db }\n', '/tmp/hub.yaml');
    expect(c.broker.nats).toMatchObject({ stream: 'SWARMGATE_INGEST', consumer: 'swarmgate-hub', replicas: 3, ackWaitS: 30, concurrency: 16 });
    expect(() => parseHubConfig('broker: { mode: nats }\nstore: { kind: sqlite, path: hub.db }\n', '/tmp/hub.yaml')).toThrow(/mode is nats: give nats.servers and nats.mqttUrl/);
    expect(() => parseHubConfig('broker: { mode: nats, nats: { servers: ["http://a"], mqttUrl: "mqtt://a:1883" } }\nstore: { kind: sqlite, path: hub.db }\n', '/tmp/hub.yaml')).toThrow(/servers/);
  });

  it('ships hub configs for N processes that the hub accepts', () => {
    const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThanOrEqual(2);
    for (const f of files) {
      const c = parseHubConfig(readFileSync(join(EXAMPLES, f), 'utf8'), join(EXAMPLES, f));
      expect(c.store.kind).toBe('postgres');
      expect(['nats', 'external']).toContain(c.broker.mode);
    }
  });
});

describe.skipIf(!peerOrSkip(natsServerPeer()))('a hub in nats mode on a NATS node of its own', { timeout: 120_000 }, () => {
  const dir = tempDir('swg-hub-nats-');
  let nats: NatsCluster;
  let hub: Hub | undefined;

  beforeAll(async () => {
    nats = await ownNatsCluster(join(dir.path, 'nats'), 1);
    const node = nats.nodes[0]!;
    // The stream as an older hub made it, without the channels added since: the hub adds them.
    const nc = await connect({ servers: node.natsUrl });
    try {
      const jsm = await nc.jetstreamManager();
      await jsm.streams.add({ name: 'SWARMGATE_INGEST', subjects: streamSubjects(SHARED_CHANNELS.filter((c) => c !== 'prior/request' && c !== 'prior')), retention: RetentionPolicy.Workqueue, storage: StorageType.File, num_replicas: 1 });
    } finally {
      await nc.close();
    }
    const yaml = `broker:\n  mode: nats\n  nats: { servers: ["${node.natsUrl}"], mqttUrl: "${node.mqttUrl}", replicas: 1, ackWaitS: 5 }\nstore: { kind: sqlite, path: hub.db }\n`;
    hub = await startHub(parseHubConfig(yaml, join(dir.path, 'hub.yaml')), { retentionIntervalMs: 0 });
  }, 90_000);

  afterAll(async () => {
    await hub?.stop();
    await nats?.stop();
    dir.remove();
  });

  it('adds the channels a stream made by an older hub lacks', async () => {
    const nc = await connect({ servers: nats.nodes[0]!.natsUrl });
    try {
      const info = await (await nc.jetstreamManager()).streams.info('SWARMGATE_INGEST');
      expect([...info.config.subjects].sort()).toEqual(streamSubjects(SHARED_CHANNELS).sort());
    } finally {
      await nc.close();
    }
  });

  it('stores a batch published over MQTT 3.1.1 and receipts it', async () => {
    const node = nats.nodes[0]!;
    const gw = await mqtt.connectAsync(node.mqttUrl, { clientId: 'gw-n', protocolVersion: 4, clean: false });
    try {
      const receipt = new Promise<unknown>((resolve) => gw.on('message', (topic, payload) => resolve(decode(StoredReceiptSchema, topic, payload))));
      await gw.subscribeAsync(gatewayTopic('hq', 'gw-n', 'stored'), { qos: 1 });
      const batch = { v: 1 as const, gateway: 'gw-n', bootId: 'boot-nats-1', seq: 7, sentAt: Date.now(), historical: false, readings: [{ d: 'ahu', p: 'temp', v: 21.5, q: 'good' as const, ts: Date.now() }] };
      await gw.publishAsync(gatewayTopic('hq', 'gw-n', 'telemetry'), encode(TelemetryBatchSchema, batch), { qos: 1 });
      const got = await receipt;
      expect(got, JSON.stringify(got)).toMatchObject({ ok: true, value: { batches: [{ bootId: 'boot-nats-1', from: 7, to: 7 }] } });
      expect((await hub!.store.latest('gw-n'))[0]).toMatchObject({ device: 'ahu', point: 'temp', value: 21.5 });
      // The MQTT link subscribes to the broadcast channel only; the shared ones come from JetStream.
      expect(hub!.ingest.subscriptions.every((s) => s.endsWith('/state'))).toBe(true);
    } finally {
      await gw.endAsync();
    }
  });
});
