/** The API's own tables (users, sessions, tokens, audit, plans) and the review routes on PostgreSQL. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { featureMigrations } from '../../hub/features.js';
import { PostgresStore } from '../../hub/store/postgres/postgres.js';
import { peerOrSkip, tcpPeer } from '../support/peers.js';
import { PASSWORD, login, makeApi, seedGateway, seedReview, type TestApi } from './support.js';

const PG_URL = process.env.SWARMGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const available = peerOrSkip(await tcpPeer('127.0.0.1', 5432, 'postgresql'));

describe.skipIf(!available)('web API on PostgreSQL', () => {
  let store: PostgresStore;
  let t: TestApi;
  beforeAll(async () => {
    store = await PostgresStore.open({ url: PG_URL, schema: `swg_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`, migrations: featureMigrations('postgres') });
    t = await makeApi({ store });
    await seedGateway(t);
    await seedReview(t, 'rv-pg', 60);
  });
  afterAll(async () => {
    await t?.close();
    await store?.dropSchema();
    await store?.close();
  });

  it('logs in, manages users and tokens, audits', async () => {
    expect((await login(t.app, 'viewer', 'nope-nope-nope')).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { cookie: t.cookies.admin } })).json()).toMatchObject({ role: 'admin' });
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { authorization: t.tokens.technician } })).json()).toMatchObject({ role: 'technician', via: 'token' });
    const created = await t.app.inject({ method: 'POST', url: '/api/v1/users', headers: { cookie: t.cookies.admin }, payload: { username: 'pg-user', role: 'viewer', password: PASSWORD } });
    expect(created.statusCode).toBe(201);
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/users', headers: { cookie: t.cookies.admin }, payload: { username: 'pg-user', role: 'viewer', password: PASSWORD } })).statusCode).toBe(409);
    expect((await t.app.inject({ method: 'PATCH', url: '/api/v1/users/pg-user', headers: { cookie: t.cookies.admin }, payload: { role: 'technician' } })).json()).toMatchObject({ role: 'technician' });
    const audit = await t.app.inject({ method: 'GET', url: '/api/v1/audit', headers: { cookie: t.cookies.admin } });
    expect(audit.json<{ entries: { action: string }[] }>().entries.map((e) => e.action)).toEqual(expect.arrayContaining(['user.create', 'user.update', 'auth.login-failed']));
  });

  it('approves a review item, then refuses a second decision with 409', async () => {
    const ok = await t.app.inject({ method: 'POST', url: '/api/v1/reviews/rv-pg/approve', headers: { cookie: t.cookies.technician }, payload: {} });
    expect(ok.json()).toMatchObject({ state: 'approved' });
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/reviews/rv-pg/reject', headers: { cookie: t.cookies.admin }, payload: { reason: 'no' } })).statusCode).toBe(409);
  });

  it('plans an objective and lists it', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/objectives', headers: { cookie: t.cookies.technician }, payload: { id: 'pg-obj', kind: 'reduce-energy', site: 's1', targetPct: 5, startMs: Date.now() } });
    expect(res.statusCode).toBe(201);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/plans?site=s1', headers: { cookie: t.cookies.viewer } })).json<{ plans: { id: string }[] }>().plans.map((p) => p.id)).toEqual(['plan-pg-obj']);
  });
});
