/**
 * The quarantine through the web API, on SQLite and (when it is up) PostgreSQL: admins list the
 * messages ingest refused (newest first, by gateway, bounded), each with how many times it was
 * received and when first and last, look at one, see how many there are and since when, and
 * discard one they have inspected (audited; an unknown id is a 404). Other roles are refused. The
 * quarantine is filled through the real QuarantineService.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Accounts } from '../../hub/api/index.js';
import { sqlFor } from '../../hub/db/sql.js';
import { parseHubConfig } from '../../hub/config.js';
import { startHub } from '../../hub/index.js';
import { QuarantineService } from '../../hub/quarantine/service.js';
import { gatewayTopic } from '../../shared/wire/index.js';
import { addUsers, batch, connectClient, endAll, reading, waitFor } from '../hub/helpers.js';
import { tempDir } from '../support/tmp.js';
import { API_STORES, FAST_SCRYPT, type TestApi } from './support.js';


type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const T0 = 1_700_000_000_000;
const BINARY = Uint8Array.from([0xff, 0x00, 0x01, 0x1b, 0x5b]);

function quarantineSuite(name: string, open: () => Promise<{ t: TestApi; cleanup: () => Promise<void> }>, enabled = true): void {
  describe.skipIf(!enabled)(`quarantine API (${name})`, () => {
    let t: TestApi;
    let cleanup: () => Promise<void>;
    const call = async (method: string, url: string, headers: Record<string, string>) => {
      const res = await t.app.inject({ method: method as 'GET', url, headers });
      return { status: res.statusCode, body: res.json<Json>() };
    };
    const admin = () => ({ cookie: t.cookies.admin });

    beforeAll(async () => {
      ({ t, cleanup } = await open());
      const q = new QuarantineService(sqlFor(t.store));
      const base = { channel: 'telemetry', site: 'site-a' };
      await q.add({ ...base, topic: 'swarmgate/v1/site-a/gw-1/telemetry', gateway: 'gw-1', reason: 'schema', error: 'readings/0/ts: must be <= 9007199254740991', payload: Buffer.from('{"v":1,"seq":1}') }, T0);
      await q.add({ ...base, topic: 'swarmgate/v1/site-a/gw-2/telemetry', gateway: 'gw-2', reason: 'implausible', error: 'readings/0/ts: 1e15 is more than 10 min ahead of the hub clock', payload: Buffer.from('{"v":1,"seq":2}') }, T0 + 1_000);
      await q.add({ ...base, topic: 'swarmgate/v1/site-a/gw-1/telemetry', gateway: 'gw-1', reason: 'not-json', error: 'not JSON: unexpected token', payload: BINARY }, T0 + 2_000);
      // The first one sent again: counted on its entry, not a fourth one.
      await q.add({ ...base, topic: 'swarmgate/v1/site-a/gw-1/telemetry', gateway: 'gw-1', reason: 'schema', error: 'readings/0/ts: must be <= 9007199254740991', payload: Buffer.from('{"v":1,"seq":1}') }, T0 + 3_000);
    });
    afterAll(async () => cleanup?.());

    it('lists newest first for admins, by gateway and bounded by limit', async () => {
      const all = await call('GET', '/api/v1/quarantine', admin());
      expect(all.status).toBe(200);
      expect(all.body.items.map((m: Json) => m.receivedAt)).toEqual([T0 + 2_000, T0 + 1_000, T0]);
      expect(all.body.items[0]).toMatchObject({ gateway: 'gw-1', site: 'site-a', channel: 'telemetry', reason: 'not-json', encoding: 'base64', payload: Buffer.from(BINARY).toString('base64'), size: 5, seenCount: 1, lastSeenAt: T0 + 2_000 });
      expect(all.body.items[2]).toMatchObject({ reason: 'schema', error: 'readings/0/ts: must be <= 9007199254740991', encoding: 'utf8', payload: '{"v":1,"seq":1}', seenCount: 2, receivedAt: T0, lastSeenAt: T0 + 3_000 });

      const gw1 = await call('GET', '/api/v1/quarantine?gateway=gw-1', admin());
      expect(gw1.body.items.map((m: Json) => [m.gateway, m.receivedAt])).toEqual([['gw-1', T0 + 2_000], ['gw-1', T0]]);
      expect((await call('GET', '/api/v1/quarantine?limit=1', admin())).body.items.map((m: Json) => m.receivedAt)).toEqual([T0 + 2_000]);
      expect((await call('GET', '/api/v1/quarantine?gateway=gw-nope', admin())).body).toEqual({ items: [] });
      // An admin API token (an operator's tooling) may read it too.
      expect((await call('GET', '/api/v1/quarantine', { authorization: t.tokens.admin })).status).toBe(200);
    });

    it('bounds limit and refuses unknown parameters with a 400 naming them', async () => {
      const zero = await call('GET', '/api/v1/quarantine?limit=0', admin());
      expect(zero.status).toBe(400);
      expect(zero.body.error.fields.map((f: Json) => f.path)).toEqual(['querystring.limit']);
      expect((await call('GET', '/api/v1/quarantine?limit=1001', admin())).status).toBe(400);
      expect((await call('GET', '/api/v1/quarantine?site=x', admin())).status).toBe(400);
    });

    it('shows one message and summarises count and oldest/newest receivedAt', async () => {
      const first = (await call('GET', '/api/v1/quarantine?limit=1', admin())).body.items[0] as Json;
      const one = await call('GET', `/api/v1/quarantine/${first.id}`, admin());
      expect(one).toEqual({ status: 200, body: first });
      expect((await call('GET', '/api/v1/quarantine/999999999', admin())).status).toBe(404);

      expect((await call('GET', '/api/v1/quarantine/summary', admin())).body).toEqual({ count: 3, seenCount: 4, oldestReceivedAt: T0, newestReceivedAt: T0 + 2_000, lastSeenAt: T0 + 3_000 });
      expect((await call('GET', '/api/v1/quarantine/summary?gateway=gw-2', admin())).body).toEqual({ count: 1, seenCount: 1, oldestReceivedAt: T0 + 1_000, newestReceivedAt: T0 + 1_000, lastSeenAt: T0 + 1_000 });
      expect((await call('GET', '/api/v1/quarantine/summary?gateway=gw-nope', admin())).body).toEqual({ count: 0, seenCount: 0 });
    });

    it('refuses anonymous callers, viewers and technicians (sessions and tokens)', async () => {
      expect((await call('GET', '/api/v1/quarantine', {})).status).toBe(401);
      for (const role of ['viewer', 'technician'] as const) {
        for (const headers of [{ cookie: t.cookies[role] }, { authorization: t.tokens[role] }] as Record<string, string>[]) {
          const list = await call('GET', '/api/v1/quarantine', headers);
          expect(list.status, role).toBe(403);
          expect(list.body.error.code).toMatch(/^SWG_ERR_AUTH_/);
          expect((await call('GET', '/api/v1/quarantine/summary', headers)).status, role).toBe(403);
          expect((await call('DELETE', '/api/v1/quarantine/1', headers)).status, role).toBe(403);
        }
      }
    });

    it('discards an inspected message (admin only, audited); an unknown id is a 404', async () => {
      const gw2 = (await call('GET', '/api/v1/quarantine?gateway=gw-2', admin())).body.items[0] as Json;
      expect((await call('DELETE', `/api/v1/quarantine/${gw2.id}`, { cookie: t.cookies.technician })).status).toBe(403);
      const discarded = await call('DELETE', `/api/v1/quarantine/${gw2.id}`, admin());
      expect(discarded).toEqual({ status: 200, body: gw2 });
      expect((await call('GET', '/api/v1/quarantine', admin())).body.items.map((m: Json) => m.gateway)).toEqual(['gw-1', 'gw-1']);
      expect((await call('GET', '/api/v1/quarantine/summary', admin())).body).toMatchObject({ count: 2 });

      const again = await call('DELETE', `/api/v1/quarantine/${gw2.id}`, admin());
      expect(again.status).toBe(404);
      expect(again.body.error.code).toBe('SWG_ERR_QUARANTINE_UNKNOWN');
      expect((await call('DELETE', '/api/v1/quarantine/not-a-number', admin())).status).toBe(400);

      const audit = await call('GET', '/api/v1/audit?action=quarantine.discard', admin());
      expect(audit.body.entries).toHaveLength(1);
      expect(audit.body.entries[0]).toMatchObject({ actor: 'admin', via: 'session', action: 'quarantine.discard', target: String(gw2.id), detail: { gateway: 'gw-2', reason: 'implausible' } });
    });
  });
}

for (const s of API_STORES) quarantineSuite(s.name, s.open, s.enabled);

// The whole path once: a real hub (embedded broker, SQLite) refuses a gateway's message in ingest
// each time its outbox sends it (it names no batch, so it is never receipted), and its API shows it
// to an admin as one entry seen that often, and discards it.
it('a message a real hub refused shows up in its quarantine API and can be discarded', async () => {
  const dir = tempDir('swg-quarantine-hub-');
  await addUsers(`${dir.path}/users.yaml`, [{ spec: { role: 'gateway', username: 'gw-q', site: 'site-q', gateway: 'gw-q' }, password: 'gw-q-password' }]);
  const config = parseHubConfig('broker: { embedded: { host: 127.0.0.1, port: 0, credentialsFile: users.yaml } }\nstore: { kind: sqlite, path: hub.db }\napi: { host: 127.0.0.1, port: 0 }\n', `${dir.path}/hub.yaml`);
  const hub = await startHub(config);
  const client = await connectClient(hub.broker!.url, { username: 'gw-q', password: 'gw-q-password', clientId: 'gw-q' });
  try {
    const admin = { authorization: `Bearer ${(await new Accounts(sqlFor(hub.store), { sessionTtlMs: 60_000, scryptCost: FAST_SCRYPT }).createToken('ops', 'admin', 'test')).token}` };
    const good = batch('gw-q', 'boot-quarantine', 1, [reading('ahu1', 'temp', 20, Date.now())]);
    for (let i = 0; i < 3; i++) await client.publishAsync(gatewayTopic('site-q', 'gw-q', 'telemetry'), JSON.stringify({ ...good, seq: 1e300 }), { qos: 1 });
    const api = hub.api!.app;
    const items = await waitFor(async () => {
      const res = await api.inject({ method: 'GET', url: '/api/v1/quarantine?gateway=gw-q', headers: admin });
      const body = res.json<{ items: Json[] }>();
      return body.items.some((m) => m.seenCount === 3) ? body.items : undefined;
    }, 10_000, 'the refused message in the API, seen three times');
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ site: 'site-q', gateway: 'gw-q', channel: 'telemetry', reason: 'schema', error: expect.stringContaining('/seq'), seenCount: 3 });
    expect(items[0]!.lastSeenAt).toBeGreaterThanOrEqual(items[0]!.receivedAt);
    expect(JSON.parse(items[0]!.payload as string).seq).toBe(1e300);
    expect((await api.inject({ method: 'DELETE', url: `/api/v1/quarantine/${items[0]!.id}`, headers: admin })).statusCode).toBe(200);
    expect(await hub.quarantine.count()).toBe(0);
  } finally {
    await endAll([client]);
    await hub.stop();
    dir.remove();
  }
});
