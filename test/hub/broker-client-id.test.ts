/**
 * Client ids are bound to identities on the embedded broker: a gateway connects only as its
 * gateway id (or <id>-spb, its Sparkplug node), nobody else may use a gateway's ids, and a
 * session belongs to the user that opened it. A refused CONNECT happens before aedes takes the
 * session over, so the impostor gets none of the queued messages and the live owner stays.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../hub/broker/embedded.js';
import { tempDir } from '../support/tmp.js';
import { addUsers, connectClient, endAll, sleep, waitFor } from './helpers.js';

const COMMANDS = 'swarmgate/v1/site-a/gw-2/commands';

describe('embedded broker: client ids bound to identities', () => {
  const dir = tempDir('swarmgate-hub-client-id-');
  const credentialsFile = `${dir.path}/users.yaml`;
  let broker: EmbeddedBroker;
  let hub: MqttClient;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    await addUsers(credentialsFile, [
      { spec: { role: 'gateway', username: 'gw-1', site: 'site-a', gateway: 'gw-1' }, password: 'gw-1-password' },
      { spec: { role: 'gateway', username: 'gw-2', site: 'site-a', gateway: 'gw-2' }, password: 'gw-2-password' },
      { spec: { role: 'integration', username: 'bms', read: ['swarmgate/v1/+/+/points/#'] }, password: 'bms-password' },
      { spec: { role: 'integration', username: 'scada', read: ['swarmgate/v1/+/+/points/#'] }, password: 'scada-password' },
    ]);
    broker = await startEmbeddedBroker({ host: '127.0.0.1', port: 0, credentialsFile });
    hub = await connectClient(broker.url, { username: broker.internal.username, password: broker.internal.password });
  });

  afterAll(async () => {
    await endAll([hub, ...clients]);
    await broker.close();
    dir.remove();
  });

  const connect = async (username: string, clientId: string, clean = false): Promise<MqttClient> => {
    const c = await connectClient(broker.url, { username, password: `${username}-password`, clientId, clean });
    clients.push(c);
    return c;
  };
  const rejected = (): Promise<number> => broker.metrics.count(broker.metrics.clientIdRejected);

  it("refuses gw-1's credentials under gw-2's client id: gw-2's queued command stays with gw-2", async () => {
    const owner = await connect('gw-2', 'gw-2');
    await owner.subscribeAsync(COMMANDS, { qos: 1 });
    await owner.endAsync();
    await hub.publishAsync(COMMANDS, 'queued-for-gw-2', { qos: 1 });

    const before = await rejected();
    const got: string[] = [];
    const attempt = connect('gw-1', 'gw-2').then((impostor) => {
      impostor.on('message', (_topic, payload) => got.push(payload.toString()));
      return impostor;
    });
    await expect(attempt).rejects.toThrow(/identifier rejected/i);
    expect(await rejected()).toBe(before + 1);
    expect(got).toEqual([]);

    const back = await connectClient(broker.url, { username: 'gw-2', password: 'gw-2-password', clientId: 'gw-2', clean: false });
    clients.push(back);
    const delivered: string[] = [];
    back.on('message', (_topic, payload) => delivered.push(payload.toString()));
    await waitFor(() => delivered.includes('queued-for-gw-2'), 3000, "gw-2's queued command");
  });

  it('does not disconnect a live gateway when another user presents its client id', async () => {
    const live = await connect('gw-2', 'gw-2');
    await live.subscribeAsync(COMMANDS, { qos: 1 });
    let closes = 0;
    live.on('close', () => closes++);
    for (const [username, clientId] of [['gw-1', 'gw-2'], ['bms', 'gw-2'], ['bms', 'gw-2-spb']] as const) {
      await expect(connect(username, clientId)).rejects.toThrow(/identifier rejected/i);
    }
    // The same connection still gets its commands.
    const got: string[] = [];
    live.on('message', (_topic, payload) => got.push(payload.toString()));
    await hub.publishAsync(COMMANDS, 'after-attempts', { qos: 1 });
    await waitFor(() => got.includes('after-attempts'), 3000, 'command on the live connection');
    expect(closes).toBe(0);
    expect(live.connected).toBe(true);
  });

  it("accepts a gateway only under its gateway id or its Sparkplug node's id", async () => {
    await expect(connect('gw-1', 'some-other-id')).rejects.toThrow(/identifier rejected/i);
    const publisher = await connect('gw-1', 'gw-1');
    const sparkplug = await connect('gw-1', 'gw-1-spb');
    await sleep(100);
    expect(publisher.connected && sparkplug.connected).toBe(true);
  });

  it("keeps an integration's persistent session its own; free client ids stay free", async () => {
    const bms = await connect('bms', 'bms-historian');
    await bms.endAsync();
    await expect(connect('scada', 'bms-historian')).rejects.toThrow(/identifier rejected/i);
    const again = await connect('bms', 'bms-historian');
    expect(again.connected).toBe(true);
    // A clean session leaves nothing behind: its id is free again once it is gone.
    const temp = await connect('scada', 'shared-tool', true);
    await temp.endAsync();
    const other = await connect('bms', 'shared-tool', true);
    expect(other.connected).toBe(true);
  });
});
