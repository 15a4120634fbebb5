/**
 * Fault: the network between gateway and hub goes away for a while, through a TCP proxy the test
 * cuts and restores. Two kinds of loss:
 * - reset: connections torn down and refused (both ends notice at once);
 * - blackhole: nothing moves but nobody is told; the gateway notices through MQTT keepalive and
 *   the broker through its keepalive timeout, which publishes the will (hub: offline).
 * Meanwhile the gateway keeps reading into its outbox; afterwards every reported reading is in
 * the hub store exactly once, in order per point.
 */
import { describe, expect, it } from 'vitest';
import { startEdge, writeEdgeConfig, type InProcessEdge } from './support/edge.js';
import { addGatewayUser, credentialsFile } from './support/hub.js';
import { embeddedRig } from './support/rig.js';
import { startProxy, type TcpProxy } from './support/proxy.js';
import { PERFECT, reportedInOrder, summary, waitStored } from './support/stored.js';
import { sleep, uniqueId, waitFor } from './support/util.js';

const SITE = 'site-net';
const rig = embeddedRig('swg-e2e-net-', 9);
const { dir, cleanups } = rig;

async function gatewayBehindProxy(id: string): Promise<{ edge: InProcessEdge; proxy: TcpProxy }> {
  const proxy = await startProxy({ host: '127.0.0.1', port: rig.hub.broker!.port });
  cleanups.push(() => proxy.close());
  const auth = await addGatewayUser(credentialsFile(dir.path), SITE, id);
  const file = writeEdgeConfig(dir.path, {
    id,
    site: SITE,
    dataDir: `${dir.path}/${id}`,
    facility: rig.facility.endpoints,
    pollMs: 100,
    federation: { mqtt: { url: proxy.url, ...auth, reconnectPeriodMs: 250, reconnectMaxPeriodMs: 2000, keepaliveS: 5, connectTimeoutMs: 2000 }, outbox: { flushMs: 50 }, stateIntervalS: 0 },
  });
  const edge = await startEdge(file);
  cleanups.push(() => edge.stop());
  return { edge, proxy };
}

const connected = (edge: InProcessEdge): boolean => edge.app.federation?.publisher.connected === true;
const status = async (id: string): Promise<string | undefined> => (await rig.hub.registry.get(id))?.status;

async function finish(edge: InProcessEdge, id: string): Promise<void> {
  const after = edge.reported.length;
  await waitFor(() => edge.reported.length >= after + 30, 15_000, 'readings after the outage');
  await edge.app.gateway.stop();
  const check = await waitStored(rig.hub.store, id, edge.reported);
  expect(reportedInOrder(edge.reported)).toBe(true);
  expect(summary(check)).toEqual(PERFECT);
}

describe('network loss between gateway and hub', () => {
  it('reset for 2 s: the outbox keeps what the hub misses, replays it on reconnect', async () => {
    const id = uniqueId('gw-reset');
    const { edge, proxy } = await gatewayBehindProxy(id);
    await waitFor(() => connected(edge) && edge.reported.length >= 40, 20_000, 'streaming');
    await proxy.cut('reset');
    await waitFor(() => !connected(edge), 5000, 'gateway notices');
    await sleep(2000);
    expect(edge.app.federation!.outbox.stats().messages).toBeGreaterThan(0);
    await proxy.restore();
    await waitFor(() => connected(edge), 10_000, 'reconnected');
    await finish(edge, id);
  });

  it('blackhole for 9 s: keepalive notices on both ends, the will marks it offline, nothing lost', async () => {
    const id = uniqueId('gw-hole');
    const { edge, proxy } = await gatewayBehindProxy(id);
    await waitFor(() => connected(edge) && edge.reported.length >= 40, 20_000, 'streaming');
    await waitFor(async () => (await status(id)) === 'online', 5000, 'online');
    const cutAt = Date.now();
    await proxy.cut('blackhole');
    // keepalive 5 s: the broker gives up after 1.5 x keepalive and publishes the will.
    await waitFor(async () => (await status(id)) === 'offline', 12_000, 'offline from the will');
    const noticedAfter = Date.now() - cutAt;
    await waitFor(() => !connected(edge), 12_000, 'gateway notices through keepalive');
    await sleep(Math.max(0, 9000 - (Date.now() - cutAt)));
    await proxy.restore();
    await waitFor(async () => connected(edge) && (await status(id)) === 'online', 15_000, 'back online');
    await finish(edge, id);
    expect(noticedAfter).toBeGreaterThan(4000);
  });
});
