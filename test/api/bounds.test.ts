/**
 * Every numeric query and path parameter of the web API is bounded in its schema, so a number the
 * stores cannot hold (9223372036854775807, 1e300, a negative offset) is a 400 naming the parameter,
 * never a 500 from the database. The parameters come from the OpenAPI document, so a route added
 * later is checked without touching this file. Runs on SQLite and, when it is up, PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../hub/api/index.js';
import { API_STORES, makeApi, seedGateway, seedReview, type TestApi } from './support.js';


const PATH_VALUES: Record<string, string> = { gateway: 'gw-1', device: 'ahu1', point: 'temp', id: 'rv-1', username: 'viewer', file: 'app.js' };
const OUT_OF_RANGE = ['9223372036854775807', '-9223372036854775808', '1e300', '-1'];

interface NumericParam {
  readonly method: string;
  readonly url: string;
  readonly in: 'query' | 'path';
  readonly name: string;
  readonly schema: { type: string; minimum?: number; maximum?: number; exclusiveMinimum?: number; exclusiveMaximum?: number };
}

type OpenApi = { paths: Record<string, Record<string, { parameters?: { in: string; name: string; schema: NumericParam['schema'] }[] }>> };

function numericParams(doc: OpenApi): NumericParam[] {
  const out: NumericParam[] = [];
  for (const [url, methods] of Object.entries(doc.paths)) {
    if (!url.startsWith('/api/')) continue;
    for (const [method, op] of Object.entries(methods)) {
      for (const p of op.parameters ?? []) {
        if ((p.in === 'query' || p.in === 'path') && (p.schema.type === 'integer' || p.schema.type === 'number')) {
          out.push({ method: method.toUpperCase(), url, in: p.in, name: p.name, schema: p.schema });
        }
      }
    }
  }
  return out;
}

/** Query parameters a route requires besides the numeric one under test (valid values). */
const REQUIRED_QUERY: Readonly<Record<string, string>> = {
  '/api/v1/priors/document': `key=${encodeURIComponent('tags:discharge,air,temp|degC')}&`,
  '/api/v1/priors/fleet/document': `key=${encodeURIComponent('tags:discharge,air,temp|degC')}&`,
};

function urlWith(param: NumericParam, value: string): string {
  const path = param.url.replace(/\{([A-Za-z]+)\}/g, (_, name: string) => (name === param.name ? encodeURIComponent(value) : (PATH_VALUES[name] ?? 'x')));
  return param.in === 'query' ? `${path}?${REQUIRED_QUERY[param.url] ?? ''}${param.name}=${encodeURIComponent(value)}` : path;
}

function boundsSuite(name: string, open: () => Promise<{ t: TestApi; cleanup: () => Promise<void> }>, enabled = true): void {
  describe.skipIf(!enabled)(`numeric parameters are bounded (${name})`, () => {
    let t: TestApi;
    let cleanup: () => Promise<void>;
    let params: NumericParam[];
    beforeAll(async () => {
      ({ t, cleanup } = await open());
      await seedGateway(t);
      await seedReview(t);
      params = numericParams(t.app.swagger() as unknown as OpenApi);
    });
    afterAll(async () => cleanup?.());

    it('finds the numeric parameters of the API (offset, limit, time ranges, ...)', () => {
      const names = params.map((p) => `${p.url}?${p.name}`);
      expect(names).toEqual(expect.arrayContaining(['/api/v1/reviews?offset', '/api/v1/reviews?limit', '/api/v1/events?from', '/api/v1/events?to', '/api/v1/audit?before']));
    });

    it('declares a minimum and a maximum for every one of them', () => {
      const unbounded = params.filter((p) => (p.schema.minimum ?? p.schema.exclusiveMinimum) === undefined || (p.schema.maximum ?? p.schema.exclusiveMaximum) === undefined);
      expect(unbounded.map((p) => `${p.method} ${p.url} ${p.name}`)).toEqual([]);
    });

    it('answers 400 naming the parameter for values out of range, never 500', async () => {
      const failures: string[] = [];
      for (const p of params) {
        for (const value of OUT_OF_RANGE) {
          const res = await t.app.inject({ method: p.method as 'GET', url: urlWith(p, value), headers: { cookie: t.cookies.admin } });
          const fields = res.statusCode === 400 ? (res.json<{ error: { fields?: { path: string }[] } }>().error.fields ?? []).map((f) => f.path) : [];
          const where = `${p.in === 'query' ? 'querystring' : 'params'}.${p.name}`;
          if (res.statusCode !== 400 || !fields.includes(where)) failures.push(`${p.method} ${urlWith(p, value)} -> ${res.statusCode} ${res.body.slice(0, 160)}`);
        }
      }
      expect(failures).toEqual([]);
    });

    it('GET /api/v1/reviews?offset=9223372036854775807 is a 400 on querystring.offset', async () => {
      const res = await t.app.inject({ method: 'GET', url: '/api/v1/reviews?offset=9223372036854775807', headers: { cookie: t.cookies.viewer } });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: { code: 'SWG_ERR_API_VALIDATION', fields: [{ path: 'querystring.offset' }] } });
    });

    it('still serves in-range values at the bounds', async () => {
      const viewer = { cookie: t.cookies.viewer };
      expect((await t.app.inject({ method: 'GET', url: '/api/v1/reviews?offset=1000000&limit=500', headers: viewer })).json()).toEqual({ items: [] });
      const now = Date.now();
      const history = await t.app.inject({ method: 'GET', url: `/api/v1/gateways/gw-1/points/ahu1/temp/history?from=0&to=${now}`, headers: viewer });
      expect(history.statusCode).toBe(200);
      expect((await t.app.inject({ method: 'GET', url: '/api/v1/events?from=0&to=8640000000000000', headers: viewer })).statusCode).toBe(200);
      expect((await t.app.inject({ method: 'GET', url: `/api/v1/audit?before=${Number.MAX_SAFE_INTEGER}`, headers: { cookie: t.cookies.admin } })).statusCode).toBe(200);
    });

    it('bounds the numbers of the API\'s own bodies too (command expiry, objective start)', async () => {
      const tech = { cookie: t.cookies.technician };
      const command = await t.app.inject({ method: 'POST', url: '/api/v1/commands', headers: tech, payload: { gateway: 'gw-1', action: { kind: 'mode', mode: 'auto' }, expiresAt: 1e300 } });
      expect(command.statusCode).toBe(400);
      expect(command.json()).toMatchObject({ error: { fields: [{ path: 'body.expiresAt' }] } });
      const objective = await t.app.inject({ method: 'POST', url: '/api/v1/objectives', headers: tech, payload: { id: 'o-big', kind: 'reduce-energy', site: 's1', targetPct: 5, startMs: 1e300 } });
      expect(objective.statusCode).toBe(400);
      expect(objective.json()).toMatchObject({ error: { fields: [{ path: 'body.startMs' }] } });
    });
  });
}

for (const s of API_STORES) boundsSuite(s.name, s.open, s.enabled);

// The route table is what the guard checks; every route with a query string is in the document.
it('every route of the table is in the OpenAPI document the suite reads', async () => {
  const t = await makeApi();
  try {
    const doc = t.app.swagger() as unknown as OpenApi;
    const missing = Object.values(ROUTES).filter((r) => !doc.paths[r.url.replace(/:([A-Za-z]+)/g, '{$1}')]);
    expect(missing.map((r) => r.url)).toEqual([]);
  } finally {
    await t.close();
  }
});
