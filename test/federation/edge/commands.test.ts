import mqtt from 'mqtt';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { CommandAckSchema, EventSchema, PointValueMessageSchema, decode, encode, CommandSchema, type Command, type CommandAck } from '../../../shared/wire/index.js';
import { startFederation } from '../../../edge/federation/index.js';
import { FederationState } from '../../../edge/federation/state.js';
import { fakeGateway, publishTo, startPeers, waitFor, type Cleanup } from './helpers.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const PREFIX = 'swarmgate/v1/site-a/gw-1';

async function setup(plainTopics?: { enabled: boolean; writable?: boolean }) {
  const { broker, dir, hub } = await startPeers(cleanups, `${PREFIX}/#`);
  const gw = fakeGateway('gw-1', 'site-a');
  const registry = new Registry();
  const fed = await startFederation({
    gateway: gw,
    dataDir: dir.path,
    registry,
    config: { mqtt: { url: broker.url, reconnectPeriodMs: 100 }, outbox: { flushMs: 20 }, stateIntervalS: 0, ...(plainTopics ? { integration: { plainTopics } } : {}) },
  });
  cleanups.push(() => fed.stop());
  await waitFor(() => fed.publisher.connected, 5000, 'connect');
  // the subscription is made on connect; give the SUBACK a moment
  await waitFor(() => Object.keys((broker.broker as unknown as { clients: Record<string, unknown> }).clients).length > 0, 5000);
  await new Promise((r) => setTimeout(r, 50));
  return { broker, gw, hub, fed, dir, registry };
}

function command(id: string, value: number, extra: Partial<Command> = {}): Buffer {
  const c: Command = { v: 1, id, ts: Date.now(), origin: 'user:alice', action: { kind: 'write', device: 'ahu1', point: 'setpoint', value }, ...extra };
  return encode(CommandSchema, c);
}

function acks(messages: readonly { topic: string; payload: Buffer }[], id: string): CommandAck[] {
  return messages
    .filter((m) => m.topic === `${PREFIX}/commands/ack`)
    .map((m) => {
      const d = decode(CommandAckSchema, m.topic, m.payload);
      if (!d.ok) throw new Error(d.error);
      return d.value;
    })
    .filter((a) => a.id === id);
}

describe('commands (aedes)', () => {
  it('applies a write: delivered then applied, through the write function with the hub origin', async () => {
    const { broker, gw, hub } = await setup();
    await publishTo(broker.broker, `${PREFIX}/commands`, command('cmd-apply-0001', 21.5));
    await waitFor(() => acks(hub.messages, 'cmd-apply-0001').length === 2, 5000, 'acks');
    expect(acks(hub.messages, 'cmd-apply-0001').map((a) => a.status)).toEqual(['delivered', 'applied']);
    expect(gw.writes).toEqual([{ device: 'ahu1', point: 'setpoint', value: 21.5, origin: 'hub:user:alice' }]);
  });

  it('rejects a write outside the point limits with SWG_ERR_POINT_LIMIT and the message', async () => {
    const { broker, gw, hub } = await setup();
    await publishTo(broker.broker, `${PREFIX}/commands`, command('cmd-limit-0001', 99));
    await waitFor(() => acks(hub.messages, 'cmd-limit-0001').length === 2, 5000, 'acks');
    const final = acks(hub.messages, 'cmd-limit-0001')[1];
    expect(final).toMatchObject({ status: 'rejected', code: 'SWG_ERR_POINT_LIMIT' });
    expect(final?.reason).toContain('outside [10, 30]');
    expect(gw.writes).toEqual([]);
  });

  it('rejects an expired command without writing', async () => {
    const { broker, gw, hub } = await setup();
    await publishTo(broker.broker, `${PREFIX}/commands`, command('cmd-expired-01', 20, { expiresAt: Date.now() - 1000 }));
    await waitFor(() => acks(hub.messages, 'cmd-expired-01').length === 1, 5000, 'ack');
    expect(acks(hub.messages, 'cmd-expired-01')[0]).toMatchObject({ status: 'rejected', code: 'SWG_ERR_COMMAND_EXPIRED' });
    expect(gw.writes).toEqual([]);
  });

  it('applies a retried command id once and acknowledges the retry as a duplicate, also across a restart', async () => {
    const { broker, gw, hub, fed, dir } = await setup();
    await publishTo(broker.broker, `${PREFIX}/commands`, command('cmd-dup-00001', 22));
    await publishTo(broker.broker, `${PREFIX}/commands`, command('cmd-dup-00001', 22));
    await waitFor(() => acks(hub.messages, 'cmd-dup-00001').length === 3, 5000, 'acks');
    expect(acks(hub.messages, 'cmd-dup-00001').map((a) => [a.status, a.duplicate ?? false])).toEqual([
      ['delivered', false],
      ['applied', false],
      ['applied', true],
    ]);
    expect(gw.writes.length).toBe(1);
    await fed.stop();
    const state = await FederationState.open({ path: `${dir.path}/federation.json`, gateway: 'gw-1', site: 'site-a' });
    expect(state.hasApplied('cmd-dup-00001')).toBe(true);
  });

  it('answers an invalid command that has an id with SWG_ERR_COMMAND_INVALID', async () => {
    const { broker, hub } = await setup();
    await publishTo(broker.broker, `${PREFIX}/commands`, JSON.stringify({ v: 1, id: 'cmd-bad-00001', ts: 1, origin: 'x', action: { kind: 'explode' } }));
    await waitFor(() => acks(hub.messages, 'cmd-bad-00001').length === 1, 5000, 'ack');
    expect(acks(hub.messages, 'cmd-bad-00001')[0]).toMatchObject({ status: 'rejected', code: 'SWG_ERR_COMMAND_INVALID' });
  });

  it('refuses an over-limit command naming the field and its limit, not just "the schema"', async () => {
    const { broker, hub } = await setup();
    await publishTo(broker.broker, `${PREFIX}/commands`, JSON.stringify({ v: 1, id: 'cmd-big-00001', ts: 1, origin: 'x', action: { kind: 'write', device: 'ahu1', point: 'temp', value: 'y'.repeat(5000) } }));
    await waitFor(() => acks(hub.messages, 'cmd-big-00001').length === 1, 5000, 'ack');
    const ack = acks(hub.messages, 'cmd-big-00001')[0] as { code?: string; reason?: string };
    expect(ack.code).toBe('SWG_ERR_COMMAND_INVALID');
    expect(ack.reason).toContain('/action/value: expected a number from -1e+300 to 1e+300, true or false, a string of at most 1024 characters');
  });
});

describe('plain point topics (aedes)', () => {
  it('publishes retained {v, ts, q, unit} per point and applies /set through the write checks', async () => {
    const { broker, gw, hub } = await setup({ enabled: true, writable: true });
    gw.emit({ device: 'ahu1', point: 'temp', value: 19.25, quality: 'good', ts: 1_700_000_000_123 });
    await waitFor(() => hub.messages.some((m) => m.topic === `${PREFIX}/points/ahu1/temp`), 5000, 'point value');

    // a late subscriber (a BMS connecting later) gets the retained value
    const late = await mqtt.connectAsync(broker.url, { clientId: 'bms-late', reconnectPeriod: 0 });
    cleanups.push(() => late.endAsync());
    const got = new Promise<Buffer>((resolve) => late.on('message', (_t, p, packet) => packet.retain && resolve(p)));
    await late.subscribeAsync(`${PREFIX}/points/ahu1/temp`, { qos: 0 });
    const retained = decode(PointValueMessageSchema, 'points', await got);
    expect(retained.ok && retained.value).toEqual({ v: 19.25, ts: 1_700_000_000_123, q: 'good', unit: 'degC' });

    await late.publishAsync(`${PREFIX}/points/ahu1/setpoint/set`, JSON.stringify({ v: 23 }), { qos: 1 });
    await waitFor(() => gw.writes.length === 1, 5000, 'write');
    expect(gw.writes[0]).toEqual({ device: 'ahu1', point: 'setpoint', value: 23, origin: 'plain-mqtt' });

    await late.publishAsync(`${PREFIX}/points/ahu1/setpoint/set`, JSON.stringify({ v: 99 }), { qos: 1 });
    await late.publishAsync(`${PREFIX}/points/ahu1/temp/set`, JSON.stringify({ v: 1 }), { qos: 1 });
    await waitFor(() => hub.messages.filter((m) => m.topic === `${PREFIX}/events`).length === 2, 5000, 'refusal events');
    const events = hub.messages
      .filter((m) => m.topic === `${PREFIX}/events`)
      .map((m) => {
        const d = decode(EventSchema, m.topic, m.payload);
        if (!d.ok) throw new Error(d.error);
        return d.value;
      });
    expect(events.map((e) => [e.point, e.data?.code])).toEqual([
      ['setpoint', 'SWG_ERR_POINT_LIMIT'],
      ['temp', 'SWG_ERR_POINT_NOT_WRITABLE'],
    ]);
    expect(gw.writes.length).toBe(1);
  });

  it('applies a live /set once and ignores it when the broker replays it as retained after a reconnect', async () => {
    const { broker, gw, fed, registry } = await setup({ enabled: true, writable: true });
    await publishTo(broker.broker, `${PREFIX}/points/ahu1/setpoint/set`, '{"v":21}', true);
    await waitFor(() => gw.writes.length === 1, 5000, 'live write');
    // reconnect: the gateway subscribes again and the broker sends the retained /set with retain=1.
    // Counted at the broker: the gateway may be back within a few ms (a random wait of at most
    // reconnectPeriodMs), too briefly away for a poll of `connected` to see it gone.
    let connects = 0;
    const counted = (c: { id: string }): void => {
      if (c.id === 'gw-1') connects++;
    };
    broker.broker.on('client', counted);
    for (const c of Object.values((broker.broker as unknown as { clients: Record<string, { id: string; conn: { destroy(): void } }> }).clients)) {
      if (c.id === 'gw-1') c.conn.destroy();
    }
    await waitFor(() => connects === 1 && fed.publisher.connected, 20_000, 'reconnect');
    broker.broker.off('client', counted);
    await new Promise((r) => setTimeout(r, 200));
    expect(gw.writes.length).toBe(1);
    const ignored = (await registry.getSingleMetric('swarmgate_federation_rejected_total')?.get())?.values.find((v) => v.labels.reason === 'retained');
    expect(ignored?.value).toBe(1);
    // The integrator clears the retained /set: no write, no refusal, no event.
    const refusedBefore = (await registry.getSingleMetric('swarmgate_federation_rejected_total')?.get())?.values.reduce((a, v) => a + v.value, 0);
    await publishTo(broker.broker, `${PREFIX}/points/ahu1/setpoint/set`, '', true);
    await new Promise((r) => setTimeout(r, 200));
    expect(gw.writes.length).toBe(1);
    expect((await registry.getSingleMetric('swarmgate_federation_rejected_total')?.get())?.values.reduce((a, v) => a + v.value, 0)).toBe(refusedBefore);
  });
});
