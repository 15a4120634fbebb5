/**
 * The hub restarts in external mode (the machine's Mosquitto) while a gateway streams from the
 * simulated facility. Mosquitto acknowledges the gateway's messages while no hub is connected and
 * queues them in the hub's persistent session; the gateway keeps them in its outbox until the hub
 * receipts them as stored. The restarted hub (same client id, same SQLite file) gets them from
 * Mosquitto's queue and receipts them, and the outbox empties. Afterwards every reading the
 * gateway reported is stored exactly once, in order per point.
 */
import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Facility } from '../../devices/facility.js';
import { emitMosquittoConf } from '../../hub/broker/mosquitto.js';
import { defaultHubClientId, type Hub } from '../../hub/index.js';
import { peerOrSkip, tcpPeer } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import { startEdge, writeEdgeConfig, type InProcessEdge } from './support/edge.js';
import { startBusyFacility } from './support/facility.js';
import { MOSQUITTO, cleanMosquitto, dropMosquittoSession, startExternalHub } from './support/hub.js';
import { PERFECT, reportedInOrder, summary, waitStored } from './support/stored.js';
import { sleep, uniqueId, waitFor } from './support/util.js';

const available = peerOrSkip(await tcpPeer(MOSQUITTO.host, MOSQUITTO.port, 'mosquitto'));

describe.skipIf(!available)('hub restart in external mode (Mosquitto, persistent session)', () => {
  const dir = tempDir('swg-e2e-restart-ext-');
  const site = uniqueId('site');
  const gateway = uniqueId('gw');
  const shareGroup = uniqueId('grp');
  const hubClientId = uniqueId('hub');
  let facility: Facility | undefined;
  let edge: InProcessEdge | undefined;
  let hub: Hub | undefined;

  const startHubProcess = (): Promise<Hub> =>
    startExternalHub({ dir: dir.path, url: MOSQUITTO.url, shareGroup, clientId: hubClientId, storePath: `${dir.path}/hub.db`, options: { sites: [site] } });
  const connected = (): boolean => edge?.app.federation?.publisher.connected === true;
  const backlog = (): number => edge!.app.federation!.outbox.stats().messages;

  beforeAll(async () => {
    mkdirSync(dir.path, { recursive: true });
    facility = await startBusyFacility(5);
    hub = await startHubProcess();
    const file = writeEdgeConfig(dir.path, {
      id: gateway,
      site,
      dataDir: `${dir.path}/gw`,
      facility: facility.endpoints,
      pollMs: 100,
      federation: { mqtt: { url: MOSQUITTO.url, reconnectPeriodMs: 200, keepaliveS: 5 }, outbox: { flushMs: 50 }, stateIntervalS: 0 },
    });
    edge = await startEdge(file);
  });

  afterAll(async () => {
    await edge?.stop();
    await hub?.stop();
    // The hub's session (and anything still queued for it) and the gateway's retained birth.
    await dropMosquittoSession(hubClientId).catch(() => undefined);
    await cleanMosquitto(site, [gateway]).catch(() => undefined);
    await facility?.stop();
    dir.remove();
  });

  it('gets what the gateway published while it was down from its Mosquitto session: nothing lost or doubled', async () => {
    await waitFor(() => connected() && edge!.reported.length >= 40, 20_000, 'streaming');
    await waitFor(async () => ((await hub!.store.latest(gateway)).length > 0 ? true : undefined), 10_000, 'first readings stored');
    expect(hub!.mqtt.options.clientId).toBe(hubClientId);
    expect(hub!.mqtt.options.clean).toBe(false);

    await hub!.stop();
    const atStop = edge!.reported.length;
    await sleep(3000);
    // The gateway kept reporting and Mosquitto acknowledged it all, but no hub stored it: the
    // batches wait in the outbox for their receipts (and in the hub's queued session).
    expect(connected()).toBe(true);
    expect(backlog()).toBeGreaterThan(0);
    expect(edge!.app.federation!.outbox.awaitingCount).toBeGreaterThan(0);
    const duringOutage = edge!.reported.length - atStop;
    expect(duringOutage).toBeGreaterThan(20);

    hub = await startHubProcess();
    // The queued session is delivered, stored and receipted: the outbox empties.
    await waitFor(() => backlog() <= 2, 20_000, 'outbox emptied by the receipts', 5);
    const after = edge!.reported.length;
    await waitFor(() => edge!.reported.length >= after + 20, 10_000, 'more readings after the restart');
    await edge!.app.gateway.stop();
    const check = await waitStored(hub.store, gateway, edge!.reported);
    expect(reportedInOrder(edge!.reported)).toBe(true);
    expect(summary(check)).toEqual(PERFECT);
    expect(check.points).toBeGreaterThan(10);
    expect(await hub.metrics.count(hub.metrics.payloadRejected)).toBe(0);
  });
});

describe('what external mode relies on', () => {
  it('derives a stable, valid client id per host and share group', () => {
    expect(defaultHubClientId('swarmgate-hub', 'edge-1.plant.local')).toBe('swarmgate-hub-edge-1_plant_local-swarmgate-hub');
    const long = defaultHubClientId('g'.repeat(60), 'h');
    expect(long).toMatch(/^[A-Za-z0-9_-]{64}$/);
    expect(long).toBe(defaultHubClientId('g'.repeat(60), 'h'));
    expect(defaultHubClientId(`${'g'.repeat(60)}x`, 'h')).not.toBe(long);
  });

  it('emits a Mosquitto config that queues for offline hub sessions without the 1000-message cap', () => {
    const conf = emitMosquittoConf({ port: 1883, passwordFile: '/etc/mosquitto/swarmgate/mosquitto.passwd', aclFile: '/etc/mosquitto/swarmgate/mosquitto.acl' });
    expect(conf).toContain('persistence true\npersistence_location /etc/mosquitto/swarmgate/\nmax_queued_messages 1000000\nmax_queued_bytes 0\n');
    expect(emitMosquittoConf({ port: 1883, passwordFile: 'p', aclFile: 'a', persistenceLocation: false })).not.toContain('persistence_location');
  });
});
