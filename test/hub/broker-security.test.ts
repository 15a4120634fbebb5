import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../hub/broker/embedded.js';
import { tempDir } from '../support/tmp.js';
import { addUsers, closed, connectClient, endAll, grantedQos, waitFor } from './helpers.js';

describe('embedded broker security', () => {
  const dir = tempDir('swarmgate-hub-broker-');
  const credentialsFile = `${dir.path}/users.yaml`;
  let broker: EmbeddedBroker;
  let hub: MqttClient;
  const received: string[] = [];
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    await addUsers(credentialsFile, [
      { spec: { role: 'gateway', username: 'gw-1', site: 'site-a', gateway: 'gw-1' }, password: 'gw-1-password' },
      { spec: { role: 'gateway', username: 'gw-2', site: 'site-a', gateway: 'gw-2' }, password: 'gw-2-password' },
      { spec: { role: 'integration', username: 'bms-ro', read: ['swarmgate/v1/+/+/points/#'] }, password: 'bms-ro-password' },
      { spec: { role: 'integration', username: 'bms-rw', read: ['swarmgate/v1/+/+/points/#'], write: ['swarmgate/v1/site-a/+/points/+/+/set'] }, password: 'bms-rw-password' },
    ]);
    broker = await startEmbeddedBroker({ host: '127.0.0.1', port: 0, credentialsFile, maxPayloadBytes: 1024 });
    hub = await connectClient(broker.url, { username: broker.internal.username, password: broker.internal.password });
    await hub.subscribeAsync('#', { qos: 1 });
    hub.on('message', (topic) => received.push(topic));
  });

  afterAll(async () => {
    await endAll([hub, ...clients]);
    await broker.close();
    dir.remove();
  });

  /** Gateways connect under their gateway id (the broker binds it); integrations under any id. */
  const connectAs = async (username: string, password: string): Promise<MqttClient> => {
    const c = await connectClient(broker.url, { username, password, ...(username.startsWith('gw-') ? { clientId: username } : {}) });
    clients.push(c);
    return c;
  };

  it('refuses a wrong password and an unknown user, and counts them', async () => {
    await expect(connectClient(broker.url, { username: 'gw-1', password: 'not-the-password' })).rejects.toThrow(/Bad username or password|Not authorized/i);
    await expect(connectClient(broker.url, { username: 'nobody', password: 'whatever-password' })).rejects.toThrow();
    await expect(connectClient(broker.url, {})).rejects.toThrow();
    expect(await broker.metrics.count(broker.metrics.authFailures)).toBe(3);
  });

  it('lets a gateway publish inside its own subtree', async () => {
    const gw = await connectAs('gw-1', 'gw-1-password');
    await gw.publishAsync('swarmgate/v1/site-a/gw-1/events', 'own', { qos: 1 });
    await waitFor(() => received.includes('swarmgate/v1/site-a/gw-1/events'), 3000, 'own publish');
  });

  it("refuses a gateway publishing into another gateway's subtree, closing its connection", async () => {
    const gw = await connectAs('gw-1', 'gw-1-password');
    const before = await broker.metrics.count(broker.metrics.publishDenied);
    gw.publish('swarmgate/v1/site-a/gw-2/telemetry', 'forged', { qos: 0 });
    expect(await closed(gw)).toBe(true);
    expect(await broker.metrics.count(broker.metrics.publishDenied)).toBe(before + 1);
    expect(received).not.toContain('swarmgate/v1/site-a/gw-2/telemetry');
  });

  it("refuses subscribing to '#' and to another gateway's topics, keeping its own", async () => {
    const gw = await connectAs('gw-2', 'gw-2-password');
    expect(await grantedQos(gw, '#')).toBe(128);
    expect(await grantedQos(gw, 'swarmgate/v1/site-a/gw-1/commands')).toBe(128);
    expect(await grantedQos(gw, 'swarmgate/v1/site-a/+/commands')).toBe(128);
    expect(await grantedQos(gw, 'swarmgate/v1/site-a/gw-2/commands')).toBe(1);
    expect(await broker.metrics.count(broker.metrics.subscribeDenied)).toBe(3);
  });

  it('lets a read-only integration read points but not publish /set', async () => {
    const ro = await connectAs('bms-ro', 'bms-ro-password');
    const got: string[] = [];
    ro.on('message', (topic) => got.push(topic));
    await ro.subscribeAsync('swarmgate/v1/+/+/points/#', { qos: 1 });
    const gw = await connectAs('gw-1', 'gw-1-password');
    await gw.publishAsync('swarmgate/v1/site-a/gw-1/points/ahu1/fan_speed', '{"v":1,"ts":1,"q":"good"}', { qos: 1 });
    await waitFor(() => got.length > 0, 3000, 'point value at the integration');
    ro.publish('swarmgate/v1/site-a/gw-1/points/ahu1/fan_speed/set', '{"v":50}', { qos: 0 });
    expect(await closed(ro)).toBe(true);
    expect(received).not.toContain('swarmgate/v1/site-a/gw-1/points/ahu1/fan_speed/set');
  });

  it('lets a write-scoped integration publish /set', async () => {
    const rw = await connectAs('bms-rw', 'bms-rw-password');
    await rw.publishAsync('swarmgate/v1/site-a/gw-1/points/ahu1/fan_speed/set', '{"v":50}', { qos: 1 });
    await waitFor(() => received.includes('swarmgate/v1/site-a/gw-1/points/ahu1/fan_speed/set'), 3000, '/set at the hub');
  });

  it('refuses an oversized payload and counts it as rejected', async () => {
    const gw = await connectAs('gw-1', 'gw-1-password');
    gw.publish('swarmgate/v1/site-a/gw-1/telemetry', Buffer.alloc(4096, 32), { qos: 0 });
    expect(await closed(gw)).toBe(true);
    expect(await broker.metrics.count(broker.metrics.payloadRejected)).toBe(1);
    expect(received).not.toContain('swarmgate/v1/site-a/gw-1/telemetry');
  });

  it('picks up a rotated password without a restart', async () => {
    await addUsers(credentialsFile, [{ spec: { role: 'gateway', username: 'gw-2', site: 'site-a', gateway: 'gw-2' }, password: 'gw-2-rotated' }]);
    await expect(connectClient(broker.url, { username: 'gw-2', password: 'gw-2-password', clientId: 'gw-2' })).rejects.toThrow();
    const gw = await connectAs('gw-2', 'gw-2-rotated');
    expect(gw.connected).toBe(true);
  });
});
