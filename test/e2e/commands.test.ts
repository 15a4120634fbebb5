/**
 * Hub commands end to end: CommandService.create → embedded broker → gateway federation →
 * the gateway's write path → Modbus write to the simulated AHU → ack back to the hub. The gateway
 * reaches the broker through a TCP proxy so it can be taken offline.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Facility } from '../../devices/facility.js';
import type { Hub } from '../../hub/index.js';
import { tempDir } from '../support/tmp.js';
import { startEdge, writeEdgeConfig, type InProcessEdge } from './support/edge.js';
import { startBusyFacility } from './support/facility.js';
import { addGatewayUser, credentialsFile, startEmbeddedHub } from './support/hub.js';
import { startProxy, type TcpProxy } from './support/proxy.js';
import { sleep, uniqueId, waitFor } from './support/util.js';

const SITE = 'site-cmd';
const TIMEOUT_MS = 1500;
const dir = tempDir('swg-e2e-cmd-');
const gatewayId = uniqueId('gw-cmd');
let facility: Facility;
let hub: Hub;
let proxy: TcpProxy;
let edge: InProcessEdge;

beforeAll(async () => {
  facility = await startBusyFacility(21);
  hub = await startEmbeddedHub({ dir: dir.path, commands: { timeoutMs: TIMEOUT_MS, retries: 0 } });
  proxy = await startProxy({ host: '127.0.0.1', port: hub.broker!.port });
  const auth = await addGatewayUser(credentialsFile(dir.path), SITE, gatewayId);
  const file = writeEdgeConfig(dir.path, {
    id: gatewayId,
    site: SITE,
    dataDir: `${dir.path}/gw`,
    facility: facility.endpoints,
    devices: ['ahu1'],
    pollMs: 100,
    federation: { mqtt: { url: proxy.url, ...auth, reconnectPeriodMs: 200, reconnectMaxPeriodMs: 400, keepaliveS: 5 }, outbox: { flushMs: 20 }, stateIntervalS: 0 },
  });
  edge = await startEdge(file);
  await waitFor(async () => (await hub.registry.get(gatewayId))?.status === 'online', 15_000, 'gateway online');
  await sleep(200); // the gateway's SUBACK for its commands topic
});

afterAll(async () => {
  await edge?.stop();
  await proxy?.close();
  await hub?.stop();
  await facility?.stop();
  dir.remove();
});

const damper = (): number => facility.model.snapshot().ahu.damperPct;
const write = (value: number) => ({ kind: 'write' as const, device: 'ahu1', point: 'damper_position', value });

async function appliedWrites(): Promise<number> {
  const data = await edge.app.gateway.metrics.writes.get();
  return data.values.filter((v) => v.labels.device === 'ahu1' && v.labels.outcome === 'applied').reduce((n, v) => n + v.value, 0);
}

async function commandCount(status: string): Promise<number> {
  const data = await edge.app.federation!.publisher.metrics.commands.get();
  return data.values.filter((v) => v.labels.status === status).reduce((n, v) => n + v.value, 0);
}

describe('hub commands end to end', () => {
  it('a write is applied through the driver: ack applied, the simulator changed, the new value comes back as telemetry', async () => {
    const record = await hub.commands.create({ gateway: gatewayId, action: write(37.5), origin: 'user:e2e' });
    expect(record.site).toBe(SITE);
    const done = await hub.commands.settled(record.id);
    expect(done).toMatchObject({ status: 'applied', attempts: 1 });
    expect(done.code).toBeUndefined();
    expect(damper()).toBe(37.5);
    await waitFor(async () => (await hub.store.latest(gatewayId)).find((r) => r.point === 'damper_position')?.value === 37.5, 10_000, 'the written value back at the hub');
  });

  it('a write outside the point limits is rejected with SWG_ERR_POINT_LIMIT and not applied', async () => {
    const before = damper();
    const writes = await appliedWrites();
    const record = await hub.commands.create({ gateway: gatewayId, action: write(150), origin: 'agent:e2e' });
    const done = await hub.commands.settled(record.id);
    expect(done.status).toBe('rejected');
    expect(done.code).toBe('SWG_ERR_POINT_LIMIT');
    expect(done.reason).toContain('ahu1/damper_position: 150 is outside [0, 100]');
    expect(damper()).toBe(before);
    expect(await appliedWrites()).toBe(writes);
  });

  it('retried with the same id while the gateway is offline, it is applied exactly once when the gateway is back', async () => {
    const writes = await appliedWrites();
    const duplicates = await commandCount('duplicate');
    await proxy.cut('reset');
    await waitFor(async () => (await hub.registry.get(gatewayId))?.status === 'offline', 10_000, 'gateway offline');

    // A longer expiry than the hub waits: the operator may retry until then. Two copies of one id
    // wait in the gateway's persistent session on the broker.
    const record = await hub.commands.create({ gateway: gatewayId, action: write(62), origin: 'user:e2e', expiresAt: Date.now() + 60_000 });
    const timedOut = await hub.commands.settled(record.id);
    expect(timedOut.status).toBe('timed-out');
    expect(timedOut.reason).toContain(`no ack within ${TIMEOUT_MS} ms`);
    expect(timedOut.reason).toContain('the gateway may still apply it until');
    const retried = await hub.commands.retry(record.id);
    expect(retried).toMatchObject({ status: 'pending', attempts: 2 });
    await proxy.restore();
    const done = await hub.commands.settled(record.id);
    expect(done.status).toBe('applied');
    expect(damper()).toBe(62);
    await waitFor(async () => (await commandCount('duplicate')) === duplicates + 1, 5000, 'the second copy acknowledged as a duplicate');
    expect(await appliedWrites()).toBe(writes + 1);
    expect((await hub.commands.get(record.id))?.status).toBe('applied');
  });

  it('a command the hub reported as timed out is refused as expired when the gateway comes back, not applied late', async () => {
    const writes = await appliedWrites();
    const before = damper();
    await proxy.cut('reset');
    await waitFor(async () => (await hub.registry.get(gatewayId))?.status === 'offline', 10_000, 'gateway offline');

    const record = await hub.commands.create({ gateway: gatewayId, action: write(before === 44 ? 45 : 44), origin: 'user:e2e' });
    expect(record.command.expiresAt).toBe(record.createdAt + TIMEOUT_MS);
    const timedOut = await hub.commands.settled(record.id);
    expect(timedOut.status).toBe('timed-out');
    expect(timedOut.reason).not.toContain('may still apply');
    await expect(hub.commands.retry(record.id)).rejects.toThrow(/expired at .*send a new command/);

    // The broker still holds the command for the gateway's session: it arrives, and is refused.
    await proxy.restore();
    await waitFor(async () => (await hub.commands.get(record.id))?.status === 'rejected', 15_000, 'the late copy refused by the gateway');
    expect((await hub.commands.get(record.id))?.code).toBe('SWG_ERR_COMMAND_EXPIRED');
    await sleep(300);
    expect(damper()).toBe(before);
    expect(await appliedWrites()).toBe(writes);
  });
});
