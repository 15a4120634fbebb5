/**
 * Fleet detector priors on the hub, on SQLite and (when it is up) PostgreSQL: priors exported by a
 * real detector are stored versioned per profile point key (concurrent publishers get distinct
 * versions), listed and served by the API, and what is served starts a detector; a malformed
 * prior is refused with the field named; an unknown key is a coded 404.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectorFromPrior } from '../../../edge/analytics/index.js';
import { sqlFor } from '../../../hub/db/sql.js';
import { PriorService } from '../../../hub/priors/service.js';
import { isSwarmgateError } from '../../../shared/kit/errors.js';
import { priorKey, type DetectorPrior } from '../../../shared/wire/detector-prior.js';
import { dailySeries, STEP_MS, T0 } from '../../analytics/synthetic.js';
import { API_STORES, type TestApi } from '../../api/support.js';
import { FAST, learnedPrior } from './support.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const KEY = priorKey({ profile: 'ahu-modbus.yaml', point: 'supply_air_temp' });
const learned = (seed: number): Promise<DetectorPrior> => learnedPrior(seed, 700);

it('keys a point by profile and point, or by its markers and unit', () => {
  expect(KEY).toBe('profile:ahu-modbus.yaml#supply_air_temp');
  expect(priorKey({ markers: ['temp', 'air', 'sensor', 'discharge', 'air'], unit: 'degC' })).toBe('tags:air,discharge,sensor,temp|degC');
});

for (const store of API_STORES) {
  describe.skipIf(!store.enabled)(`fleet priors (${store.name})`, () => {
    let t: TestApi;
    let cleanup: () => Promise<void>;
    let service: PriorService;
    let priors: DetectorPrior[];
    const get = async (url: string) => {
      const res = await t.app.inject({ method: 'GET', url, headers: { cookie: t.cookies.viewer } });
      return { status: res.statusCode, body: res.json<Json>() };
    };

    beforeAll(async () => {
      ({ t, cleanup } = await store.open());
      service = new PriorService(sqlFor(t.store), () => T0 + 1000);
      priors = [await learned(1), await learned(2)];
    }, 60_000);
    afterAll(async () => {
      await cleanup?.();
    });

    it('stores each published prior as the next version of its key and serves the newest', async () => {
      const first = await service.publish({ key: KEY, site: 'site-a', gateway: 'gw-1', device: 'ahu1', point: 'supply_air_temp', prior: priors[0] as DetectorPrior });
      expect(first.version).toBe(1);
      const second = await service.publish({ key: KEY, site: 'site-b', gateway: 'gw-2', device: 'ahu1', point: 'supply_air_temp', prior: JSON.stringify(priors[1]) });
      expect(second).toMatchObject({ version: 2, gateway: 'gw-2', readings: 700, createdAt: T0, receivedAt: T0 + 1000 });
      // Gateways publishing at once: one version each.
      const racing = await Promise.all([3, 4, 5].map((g) => service.publish({ key: KEY, site: 'site-c', gateway: `gw-${g}`, device: 'ahu1', point: 'supply_air_temp', prior: priors[0] as DetectorPrior })));
      expect(racing.map((s) => s.version).sort()).toEqual([3, 4, 5]);
      await service.publish({ key: 'tags:air,discharge,sensor,temp|degC', site: 'site-a', gateway: 'gw-1', device: 'ahu1', point: 'sat', prior: priors[1] as DetectorPrior });
      await service.idle(); // the fleet priors are chosen in the background

      const list = await get('/api/v1/priors');
      expect(list.status).toBe(200);
      expect(list.body.items.map((s: Json) => [s.key, s.version])).toEqual([
        [KEY, 5],
        ['tags:air,discharge,sensor,temp|degC', 1],
      ]);
      const one = await get(`/api/v1/priors?key=${encodeURIComponent(KEY)}`);
      expect(one.body.items).toHaveLength(1);

      const newest = await get(`/api/v1/priors/document?key=${encodeURIComponent(KEY)}`);
      expect(newest.status).toBe(200);
      expect(newest.body.summary.version).toBe(5);
      expect(newest.body.prior).toEqual(priors[0]);
      const v2 = await get(`/api/v1/priors/document?key=${encodeURIComponent(KEY)}&version=2`);
      expect(v2.body.prior).toEqual(priors[1]);
      // What the hub serves starts a detector that scores at once.
      const det = detectorFromPrior(v2.body.prior as DetectorPrior, FAST);
      const values = dailySeries(20, 9);
      for (let i = 0; i < values.length; i++) await det.score(T0 + (700 + i) * STEP_MS, values[i] ?? 0);
      expect(det.phase).toBe('scoring');
    });

    it('builds a fleet prior per key from the newest prior of each sharing point, with every member\'s reason, and serves it', async () => {
      // After the publishes above: five points of KEY (gw-1..gw-5), one of the tags key.
      const fleet = await get('/api/v1/priors/fleet');
      expect(fleet.status).toBe(200);
      const items = fleet.body.items as Json[];
      expect(items.map((f) => f.key)).toEqual([KEY, 'tags:air,discharge,sensor,temp|degC']);
      const ahu = items[0] as Json;
      expect(ahu.members).toBe(5);
      expect(ahu.verdicts.filter((v: Json) => v.role === 'chosen')).toHaveLength(1);
      // gw-3..gw-5 raced for versions 3-5 in any order.
      const refs = (ahu.verdicts as Json[]).map((v) => String(v.ref).split('@'));
      expect(refs.map(([who]) => who).sort()).toEqual(['site-a/gw-1', 'site-b/gw-2', 'site-c/gw-3', 'site-c/gw-4', 'site-c/gw-5'].map((g) => `${g}/ahu1/supply_air_temp`));
      expect(refs.map(([, version]) => Number(version)).sort()).toEqual([1, 2, 3, 4, 5]);
      const doc = await get(`/api/v1/priors/fleet/document?key=${encodeURIComponent(KEY)}`);
      expect(doc.status).toBe(200);
      const chosen = (ahu.verdicts as Json[]).find((v) => v.role === 'chosen') as Json;
      expect(chosen.ref).toBe(`${doc.body.summary.source}@${doc.body.summary.sourceVersion}`);
      const source = await get(`/api/v1/priors/document?key=${encodeURIComponent(KEY)}&version=${doc.body.summary.sourceVersion}`);
      expect(doc.body.prior).toEqual(source.body.prior);
      // Republishing what is already chosen does not make a new fleet version; a new version of the chosen point does.
      const before = ahu.version as number;
      const [site, gateway, device, point] = String(doc.body.summary.source).split('/');
      await service.publish({ key: KEY, site: site ?? '', gateway: gateway ?? '', device: device ?? '', point: point ?? '', prior: doc.body.prior as DetectorPrior });
      await service.idle();
      const after = await service.listFleet({ key: KEY });
      expect(after[0]?.version).toBe(before + 1);
      expect(after[0]?.members).toBe(5);
      const missing = await get(`/api/v1/priors/fleet/document?key=${encodeURIComponent('profile:none.yaml#x')}`);
      expect(missing.status).toBe(404);
    });

    it('counts one member per gateway, keeps the newest versions, and answers a request once per version (not again for the version a gateway has)', async () => {
      const key = priorKey({ profile: 'vav-bacnet', point: 'zone_temp' });
      const sent: { to: string; version: number }[] = [];
      const serving = new PriorService(sqlFor(t.store), () => T0 + 2000, async (site, gateway, message) => void sent.push({ to: `${site}/${gateway}`, version: message.version }));
      // One gateway publishing under many invented points is still one member.
      for (let i = 0; i < 9; i++) await serving.publish({ key, site: 'site-x', gateway: 'gw-loud', device: `dev-${Math.max(0, i - 6)}`, point: 'zone_temp', prior: priors[0] as DetectorPrior });
      await serving.publish({ key, site: 'site-y', gateway: 'gw-quiet', device: 'vav1', point: 'zone_temp', prior: priors[1] as DetectorPrior });
      await serving.idle();
      const [fleet] = await serving.listFleet({ key });
      expect(fleet?.members).toBe(2);
      // The newest 5 versions of each sharing point are kept.
      const kept = await sqlFor(t.store).all('SELECT device, COUNT(*) AS n FROM detector_priors WHERE prior_key = ? GROUP BY device ORDER BY device', [key]);
      expect(kept.map((r) => [r.device, Number(r.n)])).toEqual([['dev-0', 5], ['dev-1', 1], ['dev-2', 1], ['vav1', 1]]);
      // A request is answered in the background with the newest fleet version; a gateway that has it gets nothing.
      await serving.requested('site-z', 'gw-new', { v: 1, keys: [key] });
      await serving.idle();
      expect(sent).toEqual([{ to: 'site-z/gw-new', version: fleet?.version }]);
      await serving.requested('site-z', 'gw-unfit', { v: 1, keys: [key], have: [{ key, version: fleet?.version ?? 0 }] });
      await serving.idle();
      expect(sent).toHaveLength(1);
      // Another hub process stored a choice made from newer priors than this process read: this
      // process's rebuild from an older view writes nothing after it.
      await sqlFor(t.store).all('UPDATE fleet_priors SET basis = 1000000 WHERE prior_key = ? AND version = ?', [key, fleet?.version ?? 0]);
      for (const g of ['gw-late-1', 'gw-late-2', 'gw-late-3']) await serving.publish({ key, site: 'site-w', gateway: g, device: 'vav1', point: 'zone_temp', prior: priors[1] as DetectorPrior });
      await serving.idle();
      expect(await serving.listFleet({ key })).toMatchObject([{ version: fleet?.version, members: 2 }]);
      await serving.close();
    });

    it('refuses a malformed prior with the field named, and answers an unknown key with a coded 404', async () => {
      const broken = { ...(priors[0] as DetectorPrior), forecast: { ...(priors[0] as DetectorPrior).forecast, std1: 0 } };
      const err = await service.publish({ key: KEY, site: 's', gateway: 'g', device: 'd', point: 'p', prior: broken }).catch((e: unknown) => e);
      expect(isSwarmgateError(err, 'SWG_ERR_PRIOR_INVALID')).toBe(true);
      expect(String((err as Error).message)).toMatch(/\/forecast\/std1/);
      const missing = await get(`/api/v1/priors/document?key=${encodeURIComponent('profile:none.yaml#x')}`);
      expect(missing.status).toBe(404);
      expect(missing.body.error.code).toBe('SWG_ERR_PRIOR_UNKNOWN');
      const badKey = await get('/api/v1/priors/document?key=nonsense');
      expect(badKey.status).toBe(400);
    });
  });
}
