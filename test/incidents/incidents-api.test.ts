/**
 * The emergence monitor on SQLite and (when it is up) PostgreSQL: births through the real
 * registry fill the point index, anomaly events go through the real HubEvents bus to the
 * IncidentService, and the API shows one fleet incident for a site's outside-air sensors alarming
 * together and one equipment incident for one gateway's filter; a redelivered event is not counted
 * twice; a restarted service goes on with the open incidents; quiet incidents close, and a closed
 * heat wave reopens when its AHUs' return air follows hours later (also after a restart); the holder of
 * the incidents lease groups what another hub process stored (catch-up).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlFor } from '../../hub/db/sql.js';
import { HubEvents } from '../../hub/events.js';
import { IncidentService } from '../../hub/incidents/service.js';
import { GatewayRegistry } from '../../hub/registry/registry.js';
import { PointIndex } from '../../hub/registry/points.js';
import type { GatewayEvent, GatewayState } from '../../shared/wire/messages.js';
import { API_STORES, type TestApi } from '../api/support.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const T0 = 1_700_000_000_000;
const MIN = 60_000;

const AHU = {
  id: 'ahu1',
  protocol: 'modbus-tcp',
  state: 'up' as const,
  units: { outdoor_air_temp: 'degC', return_air_temp: 'degC', filter_dp: 'Pa' },
  tags: { outdoor_air_temp: ['outside', 'air', 'temp', 'sensor'], return_air_temp: ['return', 'air', 'temp', 'sensor'], filter_dp: ['filter', 'delta', 'pressure', 'sensor'] },
};

function birth(gateway: string, site: string): GatewayState {
  return { v: 1, gateway, site, status: 'online', ts: T0, version: '2.0.3', devices: [AHU] };
}

function anomaly(gateway: string, point: string, ts: number, id = randomUUID()): GatewayEvent {
  return { v: 1, id, gateway, ts, kind: 'anomaly', severity: 'warning', device: 'ahu1', point, message: `anomaly on ahu1.${point}` };
}

for (const store of API_STORES) {
  describe.skipIf(!store.enabled)(`incidents (${store.name})`, () => {
    let t: TestApi;
    let cleanup: () => Promise<void>;
    let service: IncidentService;
    let points: PointIndex;
    const gateways = Array.from({ length: 6 }, (_, i) => `gw-a${i + 1}`);
    const get = async (url: string) => {
      const res = await t.app.inject({ method: 'GET', url, headers: { cookie: t.cookies.viewer } });
      return { status: res.statusCode, body: res.json<Json>() };
    };
    // The hub's clock: each alarm arrives as it is raised.
    let now = T0;
    const emit = (site: string, event: GatewayEvent) => {
      now = Math.max(now, event.ts);
      return t.events.emit('event', { site, gateway: event.gateway, event });
    };

    beforeAll(async () => {
      ({ t, cleanup } = await store.open());
      points = new PointIndex(sqlFor(t.store));
      const registry = new GatewayRegistry({ store: t.store, events: t.events, points });
      for (const gw of gateways) await registry.applyState('site-a', gw, birth(gw, 'site-a'), T0);
      for (const gw of ['gw-b1', 'gw-b2', 'gw-b3']) await registry.applyState('site-b', gw, birth(gw, 'site-b'), T0);
      service = await IncidentService.open({ sql: sqlFor(t.store), points, sweepEveryMs: 0, clock: () => now });
      service.connect(t.events);
    });
    afterAll(async () => {
      await service?.stop();
      await cleanup?.();
    });

    it('groups a site whose outside-air sensors alarm together as one fleet incident, and one deviating filter as equipment', async () => {
      // Four of site-a's six outside-air sensors within 5 min; a filter on gw-a6; an outside-air alarm at site-b.
      for (const [k, gw] of gateways.slice(0, 4).entries()) await emit('site-a', anomaly(gw, 'outdoor_air_temp', T0 + k * MIN));
      await emit('site-a', anomaly('gw-a6', 'filter_dp', T0 + 2 * MIN));
      await emit('site-b', anomaly('gw-b1', 'outdoor_air_temp', T0 + 3 * MIN));

      const fleet = await get('/api/v1/incidents?kind=fleet');
      expect(fleet.status).toBe(200);
      expect(fleet.body.items).toHaveLength(1);
      const heat = fleet.body.items[0];
      expect(heat).toMatchObject({ kind: 'fleet', scope: 'site', state: 'open', site: 'site-a', sites: ['site-a'], gateways: 4, memberCount: 4, population: 6, tags: ['outside', 'air', 'temp', 'sensor'], unit: 'degC', firstSeen: T0, lastSeen: T0 + 3 * MIN });
      expect(heat.cause).toContain('4 of 6 gateways alarm on outside air temp at site site-a');
      expect(heat.signatures).toEqual(['air,outside,sensor,temp|degC']);

      const detail = await get(`/api/v1/incidents/${heat.id}`);
      expect(detail.status).toBe(200);
      expect(detail.body.members.map((m: Json) => `${m.gateway}/${m.device}/${m.point}`)).toEqual(gateways.slice(0, 4).map((g) => `${g}/ahu1/outdoor_air_temp`));
      expect(detail.body.members[0].eventId).toMatch(/^[0-9a-f-]{36}$/);

      const equipment = (await get('/api/v1/incidents?kind=equipment&state=open')).body.items as Json[];
      expect(equipment.map((i) => `${i.site}:${i.cause}`).sort()).toEqual([
        'site-a:gw-a6/ahu1 deviates on filter delta pressure; its 8 peers with the same point do not: a fault of this equipment, not a common cause',
        'site-b:gw-b1/ahu1 deviates on outside air temp; its 8 peers with the same point do not: a fault of this equipment, not a common cause',
      ]);
      // The first alarms were equipment incidents until their peers joined: merged into the fleet one.
      const merged = (await get('/api/v1/incidents?state=merged')).body.items as Json[];
      expect(merged.length).toBeGreaterThanOrEqual(1);
      expect(new Set(merged.map((i) => i.mergedInto))).toEqual(new Set([heat.id]));
      expect(merged.every((i) => i.memberCount === 0)).toBe(true);

      const siteB = (await get('/api/v1/incidents?site=site-b')).body.items as Json[];
      expect(siteB.map((i) => i.kind)).toEqual(['equipment']);
    });

    it('counts a redelivered event once and refuses unknown ids and bad filters', async () => {
      const event = anomaly('gw-a5', 'outdoor_air_temp', T0 + 4 * MIN);
      await emit('site-a', event);
      await emit('site-a', event);
      const heat = (await get('/api/v1/incidents?kind=fleet')).body.items[0];
      expect(heat.memberCount).toBe(5);
      const missing = await get('/api/v1/incidents/inc-nope');
      expect(missing.status).toBe(404);
      expect(missing.body.error.code).toBe('SWG_ERR_INCIDENT_UNKNOWN');
      expect((await get('/api/v1/incidents?kind=weather')).status).toBe(400);
    });

    it('goes on with the open incidents after a restart, then closes them when quiet', async () => {
      await service.stop();
      service = await IncidentService.open({ sql: sqlFor(t.store), points, sweepEveryMs: 0, clock: () => now });
      service.connect(t.events);
      await emit('site-a', anomaly('gw-a6', 'outdoor_air_temp', T0 + 6 * MIN));
      const fleet = (await get('/api/v1/incidents?kind=fleet')).body.items as Json[];
      expect(fleet).toHaveLength(1);
      expect(fleet[0]).toMatchObject({ gateways: 6, memberCount: 6, lastSeen: T0 + 6 * MIN });

      expect(await service.sweep(T0 + 60 * MIN)).toBe(0);
      expect(await service.sweep(T0 + 6 * MIN + 61 * MIN)).toBe(3);
      expect((await get('/api/v1/incidents?state=open')).body.items).toEqual([]);
      const closed = (await get('/api/v1/incidents?state=closed&kind=fleet')).body.items[0];
      expect(closed).toMatchObject({ state: 'closed', closedAt: T0 + 67 * MIN });
      // A later alarm opens a new incident rather than growing a closed one.
      await emit('site-a', anomaly('gw-a1', 'outdoor_air_temp', T0 + 90 * MIN));
      expect((await get('/api/v1/incidents?state=open')).body.items.map((i: Json) => i.kind)).toEqual(['equipment']);
    });

    it('reopens the closed heat wave when its AHUs\' return air follows hours later, across a restart', async () => {
      const heat = (await get('/api/v1/incidents?state=closed&kind=fleet')).body.items[0] as Json;
      expect(heat).toMatchObject({ site: 'site-a', gateways: 6, lastSeen: T0 + 6 * MIN });
      await emit('site-a', anomaly('gw-a2', 'return_air_temp', T0 + 155 * MIN));
      // Restarted in between: the recently closed fleet incident is reloaded with the open ones.
      await service.stop();
      service = await IncidentService.open({ sql: sqlFor(t.store), points, sweepEveryMs: 0, clock: () => now });
      service.connect(t.events);
      await emit('site-a', anomaly('gw-a3', 'return_air_temp', T0 + 170 * MIN));
      const detail = (await get(`/api/v1/incidents/${heat.id}`)).body;
      expect(detail).toMatchObject({ state: 'open', gateways: 6, memberCount: 8, lastSeen: T0 + 170 * MIN });
      expect(detail.closedAt).toBeUndefined();
      expect(detail.members.filter((m: Json) => m.point === 'return_air_temp').map((m: Json) => m.gateway)).toEqual(['gw-a2', 'gw-a3']);
      const emptied = (await get('/api/v1/incidents?state=merged')).body.items as Json[];
      expect(emptied.some((i) => i.mergedInto === heat.id)).toBe(true);
      expect(await service.sweep(T0 + 230 * MIN)).toBe(0);
      expect(await service.sweep(T0 + 231 * MIN)).toBe(1);
      expect((await get(`/api/v1/incidents/${heat.id}`)).body).toMatchObject({ state: 'closed', closedAt: T0 + 231 * MIN });
    });

    it('groups what another hub process ingested once it holds the incidents lease (catch-up from the stored events)', async () => {
      const sql = sqlFor(t.store);
      // The other process stores and announces the alarms, but does not hold the lease: it groups nothing.
      const other = await IncidentService.open({ sql, points, sweepEveryMs: 0, catchUpEveryMs: 0, leaseTerm: () => undefined, stored: t.store });
      const bus = new HubEvents();
      other.connect(bus);
      const alarms = ['gw-b1', 'gw-b2', 'gw-b3'].map((gw, k) => anomaly(gw, 'outdoor_air_temp', T0 + (200 + k) * MIN));
      for (const event of alarms) {
        await t.store.insertEvent(event, 'site-b', event.ts);
        await bus.emit('event', { site: 'site-b', gateway: event.gateway, event });
      }
      expect((await get('/api/v1/incidents?site=site-b&kind=fleet')).body.items).toEqual([]);
      const leader = await IncidentService.open({ sql, points, sweepEveryMs: 0, catchUpEveryMs: 0, leaseTerm: () => 1, stored: t.store, clock: () => T0 + 205 * MIN });
      expect(await leader.catchUp()).toBe(3);
      expect(await leader.catchUp()).toBe(0);
      const fleet = (await get('/api/v1/incidents?site=site-b&kind=fleet')).body.items as Json[];
      expect(fleet).toHaveLength(1);
      expect(fleet[0]).toMatchObject({ scope: 'site', site: 'site-b', gateways: 3, memberCount: 3 });
      await other.stop();
      await leader.stop();
    });

    it('pages the list (next, passed back as before): every incident once, in the same order', async () => {
      const all = (await get('/api/v1/incidents?limit=1000')).body as Json;
      expect(all.next).toBeUndefined();
      expect(all.items.length).toBeGreaterThan(4);
      const seen: string[] = [];
      let url = '/api/v1/incidents?limit=2';
      for (let i = 0; i < 100; i++) {
        const page = (await get(url)).body as Json;
        expect(page.items.length).toBeLessThanOrEqual(2);
        seen.push(...page.items.map((x: Json) => x.id as string));
        if (!page.next) break;
        url = `/api/v1/incidents?limit=2&before=${encodeURIComponent(page.next as string)}`;
      }
      expect(seen).toEqual(all.items.map((x: Json) => x.id));
      const bad = await get('/api/v1/incidents?before=yesterday');
      expect(bad.status).toBe(400);
      expect(JSON.stringify(bad.body)).toContain('before');
      // An equipment incident merged into a fleet one has no members left, but keeps its site.
      expect(((await get('/api/v1/incidents?state=merged&site=site-a')).body.items as Json[]).length).toBeGreaterThan(0);
    });
  });
}
