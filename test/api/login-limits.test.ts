/**
 * Login limits: failed logins are limited per user name and address, per user name (from any
 * address) and per address (over any user names, so spraying many names is limited too). A user
 * who has logged in from an address before gets through the per-user and per-address limits there
 * with the right password (a technician behind a NAT shared with a noisy neighbour); an admin can
 * see and lift the limits.
 */
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Api } from '../../hub/api/index.js';
import { PASSWORD, makeApi, type TestApi } from './support.js';

const LIMITS = { max: 3, windowS: 60, perUser: { max: 6, windowS: 600 }, perAddress: { max: 10, windowS: 600 }, trustDays: 30 };

async function loginFrom(app: Api, address: string, username: string, password = PASSWORD) {
  const res = await app.inject({ method: 'POST', url: '/api/v1/auth/login', remoteAddress: address, payload: { username, password } });
  return { status: res.statusCode, retryAfter: Number(res.headers['retry-after'] ?? 0), body: res.json<{ error?: { code: string; message: string; hint: string } }>() };
}

describe('login limits', () => {
  let t: TestApi;
  const metrics = new Registry();
  const admin = () => ({ cookie: t.cookies.admin });
  const createUser = async (username: string) => {
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/users', headers: admin(), payload: { username, role: 'technician', password: PASSWORD } });
    expect(res.statusCode).toBe(201);
  };

  beforeAll(async () => {
    t = await makeApi({ config: { loginRateLimit: LIMITS }, metrics });
  });
  afterAll(() => t.close());

  it('limits wrong passwords for one user from one address, right password included, with Retry-After', async () => {
    await createUser('alice');
    for (let i = 0; i < LIMITS.max; i++) expect((await loginFrom(t.app, '10.0.1.1', 'alice', 'wrong-password')).status).toBe(401);
    const limited = await loginFrom(t.app, '10.0.1.1', 'alice');
    expect(limited.status).toBe(429);
    expect(limited.retryAfter).toBeGreaterThan(0);
    expect(limited.retryAfter).toBeLessThanOrEqual(LIMITS.windowS);
    expect(limited.body.error?.code).toBe('SWG_ERR_AUTH_RATE_LIMITED');
    // The same user from another address is not limited by this address's guesses.
    expect((await loginFrom(t.app, '10.0.1.2', 'alice')).status).toBe(200);
  });

  it('holds for guesses sent all at once: each counts from the moment it is let through, a success takes its back', async () => {
    await createUser('dora');
    const guesses = await Promise.all(Array.from({ length: 20 }, () => loginFrom(t.app, '10.0.5.1', 'dora', 'wrong-password')));
    const statuses = guesses.map((g) => g.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(LIMITS.max);
    expect(statuses.filter((s) => s === 429)).toHaveLength(20 - LIMITS.max);
    // Logins with the right password do not count against the user: more of them than its limit get in.
    for (let i = 0; i < LIMITS.perUser.max; i++) expect((await loginFrom(t.app, '10.0.5.2', 'dora')).status).toBe(200);
  });

  it('limits one user guessed from many addresses; the right password still works where the user logged in before', async () => {
    await createUser('bob');
    expect((await loginFrom(t.app, '10.0.2.100', 'bob')).status).toBe(200);
    for (let i = 0; i < LIMITS.perUser.max; i++) expect((await loginFrom(t.app, `10.0.2.${i + 1}`, 'bob', 'wrong-password')).status).toBe(401);
    const elsewhere = await loginFrom(t.app, '10.0.2.50', 'bob');
    expect(elsewhere.status).toBe(429);
    expect(elsewhere.retryAfter).toBeGreaterThan(LIMITS.windowS); // the per-user window
    expect(elsewhere.body.error?.message).toMatch(/bob/);
    expect((await loginFrom(t.app, '10.0.2.100', 'bob')).status).toBe(200);
    // A wrong password from the trusted address is still a failure there.
    expect((await loginFrom(t.app, '10.0.2.100', 'bob', 'wrong-password')).status).toBe(401);
  });

  it('limits many different user names from one address (password spraying)', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 100; i++) statuses.push((await loginFrom(t.app, '10.0.3.1', `user-${i}`, 'Winter2024!')).status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(LIMITS.perAddress.max);
    expect(statuses.slice(LIMITS.perAddress.max).every((s) => s === 429)).toBe(true);
    const limited = await loginFrom(t.app, '10.0.3.1', 'viewer');
    expect(limited.status).toBe(429);
    expect(limited.retryAfter).toBeGreaterThan(LIMITS.windowS);
    expect(limited.body.error?.hint).toMatch(/unlock/);
    // Other addresses are not affected.
    expect((await loginFrom(t.app, '10.0.3.2', 'viewer')).status).toBe(200);
  });

  it('lets the right password through from a shared address another client is guessing from, for a user known there', async () => {
    await createUser('carol');
    await createUser('dave');
    const nat = '10.0.4.1';
    expect((await loginFrom(t.app, nat, 'carol')).status).toBe(200);
    for (let i = 0; i < LIMITS.perAddress.max; i++) expect((await loginFrom(t.app, nat, `guess-${i}`, 'wrong-password')).status).toBe(401);
    expect((await loginFrom(t.app, nat, 'carol')).status).toBe(200);
    // dave never logged in from there: he waits, or an admin lifts the address limit.
    expect((await loginFrom(t.app, nat, 'dave')).status).toBe(429);
    const blocked = await t.app.inject({ method: 'GET', url: '/api/v1/login-limits', headers: admin() });
    expect(blocked.statusCode).toBe(200);
    expect(blocked.json<{ limits: { kind: string; address?: string; username?: string; failures: number; retryAfterS: number }[] }>().limits).toEqual(
      expect.arrayContaining([expect.objectContaining({ kind: 'address', address: nat, failures: LIMITS.perAddress.max })]),
    );
    const unlocked = await t.app.inject({ method: 'POST', url: '/api/v1/login-limits/unlock', headers: admin(), payload: { address: nat } });
    expect(unlocked.json()).toEqual({ cleared: 1 });
    expect((await loginFrom(t.app, nat, 'dave')).status).toBe(200);
  });

  it('an admin unlocks a user locked by failures from everywhere; only admins may', async () => {
    await createUser('erin');
    for (let i = 0; i < LIMITS.perUser.max; i++) await loginFrom(t.app, `10.0.5.${i + 1}`, 'erin', 'wrong-password');
    expect((await loginFrom(t.app, '10.0.5.1', 'erin')).status).toBe(429);
    expect((await loginFrom(t.app, '10.0.5.99', 'erin')).status).toBe(429);
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/login-limits/unlock', headers: { cookie: t.cookies.technician }, payload: { username: 'erin' } })).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/login-limits/unlock', headers: admin(), payload: {} })).statusCode).toBe(400);
    const unlocked = await t.app.inject({ method: 'POST', url: '/api/v1/login-limits/unlock', headers: admin(), payload: { username: 'Erin' } });
    expect(unlocked.statusCode).toBe(200);
    expect(unlocked.json<{ cleared: number }>().cleared).toBeGreaterThanOrEqual(1);
    expect((await loginFrom(t.app, '10.0.5.99', 'erin')).status).toBe(200);
    expect((await loginFrom(t.app, '10.0.5.1', 'erin')).status).toBe(200);
    const audit = await t.app.inject({ method: 'GET', url: '/api/v1/audit?action=auth.unlock', headers: admin() });
    expect(audit.json<{ entries: { target: string }[] }>().entries.map((e) => e.target)).toContain('Erin');
  });

  it('counts failed and limited logins in the metrics', async () => {
    const text = await metrics.metrics();
    const value = (re: RegExp): number => Number(re.exec(text)?.[1] ?? 0);
    expect(value(/^swarmgate_api_login_failures_total (\d+)/m)).toBeGreaterThanOrEqual(LIMITS.max + LIMITS.perUser.max + LIMITS.perAddress.max);
    expect(value(/^swarmgate_api_login_limited_total\{limit="user-address"\} (\d+)/m)).toBeGreaterThanOrEqual(1);
    expect(value(/^swarmgate_api_login_limited_total\{limit="user"\} (\d+)/m)).toBeGreaterThanOrEqual(1);
    expect(value(/^swarmgate_api_login_limited_total\{limit="address"\} (\d+)/m)).toBeGreaterThanOrEqual(90);
  });
});
