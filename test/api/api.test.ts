/** Happy paths, validation errors and the error format of every feature of the web API. */
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlFor } from '../../hub/db/sql.js';
import { WorkOrderService } from '../../hub/work-orders/service.js';
import { Registry } from 'prom-client';
import { ROUTES } from '../../hub/api/index.js';
import { PASSWORD, cookieOf, login, makeApi, seedGateway, seedReview, type TestApi } from './support.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('web API', () => {
  let t: TestApi;
  const as = (role: 'viewer' | 'technician' | 'admin') => ({ cookie: t.cookies[role] });
  const call = async (method: string, url: string, headers: Record<string, string>, payload?: unknown) => {
    const res = await t.app.inject({ method: method as 'GET', url, headers, ...(payload === undefined ? {} : { payload: payload as object }) });
    return { status: res.statusCode, body: res.headers['content-type']?.toString().includes('json') ? res.json<Json>() : ({ text: res.body } as Json), headers: res.headers };
  };

  beforeAll(async () => {
    t = await makeApi();
    await seedGateway(t);
    await seedGateway(t, 'gw-2', 'site-b');
  });
  afterAll(() => t.close());

  describe('auth', () => {
    it('sets an HttpOnly SameSite=Strict cookie, answers me, and logout ends the session', async () => {
      const res = await login(t.app, 'technician');
      expect(res.statusCode).toBe(200);
      const setCookie = String(res.headers['set-cookie']);
      expect(setCookie).toMatch(/HttpOnly/);
      expect(setCookie).toMatch(/SameSite=Strict/);
      expect(setCookie).not.toMatch(/Secure/); // plain http without a proxy
      const cookie = cookieOf(res);
      expect((await call('GET', '/api/v1/auth/me', { cookie })).body).toEqual({ name: 'technician', role: 'technician', via: 'session' });
      expect((await call('POST', '/api/v1/auth/logout', { cookie })).status).toBe(200);
      expect((await call('GET', '/api/v1/auth/me', { cookie })).status).toBe(401);
    });

    it('marks the cookie Secure behind an https proxy when trusted', async () => {
      const t2 = await makeApi({ config: { trustProxy: true } });
      try {
        const res = await t2.app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: { 'x-forwarded-proto': 'https' }, payload: { username: 'viewer', password: PASSWORD } });
        expect(String(res.headers['set-cookie'])).toMatch(/; Secure/);
      } finally {
        await t2.close();
      }
    });

    it('refuses a wrong password with 401 and rate-limits per address and user with 429 + Retry-After', async () => {
      const bad = await call('POST', '/api/v1/auth/login', {}, { username: 'viewer', password: 'wrong-password' });
      expect(bad.status).toBe(401);
      expect(bad.body.error).toMatchObject({ code: 'SWG_ERR_AUTH_FAILED' });
      expect(bad.body.error.hint).toBeTruthy();
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await call('POST', '/api/v1/auth/login', {}, { username: 'viewer', password: 'wrong-password' })).status);
      expect(statuses.slice(0, 4)).toEqual([401, 401, 401, 401]);
      const limited = await call('POST', '/api/v1/auth/login', {}, { username: 'viewer', password: PASSWORD });
      expect(limited.status).toBe(429);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      expect(limited.body.error.code).toBe('SWG_ERR_AUTH_RATE_LIMITED');
      // Another user from the same address is not affected.
      expect((await login(t.app, 'admin')).statusCode).toBe(200);
    });

    it('accepts API tokens, refuses unknown and revoked ones', async () => {
      expect((await call('GET', '/api/v1/auth/me', { authorization: t.tokens.viewer })).body).toMatchObject({ role: 'viewer', via: 'token' });
      expect((await call('GET', '/api/v1/gateways', { authorization: 'Bearer swg_aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb' })).status).toBe(401);
      const created = await call('POST', '/api/v1/tokens', as('admin'), { name: 'cmms', role: 'technician' });
      expect(created.status).toBe(201);
      const token = `Bearer ${created.body.token as string}`;
      expect((await call('GET', '/api/v1/gateways', { authorization: token })).status).toBe(200);
      const list = await call('GET', '/api/v1/tokens', as('admin'));
      expect(JSON.stringify(list.body)).not.toContain(created.body.token as string);
      expect((await call('DELETE', `/api/v1/tokens/${created.body.record.id as string}`, as('admin'))).body.revokedAt).toBeGreaterThan(0);
      expect((await call('GET', '/api/v1/gateways', { authorization: token })).status).toBe(401);
    });

    it('an admin API token reads the audit log; account management asks for a session, saying so', async () => {
      expect((await call('GET', '/api/v1/audit?limit=5', { authorization: t.tokens.admin })).status).toBe(200);
      const users = await call('GET', '/api/v1/users', { authorization: t.tokens.admin });
      expect(users.status).toBe(403);
      expect(users.body.error.message).toMatch(/^users\.list is for a logged-in session only, not an API token/);
      expect(users.body.error.hint).toMatch(/auth\/login/);
      expect((await call('GET', '/api/v1/audit', { authorization: t.tokens.technician })).body.error.message).toBe('role technician (API token) may not call audit.list');
    });
  });

  describe('fleet', () => {
    it('lists gateways with status, health and last seen, filters by site, 404 for an unknown one', async () => {
      const all = await call('GET', '/api/v1/gateways', as('viewer'));
      expect(all.body.gateways).toHaveLength(2);
      expect(all.body.gateways[0]).toMatchObject({ gateway: 'gw-1', status: 'online', version: '1.2.3', health: { rssBytes: 50_000_000 } });
      expect((await call('GET', '/api/v1/gateways?site=site-b', as('viewer'))).body.gateways.map((g: Json) => g.gateway)).toEqual(['gw-2']);
      const missing = await call('GET', '/api/v1/gateways/nope', as('viewer'));
      expect(missing.status).toBe(404);
      expect(missing.body.error.code).toBe('SWG_ERR_GATEWAY_UNKNOWN');
    });

    it('serves latest values and history raw or downsampled', async () => {
      const latest = await call('GET', '/api/v1/gateways/gw-1/points', as('viewer'));
      expect(latest.body.points[0]).toMatchObject({ device: 'ahu1', point: 'temp', quality: 'good' });
      const raw = await call('GET', '/api/v1/gateways/gw-1/points/ahu1/temp/history?bucketMs=0', as('viewer'));
      expect(raw.body.bucketMs).toBe(0);
      expect(raw.body.samples).toHaveLength(60);
      const now = Date.now();
      const bucketed = await call('GET', `/api/v1/gateways/gw-1/points/ahu1/temp/history?from=${now - 2 * 3_600_000}&to=${now}&bucketMs=600000`, as('viewer'));
      expect(bucketed.body.bucketMs).toBe(600_000);
      expect(bucketed.body.buckets.length).toBeGreaterThanOrEqual(6);
      expect(bucketed.body.buckets.reduce((s: number, b: Json) => s + (b.count as number), 0)).toBe(60);
      const auto = await call('GET', `/api/v1/gateways/gw-1/points/ahu1/temp/history?from=${now - 30 * 86_400_000}&to=${now}`, as('viewer'));
      expect(auto.body.bucketMs).toBeGreaterThanOrEqual(3_600_000);
    });

    it('reports bad query parameters field by field', async () => {
      const res = await call('GET', '/api/v1/gateways/gw-1/points/ahu1/temp/history?from=abc&bucketMs=-5&extra=1', as('viewer'));
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('SWG_ERR_API_VALIDATION');
      const paths = (res.body.error.fields as Json[]).map((f) => f.path);
      expect(paths).toEqual(expect.arrayContaining(['querystring.from', 'querystring.bucketMs', 'querystring.extra']));
      expect((res.body.error.fields as Json[]).find((f) => f.path === 'querystring.extra')?.message).toBe('is not allowed here');
      // A misspelt parameter names the one meant.
      const typo = await call('GET', '/api/v1/gateways/gw-1/points/ahu1/temp/history?bucketMS=600000', as('viewer'));
      expect(typo.status).toBe(400);
      expect(typo.body.error.fields).toEqual([{ path: 'querystring.bucketMS', message: 'is not allowed here; did you mean "bucketMs"?' }]);
    });

    it('filters events', async () => {
      await t.store.insertEvent({ v: 1, id: 'ev-00000001', gateway: 'gw-1', ts: Date.now(), kind: 'anomaly', severity: 'warning', message: 'temp drift' }, 'site-a');
      await t.store.insertEvent({ v: 1, id: 'ev-00000002', gateway: 'gw-2', ts: Date.now(), kind: 'system', severity: 'info', message: 'boot' }, 'site-b');
      const res = await call('GET', '/api/v1/events?kind=anomaly', as('viewer'));
      expect(res.body.events.map((e: Json) => e.id)).toEqual(['ev-00000001']);
      const fatal = await call('GET', '/api/v1/events?severity=fatal', as('viewer'));
      expect(fatal.status).toBe(400);
      // A choice among fixed values names them.
      expect(fatal.body.error.fields).toEqual([{ path: 'querystring.severity', message: 'must be one of: info, warning, critical' }]);
    });

    it("lists a gateway's data gaps, newest first; 404 for an unknown gateway", async () => {
      const gap = (fromSeq: number, ts: number) => ({ v: 1 as const, gateway: 'gw-1', bootId: 'boot-gaps-1', fromSeq, toSeq: fromSeq + 9, readingsDropped: 190, fromTs: ts - 60_000, toTs: ts, reason: 'outbox-age' as const, ts });
      const now = Date.now();
      await t.store.insertGap(gap(27, now - 3_600_000));
      await t.store.insertGap(gap(65, now));
      const res = await call('GET', '/api/v1/gateways/gw-1/gaps', as('viewer'));
      expect(res.status).toBe(200);
      expect(res.body.gaps.map((g: Json) => [g.fromSeq, g.toSeq, g.readingsDropped, g.reason])).toEqual([
        [65, 74, 190, 'outbox-age'],
        [27, 36, 190, 'outbox-age'],
      ]);
      expect(res.body.next).toBeUndefined();
      // Paged: a cut page says where the next one starts.
      const first = await call('GET', '/api/v1/gateways/gw-1/gaps?limit=1', as('viewer'));
      expect([first.body.gaps.map((g: Json) => g.fromSeq), first.body.next]).toEqual([[65], `${now}.65.74.boot-gaps-1`]);
      const second = await call('GET', `/api/v1/gateways/gw-1/gaps?limit=1&before=${String(first.body.next)}`, as('viewer'));
      expect([second.body.gaps.map((g: Json) => g.fromSeq), second.body.next]).toEqual([[27], undefined]);
      // A plain time as `before` (what `next` was before it became a cursor) still pages by time.
      const byTime = await call('GET', `/api/v1/gateways/gw-1/gaps?before=${now}`, as('viewer'));
      expect(byTime.body.gaps.map((g: Json) => g.fromSeq)).toEqual([27]);
      expect((await call('GET', '/api/v1/gateways/nope/gaps', as('viewer'))).status).toBe(404);
    });
  });

  describe('commands', () => {
    it('creates a command through the command service and reads its status', async () => {
      const res = await call('POST', '/api/v1/commands', as('technician'), { gateway: 'gw-1', action: { kind: 'write', device: 'ahu1', point: 'setpoint', value: 21.5 } });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ gateway: 'gw-1', site: 'site-a', status: 'pending', command: { origin: 'user:technician' } });
      expect(t.published.at(-1)).toMatchObject({ topic: expect.stringContaining('gw-1') as string, payload: { id: res.body.id as string } });
      expect((await call('GET', `/api/v1/commands/${res.body.id as string}`, as('viewer'))).body.status).toBe('pending');
      expect((await call('GET', '/api/v1/commands?gateway=gw-1', as('viewer'))).body.commands.length).toBeGreaterThan(0);
      expect((await call('GET', '/api/v1/commands?status=pending&status=applied', as('viewer'))).status).toBe(200);
      expect((await call('GET', '/api/v1/commands?status=applied', as('viewer'))).status).toBe(200);
      expect((await call('GET', '/api/v1/commands?status=lost', as('viewer'))).body.error.fields[0].path).toBe('querystring.status');
      expect((await call('GET', '/api/v1/commands/nope', as('viewer'))).status).toBe(404);
    });

    it('answers 400 with field paths for an invalid body and 404 for an unknown gateway', async () => {
      const res = await call('POST', '/api/v1/commands', as('technician'), { action: { kind: 'write', device: 'ahu1' }, color: 'red' });
      expect(res.status).toBe(400);
      const paths = (res.body.error.fields as Json[]).map((f) => f.path);
      expect(paths).toEqual(expect.arrayContaining(['body.gateway', 'body.color']));
      expect(paths.some((p) => p.startsWith('body.action'))).toBe(true);
      expect((await call('POST', '/api/v1/commands', as('technician'), { gateway: 'ghost', action: { kind: 'write', device: 'ahu1', point: 'setpoint', value: 21 } })).body.error.code).toBe('SWG_ERR_GATEWAY_UNKNOWN');
      // A mode change: on the wire, but no gateway of this release applies one; refused now, not by the gateway later.
      const mode = await call('POST', '/api/v1/commands', as('technician'), { gateway: 'gw-1', action: { kind: 'mode', mode: 'maintenance' } });
      expect(mode.status).toBe(400);
      expect(mode.body.error).toMatchObject({ code: 'SWG_ERR_COMMAND_INVALID', fields: [{ path: 'body.action.kind', message: expect.stringContaining('cannot apply a mode change') as string }] });
    });

    it('refuses a bad query naming the parameter: history from after to, gaps limit, unknown stream topics', async () => {
      const history = await call('GET', '/api/v1/gateways/gw-1/points/ahu1/temp/history?from=2000&to=1000', as('viewer'));
      expect(history.status).toBe(400);
      expect(history.body.error).toMatchObject({ code: 'SWG_ERR_API_VALIDATION', fields: [{ path: 'querystring.from', message: expect.stringContaining('is after to') as string }] });
      const gaps = await call('GET', '/api/v1/gateways/gw-1/gaps?limit=-1', as('viewer'));
      expect(gaps.status).toBe(400);
      expect(gaps.body.error.fields[0].path).toBe('querystring.limit');
      expect((await call('GET', '/api/v1/gateways/gw-1/gaps?limit=5', as('viewer'))).status).toBe(200);
      // Integers as written: neither truncated nor read as hex.
      for (const limit of ['1.5', '0x10', '1e400']) {
        const res = await call('GET', `/api/v1/reviews?limit=${limit}`, as('viewer'));
        expect(res.status, `limit=${limit}`).toBe(400);
        expect(res.body.error.fields[0].path).toBe('querystring.limit');
      }
      expect((await call('GET', '/api/v1/reviews?limit=2', as('viewer'))).status).toBe(200);
      const stream = await call('GET', '/api/v1/stream?topics=review,bogus', as('viewer'));
      expect(stream.status).toBe(400);
      expect(stream.body.error.fields).toEqual([{ path: 'querystring.topics', message: expect.stringMatching(/^"bogus" is not a topic \(topics: review, .*\)$/) as string }]);
      expect((await call('GET', '/api/v1/stream?topics=reviews', as('viewer'))).body.error.fields[0].message).toMatch(/did you mean "review"\?/);
    });

    it('explains a bad action at the field that is wrong, not as "expected union value"', async () => {
      const fields = async (action: unknown, raw?: string): Promise<Json[]> => {
        const headers = { ...as('technician'), 'content-type': 'application/json' };
        const res = await t.app.inject({ method: 'POST', url: '/api/v1/commands', headers, payload: raw ?? JSON.stringify({ gateway: 'gw-1', action }) });
        expect(res.statusCode).toBe(400);
        return res.json<Json>().error.fields as Json[];
      };
      expect(await fields({ kind: 'mode', mode: 'turbo' })).toEqual([{ path: 'body.action.mode', message: 'must be one of: auto, manual, maintenance' }]);
      expect(await fields(undefined, '{"gateway":"gw-1","action":{"kind":"write","device":"ahu1","point":"setpoint","value":1e400}}')).toEqual([
        { path: 'body.action.value', message: expect.stringMatching(/^expected a number from -1e\+?\d+ to 1e\+?\d+, true or false, a string .* or null; got Infinity$/) as string },
      ]);
      expect((await fields({ kind: 'write', device: 'ahu1', point: 'setpoint', value: 'a\u0000b' }))[0]).toMatchObject({ path: 'body.action.value', message: expect.stringContaining('without NUL characters') as string });
      expect((await fields({ kind: 'write', device: 'ahu1', point: 'setpoint' }))[0]).toMatchObject({ path: 'body.action.value' });
      expect(await fields({ kind: 'reboot' })).toEqual([{ path: 'body.action.kind', message: 'must be one of: write, mode; got "reboot"' }]);
      const past = await call('POST', '/api/v1/commands', as('technician'), { gateway: 'gw-1', action: { kind: 'mode', mode: 'auto' }, expiresAt: 1 });
      expect(past.status).toBe(400);
      expect(past.body.error.fields).toEqual([{ path: 'body.expiresAt', message: expect.stringContaining('1970-01-01T00:00:00.001Z is in the past') as string }]);
      expect(await fields({ device: 'ahu1' })).toEqual([{ path: 'body.action.kind', message: 'must be one of: write, mode; got nothing' }]);
    });
  });

  describe('review queue', () => {
    beforeAll(async () => {
      await seedReview(t, 'rv-low', 10, 'gw-1', 20);
      await seedReview(t, 'rv-high', 90, 'gw-1', 21);
      await seedReview(t, 'rv-mid', 50, 'gw-2');
      await seedReview(t, 'rv-bare', 5, 'gw-1', 22);
    });


    it('lists by priority, filters, and shows the evidence', async () => {
      const list = await call('GET', '/api/v1/reviews?state=pending', as('viewer'));
      expect(list.body.items.map((i: Json) => i.id)).toEqual(['rv-high', 'rv-mid', 'rv-low', 'rv-bare']);
      expect(list.body.items[0].evidence).toBeUndefined(); // lists stay small: evidence is in the detail
      expect((await call('GET', '/api/v1/reviews?minPriority=40&limit=1', as('viewer'))).body.items.map((i: Json) => i.id)).toEqual(['rv-high']);
      const item = await call('GET', '/api/v1/reviews/rv-high', as('viewer'));
      expect(item.body.evidence.telemetry[0].samples).toHaveLength(2);
      // Gzipped for a client that accepts it (a phone on a cellular link), plain otherwise.
      const zipped = await t.app.inject({ method: 'GET', url: '/api/v1/reviews?state=pending', headers: { ...as('viewer'), 'accept-encoding': 'gzip' } });
      expect(zipped.headers['content-encoding']).toBe('gzip');
      expect(JSON.parse(gunzipSync(zipped.rawPayload).toString('utf8'))).toEqual(list.body);
      expect((await t.app.inject({ method: 'GET', url: '/api/v1/reviews?state=pending', headers: as('viewer') })).headers['content-encoding']).toBeUndefined();
      expect((await call('GET', '/api/v1/reviews/nope', as('viewer'))).body.error.code).toBe('SWG_ERR_REVIEW_UNKNOWN');
    });

    it('approves without a body too (curl -X POST)', async () => {
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/reviews/rv-bare/approve', headers: as('technician') });
      expect(res.statusCode).toBe(200);
      expect(res.json<Json>().state).toBe('approved');
    });

    it('approves (the command goes out), and a second decision is a 409 conflict', async () => {
      const ok = await call('POST', '/api/v1/reviews/rv-high/approve', as('technician'), { note: 'go' });
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({ state: 'approved', decidedBy: 'technician' });
      await t.review.idle();
      const after = await call('GET', '/api/v1/reviews/rv-high', as('viewer'));
      expect(after.body).toMatchObject({ state: 'executed', commandId: expect.any(String) as string });
      expect(t.published.some((p) => (p.payload as Json).id === after.body.commandId)).toBe(true);
      const again = await call('POST', '/api/v1/reviews/rv-high/reject', as('admin'), { reason: 'too late' });
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe('SWG_ERR_REVIEW_CONFLICT');
      const audit = await call('GET', '/api/v1/reviews/rv-high/audit', as('viewer'));
      expect(audit.body.entries.map((e: Json) => e.action)).toEqual(expect.arrayContaining(['submit', 'approve']));
    });

    it('rejects only with a reason, and modifies with another setpoint', async () => {
      const noReason = await call('POST', '/api/v1/reviews/rv-low/reject', as('technician'), {});
      expect(noReason.status).toBe(400);
      expect(noReason.body.error.fields).toEqual([{ path: 'body.reason', message: 'is required' }]);
      // A NUL no store could keep is a 400 naming the field, not a database error.
      const nul = await call('POST', '/api/v1/reviews/rv-low/reject', as('technician'), { reason: 'sensor\u0000swap' });
      expect(nul.status).toBe(400);
      expect(nul.body.error.fields).toEqual([{ path: 'body.reason', message: 'text must not contain NUL characters (U+0000)' }]);
      expect((await call('POST', '/api/v1/reviews/rv-low/reject', as('technician'), { reason: 'sensor is being replaced' })).body).toMatchObject({ state: 'rejected', reason: 'sensor is being replaced' });
      const mod = await call('POST', '/api/v1/reviews/rv-mid/modify', as('technician'), { action: { kind: 'write', device: 'ahu1', point: 'setpoint', value: 22 } });
      expect(mod.body).toMatchObject({ state: 'approved', modifiedAction: { value: 22 } });
    });
  });

  describe('work orders', () => {
    it('lists open work orders most urgent first; a technician closes one with a note, once', async () => {
      const orders = new WorkOrderService(sqlFor(t.store));
      const base = { site: 'site-a', gateway: 'gw-1', sourceAgent: 'equipment-health', problem: 'due', task: 'service' };
      const normal = await orders.raise({ ...base, equipment: 'ahu-1', urgency: 'normal', dedupeKey: 'k-ahu' });
      const high = await orders.raise({ ...base, equipment: 'compressor-1', urgency: 'high', dedupeKey: 'k-comp' });
      const list = await call('GET', '/api/v1/work-orders', as('viewer'));
      expect(list.body.items.map((o: Json) => o.id)).toEqual([high.order.id, normal.order.id]);
      expect((await call('POST', `/api/v1/work-orders/${high.order.id}/close`, as('viewer'), { note: 'x' })).status).toBe(403);
      expect((await call('POST', `/api/v1/work-orders/${high.order.id}/close`, as('technician'), {})).body.error.fields[0].path).toBe('body.note');
      const closed = await call('POST', `/api/v1/work-orders/${high.order.id}/close`, as('technician'), { note: 'contactor replaced' });
      expect(closed.body).toMatchObject({ state: 'closed', closedBy: 'technician', note: 'contactor replaced' });
      const again = await call('POST', `/api/v1/work-orders/${high.order.id}/close`, as('technician'), { note: 'again' });
      expect([again.status, again.body.error.code]).toEqual([409, 'SWG_ERR_WORK_ORDER_CLOSED']);
      expect((await call('POST', '/api/v1/work-orders/wo-nope/close', as('technician'), { note: 'x' })).status).toBe(404);
      expect((await call('GET', '/api/v1/work-orders?state=closed', as('viewer'))).body.items.map((o: Json) => o.id)).toEqual([high.order.id]);
    });
  });

  describe('planning and agents', () => {
    it('plans an objective, lists it, approves it once', async () => {
      const res = await call('POST', '/api/v1/objectives', as('technician'), { id: 'cut-10', kind: 'reduce-energy', site: 's1', targetPct: 10, startMs: Date.now() });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ id: 'plan-cut-10', site: 's1', status: 'proposed', createdBy: 'technician' });
      expect(Array.isArray(res.body.plan.steps)).toBe(true);
      expect((await call('GET', '/api/v1/plans', as('viewer'))).body.plans.map((p: Json) => p.id)).toContain('plan-cut-10');
      expect((await call('POST', '/api/v1/plans/plan-cut-10/status', as('admin'), { status: 'approved' })).body.status).toBe('approved');
      expect((await call('POST', '/api/v1/plans/plan-cut-10/status', as('admin'), { status: 'cancelled' })).status).toBe(409);
      const bad = await call('POST', '/api/v1/objectives', as('technician'), { id: 'x', kind: 'reduce-energy', site: 's1', targetPct: 150 });
      expect(bad.status).toBe(400);
      expect((bad.body.error.fields as Json[]).map((f) => f.path)).toEqual(expect.arrayContaining(['body.targetPct', 'body.startMs']));
    });

    it('shows agents with their track record and consensus weight', async () => {
      const res = await call('GET', '/api/v1/agents', as('viewer'));
      const energy = (res.body.agents as Json[]).find((a) => a.id === 'energy-1');
      expect(energy).toMatchObject({ domain: 'energy', records: [{ domain: 'energy', n: 1 }] });
      expect(energy?.records[0].weight).toBeGreaterThan(res.body.priorMean as number);
    });
  });

  describe('admin', () => {
    it('manages users; a duplicate is 409; a disabled user cannot log in', async () => {
      expect((await call('POST', '/api/v1/users', as('admin'), { username: 'maria', role: 'technician', password: PASSWORD })).status).toBe(201);
      expect((await call('POST', '/api/v1/users', as('admin'), { username: 'maria', role: 'viewer', password: PASSWORD })).body.error.code).toBe('SWG_ERR_USER_EXISTS');
      const twin = await call('POST', '/api/v1/users', as('admin'), { username: 'Maria', role: 'viewer', password: PASSWORD });
      expect(twin.body.error).toMatchObject({ code: 'SWG_ERR_USER_EXISTS', message: 'user "Maria" differs from the existing user "maria" only in case; choose another name or use "maria"' });
      expect((await call('POST', '/api/v1/users', as('admin'), { username: 'x y', role: 'boss', password: 'short' })).body.error.fields.map((f: Json) => f.path)).toEqual(
        expect.arrayContaining(['body.username', 'body.role', 'body.password']),
      );
      const cookie = cookieOf(await login(t.app, 'maria'));
      expect((await call('PATCH', '/api/v1/users/maria', as('admin'), { disabled: true })).body.disabled).toBe(true);
      expect((await call('GET', '/api/v1/auth/me', { cookie })).status).toBe(401);
      expect((await login(t.app, 'maria')).statusCode).toBe(401);
      expect((await call('DELETE', '/api/v1/users/maria', as('admin'))).status).toBe(200);
      expect((await call('GET', '/api/v1/users', as('admin'))).body.users.map((u: Json) => u.username)).not.toContain('maria');
    });

    it('keeps at least one enabled admin', async () => {
      const demote = await call('PATCH', '/api/v1/users/admin', as('admin'), { role: 'viewer' });
      expect(demote.status).toBe(409);
      expect(demote.body.error.code).toBe('SWG_ERR_USER_LAST_ADMIN');
      expect((await call('DELETE', '/api/v1/users/admin', as('admin'))).status).toBe(409);
      expect((await call('POST', '/api/v1/users', as('admin'), { username: 'admin2', role: 'admin', password: PASSWORD })).status).toBe(201);
      expect((await call('PATCH', '/api/v1/users/admin2', as('admin'), { disabled: true })).status).toBe(200);
    });

    it('audits who did what', async () => {
      const res = await call('GET', '/api/v1/audit?limit=500', as('admin'));
      const actions = (res.body.entries as Json[]).map((e) => `${e.actor as string} ${e.action as string}`);
      expect(actions).toEqual(expect.arrayContaining(['technician review.approve', 'technician command.create', 'admin user.create', 'viewer auth.login-failed']));
    });
  });

  describe('system', () => {
    it('serves metrics, docs without a CDN, and the error format for unknown routes', async () => {
      t.commands; // the hub registry is optional; the endpoint still answers
      expect((await call('GET', '/metrics', as('admin'))).status).toBe(200);
      const doc = await call('GET', '/docs/json', {});
      for (const spec of Object.values(ROUTES)) {
        const path = spec.url.replace(/:([a-zA-Z]+)/g, '{$1}');
        expect(doc.body.paths[path]?.[spec.method.toLowerCase()], `${spec.method} ${spec.url} in OpenAPI`).toBeTruthy();
      }
      const ui = await t.app.inject({ method: 'GET', url: '/docs' });
      expect(ui.statusCode).toBe(200);
      expect(ui.body).not.toMatch(/https?:\/\/(?!localhost)[a-z0-9.-]+\.(com|net|org|io)\//i);
      const missing = await call('GET', '/api/v1/nothing', as('viewer'));
      expect(missing.status).toBe(404);
      expect(missing.body.error).toMatchObject({ code: 'SWG_ERR_API_NOT_FOUND' });
    });
  });

  describe('configuration', () => {
    it('creates the first admin from the configured environment variable', async () => {
      process.env.SWG_TEST_ADMIN_PW = 'first-admin-password';
      const t2 = await makeApi({ config: { initialAdmin: { username: 'root', passwordEnv: 'SWG_TEST_ADMIN_PW' } } });
      try {
        const res = await login(t2.app, 'root', 'first-admin-password');
        expect(res.json<Json>().user).toEqual({ username: 'root', role: 'admin' });
      } finally {
        delete process.env.SWG_TEST_ADMIN_PW;
        await t2.close();
      }
    });

    it('answers CORS only for configured origins (off by default)', async () => {
      expect((await call('GET', '/api/v1/health', { origin: 'https://ops.example' })).headers['access-control-allow-origin']).toBeUndefined();
      const t2 = await makeApi({ config: { corsOrigins: ['https://ops.example'] } });
      try {
        const ok = await t2.app.inject({ method: 'GET', url: '/api/v1/health', headers: { origin: 'https://ops.example' } });
        expect(ok.headers['access-control-allow-origin']).toBe('https://ops.example');
        const other = await t2.app.inject({ method: 'GET', url: '/api/v1/health', headers: { origin: 'https://evil.example' } });
        expect(other.headers['access-control-allow-origin']).toBeUndefined();
        const pre = await t2.app.inject({ method: 'OPTIONS', url: '/api/v1/reviews', headers: { origin: 'https://ops.example', 'access-control-request-method': 'POST' } });
        expect(pre.statusCode).toBe(204);
        expect(pre.headers['access-control-allow-methods']).toContain('POST');
      } finally {
        await t2.close();
      }
    });

    it('counts requests per route in the hub registry served at /metrics', async () => {
      const registry = new Registry();
      const t2 = await makeApi({ metrics: registry });
      try {
        await t2.app.inject({ method: 'GET', url: '/api/v1/gateways', headers: { cookie: t2.cookies.viewer } });
        const scrape = await t2.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: t2.tokens.viewer } });
        expect(scrape.statusCode).toBe(200);
        expect(scrape.body).toMatch(/swarmgate_api_requests_total\{route="gateways.list",status="2xx"\} 1/);
        expect((await t2.app.inject({ method: 'GET', url: '/metrics', headers: { cookie: t2.cookies.technician } })).statusCode).toBe(403);
      } finally {
        await t2.close();
      }
    });
  });
});

describe('the API harness', () => {
  it('waits at close for the acks its simulated gateway is still sending', async () => {
    const t = await makeApi();
    await seedGateway(t);
    const record = await t.commands.create({ gateway: 'gw-1', origin: 'user:test', action: { kind: 'write', device: 'ahu1', point: 'setpoint', value: 20 } });
    // Closed before the ack runs: had it run after, its store call would fail as an unhandled rejection.
    await t.close();
    expect(t.published.map((p) => (p.payload as Json).id)).toEqual([record.id]);
  });
});
