/**
 * GET /api/v1/gateways/{gw}/gaps pages with a cursor (ts, then the record's key), not ts alone
 * (review L1): one outbox drop writes one gap record per boot, all with the same ts, and a page
 * boundary between two of them lost the rest from every later page. Only the page is read from
 * the store, not every gap of the gateway.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { HubStore } from '../../hub/store/types.js';
import { SqliteStore } from '../../hub/store/sqlite/sqlite.js';
import { featureMigrations } from '../../hub/features.js';
import { tempDir } from '../support/tmp.js';
import { cookieOf, login, makeApi, seedGateway, type TestApi } from './support.js';

const dir = tempDir('swg-api-gaps-');
let t: TestApi;
let sqlite: SqliteStore;
let cookie: string;
let fullLists = 0;
const TS = Date.now();

beforeAll(async () => {
  sqlite = SqliteStore.open({ path: `${dir.path}/hub.db`, migrations: featureMigrations('sqlite') });
  // Counts reads of every gap of a gateway: the API must ask for its page only.
  const store = new Proxy(sqlite, {
    get(target, prop, receiver) {
      if (prop === 'gaps') fullLists++;
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as HubStore;
  t = await makeApi({ store });
  await seedGateway(t);
  // One drop on a gateway that rebooted twice during the outage: three boots, one record each, one ts.
  for (const boot of ['boot-aaaa1', 'boot-bbbb2', 'boot-cccc3']) {
    await t.store.insertGap({ v: 1, gateway: 'gw-1', bootId: boot, fromSeq: 0, toSeq: 9, readingsDropped: 100, fromTs: TS - 60_000, toTs: TS - 1000, reason: 'outbox-size', ts: TS });
  }
  await t.store.insertGap({ v: 1, gateway: 'gw-1', bootId: 'boot-aaaa1', fromSeq: 0, toSeq: 4, readingsDropped: 50, fromTs: TS - 120_000, toTs: TS - 100_000, reason: 'outbox-age', ts: TS - 90_000 });
  cookie = cookieOf(await login(t.app, 'viewer'));
});

afterAll(async () => {
  await t.close();
  await sqlite.close();
  dir.remove();
});

async function page(query: string): Promise<{ status: number; gaps: { bootId: string; ts: number }[]; next?: string }> {
  const res = await t.app.inject({ method: 'GET', url: `/api/v1/gateways/gw-1/gaps${query}`, headers: { cookie } });
  return { status: res.statusCode, ...res.json<{ gaps: { bootId: string; ts: number }[]; next?: string }>() };
}

it('paging through the gaps returns every gap once, newest first, whatever the page size', async () => {
  const expected = ['boot-cccc3', 'boot-bbbb2', 'boot-aaaa1', 'boot-aaaa1'];
  for (const limit of [1, 2, 3]) {
    const seen: string[] = [];
    let before: string | undefined;
    for (let n = 0; n < 10; n++) {
      const body = await page(`?limit=${limit}${before === undefined ? '' : `&before=${before}`}`);
      expect(body.status).toBe(200);
      seen.push(...body.gaps.map((g) => g.bootId));
      if (body.next === undefined) break;
      before = body.next;
    }
    expect(seen, `limit ${limit}`).toEqual(expected);
  }
  expect(fullLists).toBe(0);
});

it('says where the next page starts as <ts>.<fromSeq>.<toSeq>.<bootId>; a plain time as before still works', async () => {
  expect((await page('?limit=2')).next).toBe(`${TS}.0.9.boot-bbbb2`);
  expect((await page(`?before=${TS}`)).gaps.map((g) => g.ts)).toEqual([TS - 90_000]);
});

it('refuses a before that is no cursor, naming the parameter', async () => {
  for (const before of ['abc', `${TS}.0.9`, `${TS}.0.9.boot/x`, '99999999999999999.0.9.boot-aaaa1', `${TS}.0.99999999999999999.boot-aaaa1`]) {
    const res = await t.app.inject({ method: 'GET', url: `/api/v1/gateways/gw-1/gaps?before=${encodeURIComponent(before)}`, headers: { cookie } });
    expect(res.statusCode, before).toBe(400);
    expect(res.json<{ error: { code: string; fields?: { path: string }[] } }>().error, before).toMatchObject({ code: 'SWG_ERR_API_VALIDATION' });
  }
});
