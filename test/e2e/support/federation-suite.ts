/**
 * The end-to-end federation suite, run against each hub setup (embedded broker + SQLite, the real
 * Mosquitto with the hub in external mode, PostgreSQL store): simulated facility → gateway (edge
 * app with federation) → broker → hub ingest → store. The gateway reaches the broker through a
 * TCP proxy so the suite can drop its connection the way a crash or a dead link does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Facility } from '../../../devices/facility.js';
import { startBusyFacility } from './facility.js';
import type { Hub } from '../../../hub/index.js';
import { tempDir } from '../../support/tmp.js';
import { startEdge, writeEdgeConfig, type InProcessEdge, type SimDevice } from './edge.js';
import type { Auth } from './hub.js';
import { startProxy, type TcpProxy } from './proxy.js';
import { PERFECT, reportedInOrder, summary, waitStored } from './stored.js';
import { sleep, uniqueId, waitFor } from './util.js';

export interface HubUnderTest {
  readonly hub: Hub;
  /** Where gateways connect (mqtt://host:port). */
  readonly url: string;
  /** Credentials for a gateway of this site (a user in the credentials file, or none for an open broker). */
  gatewayAuth(site: string, gateway: string): Promise<Auth>;
  close(): Promise<void>;
}

export function federationSuite(name: string, enabled: boolean, setup: (dir: string, site: string, gateway: string) => Promise<HubUnderTest>): void {
  describe.skipIf(!enabled)(`federation end to end: ${name}`, () => {
    const dir = tempDir('swg-e2e-');
    const site = uniqueId('site');
    const gateway = uniqueId('gw');
    const devices: SimDevice[] = ['ahu1', 'coldroom', 'io'];
    let facility: Facility | undefined;
    let under: HubUnderTest | undefined;
    let proxy: TcpProxy | undefined;
    let edge: InProcessEdge | undefined;

    beforeAll(async () => {
      facility = await startBusyFacility(11);
      under = await setup(dir.path, site, gateway);
      const target = new URL(under.url);
      proxy = await startProxy({ host: target.hostname, port: Number(target.port) });
      const auth = await under.gatewayAuth(site, gateway);
      const file = writeEdgeConfig(dir.path, {
        id: gateway,
        site,
        dataDir: `${dir.path}/gw`,
        facility: facility.endpoints,
        devices,
        federation: { mqtt: { url: proxy.url, ...auth, reconnectPeriodMs: 200, keepaliveS: 5 }, outbox: { flushMs: 50 }, stateIntervalS: 0 },
      });
      edge = await startEdge(file);
    });

    afterAll(async () => {
      await edge?.stop();
      await proxy?.close();
      await under?.close();
      await facility?.stop();
      dir.remove();
    });

    it('registers the gateway online, with its devices, from the retained birth', async () => {
      const record = await waitFor(async () => {
        const r = await under!.hub.registry.get(gateway);
        return r?.status === 'online' && r.devices?.length === devices.length ? r : undefined;
      }, 15_000, 'gateway online with its devices');
      expect(record.site).toBe(site);
      expect(record.devices?.map((d) => d.id).sort()).toEqual([...devices].sort());
      expect(record.bootId).toBe(edge!.app.federation!.bootId);
    });

    it('stores every reading the gateway reported exactly once, in order per point', async () => {
      const reported = edge!.reported;
      await waitFor(() => devices.every((d) => reported.some((r) => r.device === d && r.quality === 'good')), 20_000, 'good readings from every device');
      await sleep(2500);
      // Stop the source; federation keeps running and delivers what is still in the outbox.
      await edge!.app.gateway.stop();
      const check = await waitStored(under!.hub.store, gateway, reported);
      expect(reportedInOrder(reported)).toBe(true);
      expect(summary(check)).toEqual(PERFECT);
      expect(check.points).toBeGreaterThan(15);
      expect(new Set(reported.map((r) => r.device))).toEqual(new Set(devices));
      expect(await under!.hub.metrics.count(under!.hub.metrics.payloadRejected)).toBe(0);
    });

    it('shows the gateway offline once its connection is lost without a goodbye (the will)', async () => {
      await proxy!.cut('reset');
      const record = await waitFor(async () => {
        const r = await under!.hub.registry.get(gateway);
        return r?.status === 'offline' ? r : undefined;
      }, 10_000, 'gateway offline');
      expect(record.lastSeen).toBeGreaterThan(0);
    });
  });
}
