/**
 * The role matrix: every route of the route table, called by every kind of caller (anonymous,
 * a viewer, a technician and an admin session, and an API token of each role). What the table
 * allows must get past authorization; what it forbids must get 401 (no credentials) or 403.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES, judge, type Role, type RouteId } from '../../hub/api/index.js';
import { PASSWORD, makeApi, seedGateway, seedReview, type TestApi } from './support.js';

type Caller = { name: string; principal?: { via: 'session' | 'token'; role: Role }; headers: Record<string, string> };

const PARAMS: Record<string, string> = { gateway: 'gw-1', device: 'ahu1', point: 'temp', id: 'rv-1', username: 'nobody', file: 'app.js' };
let counter = 0;

function sample(id: RouteId): { url: string; payload?: unknown } {
  const spec = ROUTES[id];
  let url: string = spec.url.replace(/:([a-z]+)/g, (_, name: string) => PARAMS[name] ?? 'x');
  if (id === 'tokens.revoke') url = '/api/v1/tokens/aaaaaaaaaaaa';
  if (id === 'plans.get' || id === 'plans.status') url = url.replace('rv-1', 'plan-o1');
  const payloads: Partial<Record<RouteId, unknown>> = {
    'auth.login': { username: 'viewer', password: PASSWORD },
    'commands.create': { gateway: 'gw-1', action: { kind: 'mode', mode: 'auto' } },
    'reviews.approve': {},
    'reviews.reject': { reason: 'not now' },
    'reviews.modify': { action: { kind: 'write', device: 'ahu1', point: 'setpoint', value: 20 } },
    'objectives.create': { id: 'o1', kind: 'reduce-energy', site: 's1', targetPct: 5, startMs: Date.now() },
    'plans.status': { status: 'cancelled' },
    'workOrders.close': { note: 'done' },
    'users.create': { username: `user-${++counter}`, role: 'viewer', password: PASSWORD },
    'users.update': { disabled: true },
    'tokens.create': { name: 'matrix', role: 'viewer' },
  };
  return { url, payload: payloads[id] };
}

describe('role matrix over the route table', () => {
  let t: TestApi;
  let base = '';
  const callers: Caller[] = [];

  beforeAll(async () => {
    t = await makeApi();
    await seedGateway(t);
    await seedReview(t);
    callers.push({ name: 'anonymous', headers: {} });
    for (const role of ['viewer', 'technician', 'admin'] as const) {
      callers.push({ name: `${role} session`, principal: { via: 'session', role }, headers: { cookie: t.cookies[role] } });
      callers.push({ name: `${role} token`, principal: { via: 'token', role }, headers: { authorization: t.tokens[role] } });
    }
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    const a = t.app.server.address();
    base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  });
  afterAll(() => t.close());

  it('registers every route of the table', () => {
    for (const [id, spec] of Object.entries(ROUTES)) expect(t.app.hasRoute({ method: spec.method, url: spec.url }), id).toBe(true);
  });

  // Logout last: it ends the sessions the other routes use.
  const ids = (Object.keys(ROUTES) as RouteId[]).sort((a, b) => Number(a === 'auth.logout') - Number(b === 'auth.logout'));
  for (const id of ids) {
    it(`${ROUTES[id].method} ${ROUTES[id].url} (${id})`, async () => {
      const rows: string[] = [];
      for (const caller of callers) {
        const expected = judge(ROUTES[id].access, caller.principal);
        const { url, payload } = sample(id);
        let status: number;
        if (id === 'stream') {
          // SSE never ends by itself: read the status over real HTTP, then hang up.
          const abort = new AbortController();
          const res = await fetch(`${base}${url}`, { headers: caller.headers, signal: abort.signal });
          status = res.status;
          abort.abort();
        } else {
          const res = await t.app.inject({ method: ROUTES[id].method, url, headers: caller.headers, ...(payload === undefined ? {} : { payload: payload as object }) });
          status = res.statusCode;
          if (status === 401 || status === 403) expect(res.json<{ error: { code: string } }>().error.code).toMatch(/^SWG_ERR_AUTH_/);
        }
        const ok = expected === 'ok' ? status !== 401 && status !== 403 && status < 500 : status === (expected === 'unauthenticated' ? 401 : 403);
        rows.push(`${caller.name}: expected ${expected}, got ${status}`);
        expect(ok, rows.join('\n')).toBe(true);
      }
    });
  }
});
