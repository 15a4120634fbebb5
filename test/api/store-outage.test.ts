/**
 * The API while the hub's database cannot write (disk full, read-only): an acceptance run filled
 * the hub's disk and every API-token request failed with 500 "this is a bug" — Prometheus'
 * /metrics scrape included, blind exactly when the disk filled — because signing a token in
 * records its last use. Reads go on; writes get an honest 503 naming the database's error.
 * SQLite's `query_only` pragma makes the hub's own connection refuse writes as a read-only disk does.
 */
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlFor } from '../../hub/db/sql.js';
import { makeApi, PASSWORD, seedGateway, type TestApi } from './support.js';

let t: TestApi;

beforeAll(async () => {
  t = await makeApi({ metrics: new Registry() });
  await seedGateway(t);
  await sqlFor(t.store).all('PRAGMA query_only = 1');
});

afterAll(async () => {
  await sqlFor(t.store).all('PRAGMA query_only = 0');
  await t.close();
});

describe('the API while the database cannot write', () => {
  it('API tokens still read: the gateways and the Prometheus scrape answer 200', async () => {
    const gateways = await t.app.inject({ method: 'GET', url: '/api/v1/gateways', headers: { authorization: t.tokens.viewer } });
    expect(gateways.statusCode).toBe(200);
    expect(gateways.body).toContain('gw-1');
    const scrape = await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: t.tokens.admin } });
    expect(scrape.statusCode).toBe(200);
  });

  it('a request that must write gets 503 SWG_ERR_HUB_STORE naming the database error, not 500 "a bug"', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'technician', password: PASSWORD } });
    expect(res.statusCode).toBe(503);
    const body = res.json() as { error: { code: string; message: string } };
    expect(body.error.code).toBe('SWG_ERR_HUB_STORE');
    expect(body.error.message).toMatch(/cannot serve this request now \(SQLITE_READONLY/);
    expect(body.error.message).not.toContain('bug');
  });
});
