/**
 * Gateway review requests through the running hub: a plain MQTT client plays the gateway (birth,
 * telemetry, review requests, command acks) against the hub's embedded broker. Requests become
 * one item each (also when delivered twice) with the telemetry windows of the written point and of
 * the points the evidence names, read again when the item is shown; approve sends the command
 * once, modify sends the changed action, reject and expiry send nothing; a request for an action
 * that waits shares its item, one just rejected is held back; the CLI lists and shows the queue
 * from the same store.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { reviewCommand } from '../../cli/review.js';
import { loadHubConfig } from '../../hub/config.js';
import { startHub, type Hub } from '../../hub/index.js';
import { CommandAckSchema, CommandSchema, GatewayStateSchema, ReviewRequestSchema, TelemetryBatchSchema, decode, encode, gatewayTopic, type Command, type ReviewRequest } from '../../shared/wire/index.js';
import { addUsers, batch, connectClient, reading, waitFor } from '../hub/helpers.js';
import { tempDir } from '../support/tmp.js';

const SITE = 'site-rv';
const GW = 'gw-rv-1';

describe('gateway review requests in the running hub', () => {
  const dir = tempDir('swarmgate-gw-reviews-');
  const file = join(dir.path, 'hub.yaml');
  let hub: Hub;
  let gw: MqttClient;
  const received: Command[] = [];

  beforeAll(async () => {
    await addUsers(join(dir.path, 'users.yaml'), [{ spec: { role: 'gateway', username: GW, site: SITE, gateway: GW }, password: 'gw-password' }]);
    writeFileSync(
      file,
      'broker: { embedded: { host: 127.0.0.1, port: 0, credentialsFile: users.yaml } }\nstore: { kind: sqlite, path: hub.db }\ncommands: { timeoutMs: 3000, retries: 0 }\nreview: { sweepIntervalMs: 100, defaultExpiryMinutes: 60, evidenceWindowMinutes: 10 }\n',
    );
    hub = await startHub(loadHubConfig(file), { retentionIntervalMs: 0 });
    gw = await connectClient(hub.broker!.url, { username: GW, password: 'gw-password', clientId: GW });
    // The gateway: applies every command it receives and acknowledges it.
    await gw.subscribeAsync(gatewayTopic(SITE, GW, 'commands'), { qos: 1 });
    gw.on('message', (topic, payload) => {
      const d = decode(CommandSchema, topic, payload);
      if (!d.ok) return;
      received.push(d.value);
      void gw.publishAsync(gatewayTopic(SITE, GW, 'commands/ack'), encode(CommandAckSchema, { v: 1, id: d.value.id, ts: Date.now(), status: 'applied' }), { qos: 1 });
    });
    await gw.publishAsync(gatewayTopic(SITE, GW, 'state'), encode(GatewayStateSchema, { v: 1, gateway: GW, site: SITE, status: 'online', ts: Date.now() }), { qos: 1, retain: true });
    const t = Date.now();
    await gw.publishAsync(
      gatewayTopic(SITE, GW, 'telemetry'),
      encode(TelemetryBatchSchema, batch(GW, 'boot-0001', 1, [reading('ahu1', 'supply_temp_setpoint', 18, t - 120_000), reading('ahu1', 'supply_temp_setpoint', 18.5, t - 60_000), reading('ahu1', 'supply_temp_setpoint', 19, t - 1000)])),
      { qos: 1 },
    );
    await waitFor(async () => (await hub.registry.get(GW))?.status === 'online' && (await hub.store.latest(GW)).length > 0, 5000, 'gateway online with telemetry');
  });

  afterAll(async () => {
    await gw?.endAsync(true);
    await hub?.stop();
    dir.remove();
  });

  const request = (id: string, over: Partial<ReviewRequest> = {}): ReviewRequest => ({
    v: 1,
    id,
    gateway: GW,
    ts: Date.now(),
    expiresAt: Date.now() + 600_000,
    actionClass: 'setpoint',
    action: { kind: 'write', device: 'ahu1', point: 'supply_temp_setpoint', value: 21 },
    confidence: 0.55,
    rationale: 'supply air too cold for the occupied period',
    evidence: { rule: 'comfort', priority: 60 },
    ...over,
  });

  const publish = (r: ReviewRequest): Promise<unknown> => gw.publishAsync(gatewayTopic(SITE, GW, 'reviews'), encode(ReviewRequestSchema, r), { qos: 1 });

  it('a request becomes one item with its telemetry window; approval sends the command once', async () => {
    const r = request('req-approve-0001');
    await publish(r);
    await publish(r); // at-least-once delivery
    const item = await waitFor(() => hub.review.get(r.id), 5000, 'the review item');
    expect(item).toMatchObject({ state: 'pending', site: SITE, gateway: GW, source: 'gateway', priority: 60, actionClass: 'setpoint', confidence: 0.55, expiresAt: r.expiresAt });
    const telemetry = item.evidence.telemetry as Array<{ device: string; point: string; samples: Array<{ ts: number; value: unknown }> }>;
    expect(telemetry).toEqual([expect.objectContaining({ device: 'ahu1', point: 'supply_temp_setpoint', samples: [18, 18.5, 19].map((value) => expect.objectContaining({ value })) })]);
    expect(item.evidence.rule).toBe('comfort');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await hub.review.audit(r.id)).map((e) => e.action)).toEqual(['submit']);

    const approved = await hub.review.approve(r.id, { user: 'tech-anna' });
    await expect(hub.review.approve(r.id, { user: 'tech-ben' })).rejects.toMatchObject({ code: 'SWG_ERR_REVIEW_CONFLICT', status: 409 });
    const done = await waitFor(async () => {
      const i = await hub.review.get(r.id);
      return i?.state === 'executed' || i?.state === 'failed' ? i : undefined;
    }, 8000, 'executed');
    expect(done.state).toBe('executed');
    expect(received.filter((c) => c.id === approved.commandId)).toHaveLength(1);
    expect(received.find((c) => c.id === approved.commandId)).toMatchObject({ origin: 'review:tech-anna', action: r.action });
    expect((await hub.commands.get(approved.commandId ?? ''))?.status).toBe('applied');
  });

  it('modify sends the technician’s action; reject and expiry send nothing', async () => {
    // Three different actions: requests for the same action would share one item.
    const setpoint = (value: number): ReviewRequest['action'] => ({ kind: 'write', device: 'ahu1', point: 'supply_temp_setpoint', value });
    const m = request('req-modify-0001', { action: setpoint(21) });
    const x = request('req-reject-0001', { action: setpoint(22) });
    const e = request('req-expire-0001', { action: setpoint(23), expiresAt: Date.now() + 300 });
    for (const r of [m, x, e]) await publish(r);
    await waitFor(async () => ((await hub.review.list({ site: SITE, state: 'pending' })).length >= 3 ? true : undefined), 5000, 'three pending items');
    const modified = await hub.review.modify(m.id, { user: 'tech-anna', action: { kind: 'write', device: 'ahu1', point: 'supply_temp_setpoint', value: 20 }, note: '20 is enough' });
    await hub.review.reject(x.id, { user: 'tech-ben', reason: 'the room is booked for a cold-chain test' });
    await waitFor(async () => ((await hub.review.get(e.id))?.state === 'expired' ? true : undefined), 5000, 'expired by the sweep');
    await waitFor(async () => ((await hub.review.get(m.id))?.state === 'executed' ? true : undefined), 8000, 'modified item executed');
    expect(received.find((c) => c.id === modified.commandId)?.action).toEqual({ kind: 'write', device: 'ahu1', point: 'supply_temp_setpoint', value: 20 });
    expect(received.filter((c) => c.origin === 'review:tech-ben')).toEqual([]);
    expect((await hub.review.get(x.id))?.state).toBe('rejected');
  });

  it('the CLI lists and shows the queue of the running hub', async () => {
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    try {
      expect(await reviewCommand.run(['list', '--site', SITE, '--state', 'rejected', '--config', file])).toBe(0);
      expect(out.join('')).toContain('req-reject-0001');
      expect(out.join('')).not.toContain('req-modify-0001');
      out.length = 0;
      expect(await reviewCommand.run(['show', 'req-modify-0001', '--config', file])).toBe(0);
      const shown = JSON.parse(out.join('')) as { item: { state: string; modifiedAction: unknown }; audit: Array<{ action: string }> };
      expect(shown.item.state).toBe('executed');
      expect(shown.audit.map((a) => a.action)).toEqual(['submit', 'modify', 'execute']);
    } finally {
      spy.mockRestore();
    }
    await expect(reviewCommand.run(['reject', 'req-approve-0001', '--user', 'x', '--reason', 'late', '--config', file])).rejects.toMatchObject({ code: 'SWG_ERR_REVIEW_CONFLICT' });
    await expect(reviewCommand.run(['approve', 'nope-0000', '--user', 'x', '--config', file])).rejects.toMatchObject({ code: 'SWG_ERR_REVIEW_UNKNOWN' });
  });
  it('a request charts the points its evidence names beside the written one, and the charts follow them after execution', async () => {
    const t = Date.now();
    const temps = [-17, -16, -15.2];
    await gw.publishAsync(
      gatewayTopic(SITE, GW, 'telemetry'),
      encode(TelemetryBatchSchema, batch(GW, 'boot-0001', 2, [...temps.map((v, i) => reading('coldroom', 'temperature', v, t - 120_000 + i * 60_000)), reading('io', 'backup_compressor_relay', false, t - 120_000)])),
      { qos: 1 },
    );
    await waitFor(async () => ((await hub.store.history(GW, 'coldroom', 'temperature', t - 200_000, t)).length === 3 ? true : undefined), 5000, 'cold-room telemetry stored');
    const r = request('req-freezer-0001', {
      actionClass: 'safety',
      action: { kind: 'write', device: 'io', point: 'backup_compressor_relay', value: true },
      rationale: 'Switch the backup compressor on: cold room at -15.2 °C, 0.8 K above its band.',
      // An advisor strategy's bindings; the door sensor never reported, so it has no chart.
      evidence: { priority: 90, strategy: 'freezer-protection', bindings: { temperature: 'coldroom/temperature', backupRelay: 'io/backup_compressor_relay', doorOpen: 'coldroom/door_open' } },
    });
    await publish(r);
    const item = await waitFor(() => hub.review.get(r.id), 5000, 'the freezer item');
    type Window = { device: string; point: string; samples: Array<{ ts: number; value: unknown }> };
    const charts = (i: { evidence: Record<string, unknown> }): Window[] => i.evidence.telemetry as Window[];
    expect(charts(item).map((w) => `${w.device}/${w.point}`)).toEqual(['io/backup_compressor_relay', 'coldroom/temperature']);
    expect(charts(item)[1]?.samples.map((s) => s.value)).toEqual(temps);

    await hub.review.approve(r.id, { user: 'tech-anna' });
    await waitFor(async () => ((await hub.review.get(r.id))?.state === 'executed' ? true : undefined), 8000, 'freezer item executed');
    // The gateway reports the relay on and the room cooling.
    const after = Date.now();
    await gw.publishAsync(gatewayTopic(SITE, GW, 'telemetry'), encode(TelemetryBatchSchema, batch(GW, 'boot-0001', 3, [reading('io', 'backup_compressor_relay', true, after), reading('coldroom', 'temperature', -16.5, after)])), { qos: 1 });
    await waitFor(async () => ((await hub.store.history(GW, 'io', 'backup_compressor_relay', after, after)).length === 1 ? true : undefined), 5000, 'relay reading stored');
    const shown = await hub.review.get(r.id);
    if (!shown) throw new Error('item gone');
    const [relay, temperature] = charts(shown);
    expect(relay?.samples.at(-1)).toMatchObject({ ts: after });
    expect([true, 1]).toContain(relay?.samples.at(-1)?.value);
    expect(temperature?.samples.map((s) => s.value)).toEqual([...temps, -16.5]);
  });

  it('a request for an action that waits shares its item; one the technician just rejected is held back unless it escalates', async () => {
    const action: ReviewRequest['action'] = { kind: 'write', device: 'ahu1', point: 'supply_temp_setpoint', value: 24 };
    const first = request('req-same-0001', { action });
    await publish(first);
    await waitFor(() => hub.review.get(first.id), 5000, 'the first item');
    await publish(request('req-same-0002', { action }));
    // A request for another action, published after it, tells when the hub has handled the second.
    const other = request('req-other-0001', { action: { ...action, value: 25 } });
    await publish(other);
    await waitFor(() => hub.review.get(other.id), 5000, 'the other item');
    const waiting = async (): Promise<string[]> => (await hub.review.list({ site: SITE, state: 'pending' })).filter((i) => JSON.stringify(i.action) === JSON.stringify(action)).map((i) => i.id);
    expect(await waiting()).toEqual([first.id]);
    expect(await hub.review.get('req-same-0002')).toBeUndefined();

    await hub.review.reject(first.id, { user: 'tech-ben', reason: 'the supply air is cold on purpose (night flush)' });
    await publish(request('req-same-0003', { action }));
    // The same action at a higher priority than the rejected one: the condition escalated.
    const escalated = request('req-same-0004', { action, evidence: { rule: 'comfort', priority: 80 } });
    await publish(escalated);
    await waitFor(() => hub.review.get(escalated.id), 5000, 'the escalated item');
    expect(await hub.review.get('req-same-0003')).toBeUndefined();
    expect(await waiting()).toEqual([escalated.id]);
  });

  it('a write carried out without review (an agent\'s confident decision) closes the pending item asking for it', async () => {
    const action: ReviewRequest['action'] = { kind: 'write', device: 'ahu1', point: 'supply_temp_setpoint', value: 26 };
    const asked = request('req-done-0001', { action });
    await publish(asked);
    await waitFor(() => hub.review.get(asked.id), 5000, 'the item');
    // Another write of the same point stays waiting: only the same action is moot.
    const other = request('req-done-0002', { action: { ...action, value: 27 } });
    await publish(other);
    await waitFor(() => hub.review.get(other.id), 5000, 'the other item');
    const command = await hub.commands.create({ gateway: GW, action, origin: 'agent:comfort' });
    await waitFor(async () => (await hub.review.get(asked.id))?.state === 'expired', 5000, 'the item closed');
    expect(await hub.review.get(asked.id)).toMatchObject({ state: 'expired', reason: `carried out without review by agent:comfort (command ${command.id})` });
    expect((await hub.review.audit(asked.id)).map((e) => e.action)).toEqual(['submit', 'expire']);
    expect((await hub.review.get(other.id))?.state).toBe('pending');
    expect(received.filter((c) => c.id === command.id)).toHaveLength(1);
    // A reviewed item's own command (origin review:<user>) is no write "without review".
    const reviewed = await hub.commands.create({ gateway: GW, action: { ...action, value: 27 }, origin: 'review:tech-anna' });
    await waitFor(async () => ((await hub.commands.get(reviewed.id))?.status === 'applied' ? true : undefined), 5000, 'the reviewed command applied');
    expect((await hub.review.get(other.id))?.state).toBe('pending');
  });
});
