/**
 * Faults on the hub side while a gateway streams from the simulated facility:
 * - the hub restarts (embedded broker and all, same port, same SQLite file);
 * - the broker restarts (a standalone embedded broker on the same port, the hub connected to it
 *   in external mode with a hub user, as with a separately run broker).
 * Afterwards every reading the gateway reported is stored exactly once, in order per point.
 *
 * A gateway deletes a message on the broker's PUBACK, so a message the broker accepts while no
 * hub is subscribed is lost. The hub's embedded broker lets gateways in only while ingest is
 * subscribed (startClosed, open, seal), which the hub restart below checks. A broker restarted on
 * its own has no such gate (aedes keeps sessions in memory; Mosquitto does not keep shared
 * subscriptions across a restart), so a gateway that reconnects before the hub can lose what it
 * replays in between: the broker test opens the new broker to gateways only once the hub is
 * back, and what it checks is the rest of the path (reconnects, session loss, replay, dedup).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Facility } from '../../devices/facility.js';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../hub/broker/embedded.js';
import type { Hub } from '../../hub/index.js';
import { tempDir } from '../support/tmp.js';
import { startEdge, writeEdgeConfig, type InProcessEdge } from './support/edge.js';
import { startBusyFacility } from './support/facility.js';
import { addGatewayUser, addHubUser, credentialsFile, startEmbeddedHub, startExternalHub } from './support/hub.js';
import { PERFECT, reportedInOrder, summary, waitStored } from './support/stored.js';
import { sleep, uniqueId, waitFor } from './support/util.js';

const SITE = 'site-restart';
const dir = tempDir('swg-e2e-restart-');
let facility: Facility;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  facility = await startBusyFacility(3);
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await facility?.stop();
  dir.remove();
});

async function gateway(id: string, url: string, auth: { username: string; password: string }): Promise<InProcessEdge> {
  const file = writeEdgeConfig(dir.path, {
    id,
    site: SITE,
    dataDir: `${dir.path}/${id}`,
    facility: facility.endpoints,
    pollMs: 100,
    federation: { mqtt: { url, ...auth, reconnectPeriodMs: 200, keepaliveS: 5 }, outbox: { flushMs: 50 }, stateIntervalS: 0 },
  });
  const edge = await startEdge(file);
  cleanups.push(() => edge.stop());
  return edge;
}

const connected = (edge: InProcessEdge): boolean => edge.app.federation?.publisher.connected === true;

/** Lets the gateway stream, runs the fault, lets it stream again, stops the source and checks the store. */
async function across(edge: InProcessEdge, hubStore: () => Hub, fault: () => Promise<void>): Promise<void> {
  await waitFor(() => connected(edge) && edge.reported.length >= 40, 20_000, 'streaming');
  await fault();
  await waitFor(() => connected(edge), 15_000, 'reconnected');
  const after = edge.reported.length;
  await waitFor(() => edge.reported.length >= after + 30, 15_000, 'more readings after the fault');
  await edge.app.gateway.stop();
  const id = edge.app.gateway.id;
  const check = await waitStored(hubStore().store, id, edge.reported);
  expect(reportedInOrder(edge.reported)).toBe(true);
  expect(summary(check)).toEqual(PERFECT);
}

describe('hub-side restarts while a gateway streams', () => {
  it('hub restart: same port, same store file; the gateway replays what the hub did not get', async () => {
    const folder = `${dir.path}/hub`;
    const { mkdirSync } = await import('node:fs');
    mkdirSync(folder, { recursive: true });
    const id = uniqueId('gw-hub');
    const gwAuth = await addGatewayUser(credentialsFile(folder), SITE, id);
    let hub = await startEmbeddedHub({ dir: folder });
    const port = hub.broker!.port;
    cleanups.push(() => hub.stop());
    const edge = await gateway(id, hub.broker!.url, gwAuth);
    await across(
      edge,
      () => hub,
      async () => {
        // Several restarts: each start and stop is a chance for the gateway to slip in while
        // ingest is not subscribed.
        for (const downMs of [1500, 300, 600]) {
          await hub.stop();
          await waitFor(() => !connected(edge), 5000, 'gateway disconnected');
          await sleep(downMs);
          hub = await startEmbeddedHub({ dir: folder, port });
          await waitFor(() => connected(edge), 10_000, 'gateway back');
          await sleep(400);
        }
      },
    );
    expect((await hub.registry.get(id))?.status).toBe('online');
  });
  it('broker restart: the gateway and the hub reconnect, the backlog is replayed, nothing lost or doubled', async () => {
    const folder = `${dir.path}/broker`;
    const { mkdirSync } = await import('node:fs');
    mkdirSync(folder, { recursive: true });
    const users = credentialsFile(folder);
    const id = uniqueId('gw-brk');
    const gwAuth = await addGatewayUser(users, SITE, id);
    const hubAuth = await addHubUser(users);
    let broker: EmbeddedBroker = await startEmbeddedBroker({ host: '127.0.0.1', port: 0, credentialsFile: users });
    cleanups.push(() => broker.close());
    const port = broker.port;
    const hub = await startExternalHub({ dir: folder, url: broker.url, auth: hubAuth, shareGroup: 'hubs' });
    cleanups.push(() => hub.stop());
    const edge = await gateway(id, broker.url, gwAuth);
    await across(
      edge,
      () => hub,
      async () => {
        await broker.close();
        await waitFor(() => !connected(edge), 5000, 'gateway disconnected');
        await sleep(1500); // readings pile up in the outbox
        expect(edge.app.federation!.outbox.stats().messages).toBeGreaterThan(0);
        broker = await startEmbeddedBroker({ host: '127.0.0.1', port, credentialsFile: users, startClosed: true });
        await waitFor(() => hub.mqtt.connected, 10_000, 'hub reconnected');
        await sleep(300); // its re-subscriptions (SUBACK) on loopback
        broker.open();
      },
    );
  });

});
