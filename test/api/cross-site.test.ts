/**
 * Requests that change something with the session cookie must come from the hub's own page: a
 * page on another port of the hub's host, or a sibling subdomain, is the same "site" to
 * SameSite=Strict and still sends the cookie. Browsers say where a request comes from
 * (Sec-Fetch-Site, Origin); the hub refuses what another origin sends, and lets reads, API
 * tokens and clients that are not browsers through.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApi, type TestApi } from './support.js';

describe('cross-site requests with the session cookie', () => {
  let t: TestApi;
  beforeAll(async () => {
    t = await makeApi();
  });
  afterAll(() => t.close());

  const call = async (method: 'GET' | 'POST', url: string, headers: Record<string, string>) => {
    const res = await t.app.inject({ method, url, headers: { host: 'hub.example:8080', ...headers } });
    return { status: res.statusCode, body: res.body };
  };

  it('refuses a change sent with the cookie from another origin, and lets the own page, reads and tokens through', async () => {
    const cookie = t.cookies.technician;
    const foreigns: Record<string, string>[] = [{ origin: 'http://hub.example:3000' }, { origin: 'http://grafana.hub.example:8080' }, { 'sec-fetch-site': 'same-site' }, { 'sec-fetch-site': 'cross-site' }, { origin: 'null' }];
    for (const foreign of foreigns) {
      const refused = await call('POST', '/api/v1/auth/logout', { cookie, ...foreign });
      expect(refused.status, JSON.stringify(foreign)).toBe(403);
      expect(refused.body).toContain('from another site');
    }
    expect((await call('GET', '/api/v1/auth/me', { cookie, origin: 'http://hub.example:3000', 'sec-fetch-site': 'same-site' })).status).toBe(200);
    expect((await call('POST', '/api/v1/review/items/nope/approve', { authorization: t.tokens.technician, origin: 'http://hub.example:3000' })).status).not.toBe(403);
    expect((await call('POST', '/api/v1/auth/logout', { cookie, origin: 'http://hub.example:8080', 'sec-fetch-site': 'same-origin' })).status).toBe(200);
  });
});
