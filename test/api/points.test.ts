/**
 * The point index through the web API, on SQLite and (when it is up) PostgreSQL: births applied
 * through the real GatewayRegistry fill it; GET /api/v1/points finds every point carrying all the
 * given Haystack markers, by site and gateway, in pages; a new birth replaces a gateway's points,
 * a will leaves them. Bad parameters are a 400 naming the field.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlFor } from '../../hub/db/sql.js';
import { GatewayRegistry } from '../../hub/registry/registry.js';
import { PointIndex } from '../../hub/registry/points.js';
import type { GatewayState } from '../../shared/wire/messages.js';
import { API_STORES, seedReview, type TestApi } from './support.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const T0 = 1_700_000_000_000;

function birth(gateway: string, site: string, devices: NonNullable<GatewayState['devices']>, ts = T0): GatewayState {
  return { v: 1, gateway, site, status: 'online', ts, devices };
}

const AHU = {
  id: 'ahu1',
  protocol: 'modbus-tcp',
  state: 'up' as const,
  units: { supply_air_temp: 'degC', return_air_temp: 'degC', damper_position: '%', serial_hours: 'h' },
  tags: {
    supply_air_temp: ['discharge', 'air', 'temp', 'sensor'],
    return_air_temp: ['return', 'air', 'temp', 'sensor'],
    damper_position: ['outside', 'air', 'damper', 'cmd'],
    fan_running: ['fan', 'run', 'sensor'],
  },
};
const VAV = (id: string) => ({
  id,
  protocol: 'bacnet-ip',
  state: 'up' as const,
  units: { da_t: 'degF', zn_t: 'degF' },
  tags: { da_t: ['discharge', 'air', 'temp', 'sensor'], zn_t: ['zone', 'air', 'temp', 'sensor'] },
});

for (const store of API_STORES) {
  describe.skipIf(!store.enabled)(`points API (${store.name})`, () => {
    let t: TestApi;
    let cleanup: () => Promise<void>;
    let registry: GatewayRegistry;
    const get = async (url: string, headers: Record<string, string> = { cookie: t.cookies.viewer }) => {
      const res = await t.app.inject({ method: 'GET', url, headers });
      return { status: res.statusCode, body: res.json<Json>() };
    };
    const keys = (body: Json): string[] => body.items.map((p: Json) => `${p.gateway}/${p.device}/${p.point}`);

    beforeAll(async () => {
      ({ t, cleanup } = await store.open());
      registry = new GatewayRegistry({ store: t.store, events: t.events, points: new PointIndex(sqlFor(t.store)) });
      await registry.applyState('site-a', 'gw-a', birth('gw-a', 'site-a', [AHU]), T0);
      await registry.applyState('site-b', 'gw-b', birth('gw-b', 'site-b', [VAV('vav-1'), VAV('vav-2')]), T0 + 1);
    });
    afterAll(async () => cleanup?.());

    it('finds every point carrying all the markers, across gateways and vendors\' names', async () => {
      const res = await get('/api/v1/points?tags=discharge,air,temp');
      expect(res.status).toBe(200);
      expect(keys(res.body)).toEqual(['gw-a/ahu1/supply_air_temp', 'gw-b/vav-1/da_t', 'gw-b/vav-2/da_t']);
      expect(res.body.items[0]).toEqual({ site: 'site-a', gateway: 'gw-a', device: 'ahu1', point: 'supply_air_temp', unit: 'degC', tags: ['discharge', 'air', 'temp', 'sensor'], updatedAt: T0 });
      expect(res.body.next).toBeUndefined();
      // "point" is implied on every point.
      expect(keys((await get('/api/v1/points?tags=point,damper')).body)).toEqual(['gw-a/ahu1/damper_position']);
      expect(keys((await get('/api/v1/points?tags=air,temp,sensor')).body)).toHaveLength(6);
      expect((await get('/api/v1/points?tags=chilled,water')).body).toEqual({ items: [] });
    });

    it('lists untagged points with a unit, and tagged points without one', async () => {
      const all = (await get('/api/v1/points?gateway=gw-a')).body;
      expect(keys(all)).toEqual(['gw-a/ahu1/damper_position', 'gw-a/ahu1/fan_running', 'gw-a/ahu1/return_air_temp', 'gw-a/ahu1/serial_hours', 'gw-a/ahu1/supply_air_temp']);
      expect(all.items[1]).not.toHaveProperty('unit');
      expect(all.items[3]).toMatchObject({ unit: 'h', tags: [] });
    });

    it('filters by site and gateway', async () => {
      expect(keys((await get('/api/v1/points?tags=temp&site=site-b')).body)).toEqual(['gw-b/vav-1/da_t', 'gw-b/vav-1/zn_t', 'gw-b/vav-2/da_t', 'gw-b/vav-2/zn_t']);
      expect(keys((await get('/api/v1/points?tags=temp&gateway=gw-a')).body)).toEqual(['gw-a/ahu1/return_air_temp', 'gw-a/ahu1/supply_air_temp']);
      expect((await get('/api/v1/points?tags=temp&site=site-a&gateway=gw-b')).body).toEqual({ items: [] });
    });

    it('pages in (gateway, device, point) order with the next cursor', async () => {
      const seen: string[] = [];
      let url = '/api/v1/points?tags=air,temp&limit=2';
      for (let page = 0; page < 5; page++) {
        const res = await get(url);
        expect(res.status).toBe(200);
        seen.push(...keys(res.body));
        if (!res.body.next) break;
        expect(res.body.items).toHaveLength(2);
        url = `/api/v1/points?tags=air,temp&limit=2&after=${encodeURIComponent(res.body.next as string)}`;
      }
      expect(seen).toEqual(['gw-a/ahu1/return_air_temp', 'gw-a/ahu1/supply_air_temp', 'gw-b/vav-1/da_t', 'gw-b/vav-1/zn_t', 'gw-b/vav-2/da_t', 'gw-b/vav-2/zn_t']);
    });

    it('replaces a gateway\'s points on its next birth; a will leaves them', async () => {
      await registry.applyState('site-b', 'gw-b', birth('gw-b', 'site-b', [VAV('vav-1')], T0 + 10), T0 + 10);
      expect(keys((await get('/api/v1/points?gateway=gw-b')).body)).toEqual(['gw-b/vav-1/da_t', 'gw-b/vav-1/zn_t']);
      await registry.applyState('site-b', 'gw-b', { v: 1, gateway: 'gw-b', site: 'site-b', status: 'offline', ts: T0 + 20 }, T0 + 20);
      expect(keys((await get('/api/v1/points?gateway=gw-b')).body)).toEqual(['gw-b/vav-1/da_t', 'gw-b/vav-1/zn_t']);
      // The gateway's own record shows the tags too.
      const gw = await get('/api/v1/gateways/gw-a');
      expect(gw.body.devices[0].tags.supply_air_temp).toEqual(['discharge', 'air', 'temp', 'sensor']);
    });

    it('two hub processes applying one birth at once end with its rows, neither refused', async () => {
      // Each process has its own index (and, on PostgreSQL, its statements run on separate pooled connections).
      const [a, b] = [new PointIndex(sqlFor(t.store)), new PointIndex(sqlFor(t.store))];
      for (let round = 0; round < 12; round += 1) {
        const devices = [VAV(`vav-r${round}`)];
        await Promise.all([a.applyBirth('site-c', 'gw-c', devices, T0 + round), b.applyBirth('site-c', 'gw-c', devices, T0 + round)]);
        expect(keys((await get('/api/v1/points?gateway=gw-c')).body)).toEqual([`gw-c/vav-r${round}/da_t`, `gw-c/vav-r${round}/zn_t`]);
        expect((await get('/api/v1/points?gateway=gw-c&tags=discharge,air')).body.items).toHaveLength(1);
      }
    });

    it('refuses bad markers, cursors and limits with a 400 naming the field, and callers without a login', async () => {
      const bad = await get('/api/v1/points?tags=Discharge Air');
      expect(bad.status).toBe(400);
      expect(JSON.stringify(bad.body)).toContain('tags');
      expect((await get('/api/v1/points?after=gw-a')).status).toBe(400);
      expect((await get('/api/v1/points?limit=0')).status).toBe(400);
      expect((await get('/api/v1/points?limit=1001')).status).toBe(400);
      expect((await get('/api/v1/points?tag=temp')).status).toBe(400);
      expect((await get('/api/v1/points', {})).status).toBe(401);
      expect((await get('/api/v1/points', { authorization: t.tokens.viewer })).status).toBe(200);
    });

    it("lists writable points with their limits, and refuses a command or a modified review the gateway's birth says it would refuse", async () => {
      const post = async (url: string, body: Json, cookie = t.cookies.technician) => {
        const res = await t.app.inject({ method: 'POST', url, headers: { cookie }, payload: body });
        return { status: res.statusCode, body: res.json<Json>() };
      };
      const write = (device: string, point: string, value: number | boolean | string) => ({ kind: 'write', device, point, value });
      const writable = { ...VAV('vav-9'), writable: { zn_sp: { min: 15, max: 28 }, fan_cmd: {} } };
      await registry.applyState('site-c', 'gw-c', birth('gw-c', 'site-c', [writable]), T0 + 2);
      const points = (await get('/api/v1/points?gateway=gw-c')).body.items as Json[];
      expect(points.map((p) => [p.point, p.writable, p.limits])).toEqual([
        ['da_t', false, undefined],
        ['fan_cmd', true, undefined],
        ['zn_sp', true, { min: 15, max: 28 }],
        ['zn_t', false, undefined],
      ]);

      const refused = await post('/api/v1/commands', { gateway: 'gw-c', action: write('vav-9', 'zn_sp', 35) });
      expect(refused.status).toBe(400);
      expect(refused.body.error.code).toBe('SWG_ERR_COMMAND_INVALID');
      expect(refused.body.error.fields).toEqual([{ path: 'body.action.value', message: '35 is outside the write limits of vav-9/zn_sp on gw-c, [15, 28] (by its last birth)' }]);
      const readOnly = await post('/api/v1/commands', { gateway: 'gw-c', action: write('vav-9', 'da_t', 20) });
      expect(readOnly.body.error.fields).toEqual([{ path: 'body.action.point', message: 'vav-9/da_t on gw-c is read-only (by its last birth)' }]);
      const unknown = await post('/api/v1/commands', { gateway: 'gw-c', action: write('vav-9', 'zn_spt', 20) });
      expect(unknown.body.error.fields).toEqual([{ path: 'body.action.point', message: 'gw-c has no writable point vav-9/zn_spt (by its last birth)' }]);
      expect((await post('/api/v1/commands', { gateway: 'gw-c', action: write('vav-9', 'zn_sp', 21) })).status).toBe(201);
      expect((await post('/api/v1/commands', { gateway: 'gw-c', action: write('vav-9', 'fan_cmd', true) })).status).toBe(201);
      // A gateway whose birth does not say (older than the field) is left to refuse for itself.
      expect((await post('/api/v1/commands', { gateway: 'gw-a', action: write('ahu1', 'supply_air_temp', 999) })).status).toBe(201);

      await seedReview(t, 'rv-limits', 50, 'gw-c', 24, { device: 'vav-9', point: 'zn_sp' });
      const modified = await post('/api/v1/reviews/rv-limits/modify', { action: write('vav-9', 'zn_sp', 40) });
      expect(modified.status).toBe(400);
      expect(modified.body.error.code).toBe('SWG_ERR_REVIEW_INVALID');
      expect(modified.body.error.fields).toEqual([{ path: 'body.action.value', message: '40 is outside the write limits of vav-9/zn_sp on gw-c, [15, 28] (by its last birth)' }]);
      expect((await t.review.get('rv-limits'))?.state).toBe('pending');
      // A number sent as text is the number the gateway would write: refused alike.
      const asText = await post('/api/v1/reviews/rv-limits/modify', { action: write('vav-9', 'zn_sp', '40') });
      expect(asText.status).toBe(400);
      expect(asText.body.error.fields).toEqual([{ path: 'body.action.value', message: '"40" is outside the write limits of vav-9/zn_sp on gw-c, [15, 28] (by its last birth)' }]);
      expect((await post('/api/v1/commands', { gateway: 'gw-c', action: write('vav-9', 'zn_sp', ' 99 ') })).status).toBe(400);
      const ok = await post('/api/v1/reviews/rv-limits/modify', { action: write('vav-9', 'zn_sp', 22) });
      expect(ok.status).toBe(200);
      expect(ok.body.state).toBe('approved');
    });
  });
}
