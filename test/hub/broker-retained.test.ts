import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../hub/broker/embedded.js';
import { RetainedIndex } from '../../hub/broker/retained-index.js';
import { tempDir } from '../support/tmp.js';
import { connectClient, endAll, sleep } from './helpers.js';

describe('retained messages of the embedded broker (indexed by topic)', () => {
  const dir = tempDir('swg-retained-');
  let broker: EmbeddedBroker;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    broker = await startEmbeddedBroker({ host: '127.0.0.1', port: 0, credentialsFile: `${dir.path}/users.yaml` });
  });
  afterAll(async () => {
    await endAll(clients);
    await broker.close();
    dir.remove();
  });

  const hubClient = async (): Promise<MqttClient> => {
    const c = await connectClient(broker.url, { username: broker.internal.username, password: broker.internal.password });
    clients.push(c);
    return c;
  };

  /** What a new subscriber to `filter` receives as retained within a short wait. */
  const retainedFor = async (filter: string): Promise<string[]> => {
    const c = await hubClient();
    const got: string[] = [];
    c.on('message', (topic, payload, packet) => packet.retain && got.push(`${topic}=${payload.toString()}`));
    await c.subscribeAsync(filter, { qos: 1 });
    await sleep(200);
    return got.sort();
  };

  it('gives a new subscriber the retained message of its exact topic, and of every topic its wildcard matches, once', async () => {
    const pub = await hubClient();
    await pub.publishAsync('swarmgate/v1/s/gw-1/state', 'one', { qos: 1, retain: true });
    await pub.publishAsync('swarmgate/v1/s/gw-2/state', 'two', { qos: 1, retain: true });
    await pub.publishAsync('swarmgate/v1/s/gw-2/state', 'two-b', { qos: 1, retain: true });
    expect(await retainedFor('swarmgate/v1/s/gw-1/state')).toEqual(['swarmgate/v1/s/gw-1/state=one']);
    expect(await retainedFor('swarmgate/v1/s/+/state')).toEqual(['swarmgate/v1/s/gw-1/state=one', 'swarmgate/v1/s/gw-2/state=two-b']);
    expect(await retainedFor('swarmgate/v1/s/gw-3/state')).toEqual([]);
  });

  it('an empty retained payload clears the topic', async () => {
    const pub = await hubClient();
    await pub.publishAsync('swarmgate/v1/s/gw-9/state', 'x', { qos: 1, retain: true });
    await pub.publishAsync('swarmgate/v1/s/gw-9/state', '', { qos: 1, retain: true });
    expect(await retainedFor('swarmgate/v1/s/gw-9/state')).toEqual([]);
  });

  it('finds exact topics by lookup and wildcard filters by match, each message once', () => {
    const index = new RetainedIndex();
    index.store({ topic: 'a/b', payload: Buffer.from('1') });
    index.store({ topic: 'a/c', payload: Buffer.from('2') });
    expect([...index.match(['a/b', 'a/+'])].map((p) => p.topic).sort()).toEqual(['a/b', 'a/c']);
  });
});
