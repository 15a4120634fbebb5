import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { parseHubConfig } from '../../hub/config.js';
import { startHub, type Hub } from '../../hub/index.js';
import type { CommandRecord } from '../../hub/store/types.js';
import { isSwarmgateError } from '../../shared/kit/errors.js';
import { CommandAckSchema, GatewayStateSchema, encode, gatewayTopic, type Command, type CommandAck } from '../../shared/wire/index.js';
import { tempDir } from '../support/tmp.js';
import { addUsers, connectClient, endAll, sleep, waitFor } from './helpers.js';

type Behaviour = (command: Command, delivery: number) => Omit<CommandAck, 'v' | 'id' | 'ts'>[];

/** A plain MQTT client playing a gateway: records commands, answers per the current behaviour. */
class FakeGateway {
  readonly received: Command[] = [];
  behaviour: Behaviour = () => [];

  private constructor(
    readonly client: MqttClient,
    readonly site: string,
    readonly gateway: string,
  ) {}

  static async start(url: string, site: string, gateway: string): Promise<FakeGateway> {
    const client = await connectClient(url, { username: gateway, password: `${gateway}-password`, clientId: gateway });
    const fake = new FakeGateway(client, site, gateway);
    client.on('message', (_topic, payload) => {
      const command = JSON.parse(payload.toString()) as Command;
      fake.received.push(command);
      const delivery = fake.received.filter((c) => c.id === command.id).length;
      for (const ack of fake.behaviour(command, delivery)) fake.ack({ v: 1, id: command.id, ts: Date.now(), ...ack });
    });
    await client.subscribeAsync(gatewayTopic(site, gateway, 'commands'), { qos: 1 });
    await client.publishAsync(gatewayTopic(site, gateway, 'state'), encode(GatewayStateSchema, { v: 1, gateway, site, status: 'online', ts: Date.now() }), { qos: 1, retain: true });
    return fake;
  }

  ack(ack: CommandAck): void {
    this.client.publish(gatewayTopic(this.site, this.gateway, 'commands/ack'), encode(CommandAckSchema, ack), { qos: 1 });
  }
}

describe('hub commands with a plain MQTT client as the gateway', () => {
  const dir = tempDir('swarmgate-hub-cmd-');
  let hub: Hub;
  let gw1: FakeGateway;
  let gw2: FakeGateway;
  const changes: CommandRecord[] = [];
  const write = { kind: 'write', device: 'ahu1', point: 'fan_speed', value: 55 } as const;

  beforeAll(async () => {
    const credentialsFile = `${dir.path}/users.yaml`;
    await addUsers(credentialsFile, [
      { spec: { role: 'gateway', username: 'gw-1', site: 'site-a', gateway: 'gw-1' }, password: 'gw-1-password' },
      { spec: { role: 'gateway', username: 'gw-2', site: 'site-a', gateway: 'gw-2' }, password: 'gw-2-password' },
    ]);
    const config = parseHubConfig(
      `
broker:
  mode: embedded
  embedded: { host: 127.0.0.1, port: 0, credentialsFile: users.yaml }
store: { kind: sqlite, path: hub.db }
commands: { timeoutMs: 300, retries: 1 }
`,
      `${dir.path}/hub.yaml`,
    );
    hub = await startHub(config);
    hub.events.on('command', ({ record }) => void changes.push(record));
    gw1 = await FakeGateway.start(hub.broker!.url, 'site-a', 'gw-1');
    gw2 = await FakeGateway.start(hub.broker!.url, 'site-a', 'gw-2');
    await waitFor(async () => (await hub.registry.list()).filter((g) => g.status === 'online').length === 2, 5000, 'both gateways online');
  });

  afterAll(async () => {
    await endAll([gw1?.client, gw2?.client]);
    await hub?.stop();
    dir.remove();
  });

  const statuses = (id: string): string[] => changes.filter((c) => c.id === id).map((c) => c.status);

  it('goes pending → delivered → applied', async () => {
    gw1.behaviour = () => [{ status: 'delivered' }, { status: 'applied' }];
    const created = await hub.commands.create({ gateway: 'gw-1', action: write, origin: 'test' });
    expect(created.status).toBe('pending');
    expect(created.site).toBe('site-a');
    const done = await hub.commands.settled(created.id);
    expect(done.status).toBe('applied');
    expect(done.attempts).toBe(1);
    expect(statuses(created.id)).toEqual(['pending', 'delivered', 'applied']);
    expect(gw1.received.filter((c) => c.id === created.id)).toHaveLength(1);
    expect(gw1.received.find((c) => c.id === created.id)?.action).toEqual(write);
  });

  it('records a rejection with its code and reason', async () => {
    gw1.behaviour = () => [{ status: 'rejected', code: 'SWG_ERR_POINT_LIMIT', reason: 'above max 100' }];
    const created = await hub.commands.create({ gateway: 'gw-1', action: { ...write, value: 500 }, origin: 'test' });
    const done = await hub.commands.settled(created.id);
    expect(done).toMatchObject({ status: 'rejected', code: 'SWG_ERR_POINT_LIMIT', reason: 'above max 100', deadline: null });
  });

  it('re-publishes the same id once, then times out when nothing answers', async () => {
    gw1.behaviour = () => [];
    const created = await hub.commands.create({ gateway: 'gw-1', action: write, origin: 'test' });
    const done = await hub.commands.settled(created.id, 5000);
    expect(done.status).toBe('timed-out');
    expect(done.attempts).toBe(2);
    expect(done.reason).toMatch(/no ack within 300 ms after 2 attempt/);
    expect(gw1.received.filter((c) => c.id === created.id)).toHaveLength(2);
  });

  it('is applied after one automatic retry when the first delivery is lost', async () => {
    gw1.behaviour = (_c, delivery) => (delivery === 1 ? [] : [{ status: 'applied' }]);
    const created = await hub.commands.create({ gateway: 'gw-1', action: write, origin: 'test' });
    const done = await hub.commands.settled(created.id, 5000);
    expect(done).toMatchObject({ status: 'applied', attempts: 2 });
  });

  it('retries a timed-out command with the same id until its expiry; the gateway acks it as a duplicate', async () => {
    gw1.behaviour = () => [];
    const created = await hub.commands.create({ gateway: 'gw-1', action: write, origin: 'test', expiresAt: Date.now() + 60_000 });
    expect((await hub.commands.settled(created.id, 5000)).status).toBe('timed-out');
    gw1.behaviour = () => [{ status: 'applied', duplicate: true }];
    const retried = await hub.commands.retry(created.id);
    expect(retried).toMatchObject({ id: created.id, status: 'pending', attempts: 3 });
    const done = await hub.commands.settled(created.id, 5000);
    expect(done).toMatchObject({ status: 'applied', duplicate: true });
    expect(new Set(gw1.received.filter((c) => c.id === created.id).map((c) => JSON.stringify(c))).size).toBe(1);
    await expect(hub.commands.retry(created.id)).rejects.toSatisfy((e: unknown) => isSwarmgateError(e, 'SWG_ERR_COMMAND_STATE'));
  });

  it('a timed-out command without an expiry of its own expired with it: a retry is refused', async () => {
    gw1.behaviour = () => [];
    const created = await hub.commands.create({ gateway: 'gw-1', action: write, origin: 'test' });
    expect(created.command.expiresAt).toBeGreaterThan(created.createdAt);
    expect((await hub.commands.settled(created.id, 5000)).status).toBe('timed-out');
    await waitFor(async () => Date.now() > (created.command.expiresAt ?? 0), 5000, 'past the expiry');
    await expect(hub.commands.retry(created.id)).rejects.toThrow(/expired at .*send a new command/);
  });

  it('times out for an offline gateway and refuses unknown gateways', async () => {
    await hub.store.upsertGateway({ gateway: 'gw-gone', site: 'site-a', status: 'offline' });
    const created = await hub.commands.create({ gateway: 'gw-gone', action: write, origin: 'test' });
    expect((await hub.commands.settled(created.id, 5000)).status).toBe('timed-out');
    await expect(hub.commands.create({ gateway: 'gw-nope', action: write, origin: 'test' })).rejects.toSatisfy((e: unknown) => isSwarmgateError(e, 'SWG_ERR_GATEWAY_UNKNOWN'));
    await expect(hub.commands.create({ gateway: 'gw-1', action: { kind: 'write', device: 'bad id!', point: 'p', value: 1 }, origin: 'test' })).rejects.toSatisfy((e: unknown) =>
      isSwarmgateError(e, 'SWG_ERR_COMMAND_INVALID'),
    );
    // The refusal names the field and what it takes, not "does not match the wire schema".
    await expect(hub.commands.create({ gateway: 'gw-1', action: { kind: 'write', device: 'ahu1', point: 'p', value: 'x'.repeat(5000) }, origin: 'test' })).rejects.toThrow(
      /command for gw-1: \/action\/value: .*1024/,
    );
  });

  it("ignores an ack for gw-1's command sent by gw-2, counting it as rejected", async () => {
    gw1.behaviour = () => [];
    const created = await hub.commands.create({ gateway: 'gw-1', action: write, origin: 'test' });
    const before = await hub.metrics.count(hub.metrics.payloadRejected);
    gw2.ack({ v: 1, id: created.id, ts: Date.now(), status: 'applied' });
    await waitFor(async () => (await hub.metrics.count(hub.metrics.payloadRejected)) === before + 1, 3000, 'mismatch rejection');
    expect((await hub.commands.get(created.id))?.status).toBe('pending');
    await sleep(10);
  });
});
