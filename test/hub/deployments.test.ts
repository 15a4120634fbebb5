/**
 * Deployments on both stores (SQLite, and PostgreSQL where it runs): who is told when (canary
 * first, by count or share, then the rest), what halts a deployment (more failures than tolerated),
 * percentages of the fleet, and that outcomes are final. The gateways' side is their update/status
 * messages, fed as ingest feeds them; what the hub publishes is recorded.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlFor } from '../../hub/db/sql.js';
import { featureMigrations } from '../../hub/features.js';
import { HubEvents } from '../../hub/events.js';
import { DeploymentService, ReleaseService } from '../../hub/releases/index.js';
import { PostgresStore } from '../../hub/store/postgres/postgres.js';
import { SqliteStore } from '../../hub/store/sqlite/sqlite.js';
import type { GatewayRecord, HubStore } from '../../hub/store/types.js';
import { createLogger } from '../../shared/kit/log.js';
import { UpdateDesiredSchema, decode, parseTopic, type UpdateStatus } from '../../shared/wire/index.js';
import { peerOrSkip, tcpPeer } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import { buildTestRelease, makeKeys } from '../release/support/releases.js';

const PG_URL = process.env.SWARMGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const pg = peerOrSkip(await tcpPeer('127.0.0.1', 5432, 'postgresql'));
const dir = tempDir('swg-deployments-');
afterAll(() => dir.remove());

const fleet: GatewayRecord[] = Array.from({ length: 10 }, (_, i) => ({ gateway: `gw-${i}`, site: i < 6 ? 'north' : 'south', status: 'online', firstSeen: 0, lastSeen: 0, stateTs: 0, version: '1.0.0' }));

function suite(kind: string, open: () => Promise<HubStore>, close: (s: HubStore) => Promise<void>): void {
  describe(`deployments on ${kind}`, () => {
    let store: HubStore;
    let deployments: DeploymentService;
    const told: { gateway: string; deployment: string; retain: boolean; cleared: boolean }[] = [];
    const announced: string[] = [];
    const revoked = new Map<string, string>();

    beforeAll(async () => {
      store = await open();
      const keys = makeKeys(join(dir.path, `keys-${kind}`));
      const built = await buildTestRelease(join(dir.path, kind), keys, '2.0.0');
      const sql = sqlFor(store);
      const releases = new ReleaseService({ sql, dir: join(dir.path, `artifacts-${kind}`), publicKey: keys.publicKey });
      const events = new HubEvents();
      events.on('deployment', (c) => void announced.push(`${c.state}${c.gateway ? ` ${c.gateway} ${c.gatewayState ?? ''}` : ''}`));
      await releases.create(built.manifest);
      await releases.upload('2.0.0', createReadStream(built.tarball));
      deployments = new DeploymentService({
        sql,
        releases,
        gateways: async () => fleet,
        revoked: async () => revoked,
        baseUrl: () => 'https://hub.example:8443',
        log: createLogger('test-deployments'),
        events,
        publish: async (topic, payload, retain) => {
          const gateway = parseTopic(topic)?.gateway ?? '';
          if (payload.length === 0) return void told.push({ gateway, deployment: '', retain, cleared: true });
          const d = decode(UpdateDesiredSchema, topic, payload);
          if (!d.ok) throw new Error(d.error);
          expect(d.value.url).toBe('https://hub.example:8443/api/v1/releases/2.0.0/artifact');
          told.push({ gateway, deployment: d.value.deployment, retain, cleared: false });
        },
      });
    }, 120_000);
    afterAll(async () => {
      if (store) await close(store);
    });

    const status = (deployment: string, gateway: string, state: UpdateStatus['state'], extra: Partial<UpdateStatus> = {}): Promise<void> =>
      deployments.recordStatus(fleet.find((g) => g.gateway === gateway)?.site ?? '', gateway, { v: 1, gateway, deployment, version: '2.0.0', state, ts: Date.now(), ...extra });
    const toldIn = (id: string): string[] => told.filter((t) => t.deployment === id && !t.cleared).map((t) => t.gateway);

    it('tells the canary wave first, the rest once every canary has an outcome', async () => {
      const d = await deployments.create({ version: '2.0.0', target: { site: 'north' }, canary: 2, maxFailures: 1, user: 'ops' });
      expect(d.state).toBe('canary');
      expect(toldIn(d.id)).toEqual(['gw-0', 'gw-1']);
      expect(told.every((t) => t.retain)).toBe(true);
      await status(d.id, 'gw-0', 'downloading');
      await status(d.id, 'gw-0', 'healthy', { from: '1.0.0' });
      expect(toldIn(d.id)).toHaveLength(2);
      // One failure is tolerated (maxFailures 1): the rest go ahead once gw-1 has its outcome.
      await status(d.id, 'gw-1', 'rolled-back', { code: 'SWG_ERR_UPDATE_UNHEALTHY', reason: 'devices down' });
      expect(toldIn(d.id)).toEqual(['gw-0', 'gw-1', 'gw-2', 'gw-3', 'gw-4', 'gw-5']);
      expect((await deployments.get(d.id)).state).toBe('rolling');
      // A late progress message does not undo an outcome.
      await status(d.id, 'gw-0', 'installing');
      expect((await deployments.get(d.id)).gateways.find((g) => g.gateway === 'gw-0')?.state).toBe('healthy');
      for (const g of ['gw-2', 'gw-3', 'gw-4', 'gw-5']) await status(d.id, g, 'healthy');
      const done = await deployments.get(d.id);
      expect(done.state).toBe('done');
      expect(done.counts).toEqual({ healthy: 5, 'rolled-back': 1 });
      expect(done.gateways.find((g) => g.gateway === 'gw-1')).toMatchObject({ wave: 'canary', state: 'rolled-back', code: 'SWG_ERR_UPDATE_UNHEALTHY', reason: 'devices down' });
      // Each finished gateway's retained desired update was cleared.
      expect(told.filter((t) => t.cleared).map((t) => t.gateway).sort()).toEqual(['gw-0', 'gw-1', 'gw-2', 'gw-3', 'gw-4', 'gw-5']);
      // The live stream hears every step (the page refreshes on them).
      expect(announced.slice(0, 4)).toEqual(['canary', 'canary gw-0 downloading', 'canary gw-0 healthy', 'rolling gw-1 rolled-back']);
      expect(announced.at(-1)).toBe('done gw-5 healthy');
    });

    it('halts when failures exceed the threshold: gateways not told yet never are, told ones not acting yet are taken back', async () => {
      const d = await deployments.create({ version: '2.0.0', target: { gateways: ['gw-6', 'gw-7', 'gw-8', 'gw-9'] }, canaryPercent: 50, user: 'ops' });
      expect(d.canary).toBe(2);
      expect(toldIn(d.id)).toEqual(['gw-6', 'gw-7']);
      const before = told.length;
      await status(d.id, 'gw-6', 'failed', { code: 'SWG_ERR_RELEASE_DIGEST' });
      const halted = await deployments.get(d.id);
      expect(halted.state).toBe('halted');
      expect(halted.reason).toContain('1 gateway(s) failed or rolled back (0 tolerated)');
      // gw-7 was told and had not started: its retained desired update is cleared, it is cancelled.
      expect(told.slice(before).filter((t) => t.cleared).map((t) => t.gateway)).toContain('gw-7');
      expect(halted.gateways.map((g) => `${g.gateway} ${g.state}`)).toEqual(['gw-6 failed', 'gw-7 cancelled', 'gw-8 waiting', 'gw-9 waiting']);
      // After a hub restart nothing of it is told again.
      const settled = told.length;
      expect(await deployments.republish()).toBe(0);
      expect(told.length).toBe(settled);
      expect((await deployments.get(d.id)).state).toBe('halted');
    });

    it('takes a stable share of the fleet for a percentage; ignores statuses of gateways not in it', async () => {
      const a = await deployments.create({ version: '2.0.0', target: { percent: 30 }, canary: 10, user: 'ops' });
      const b = await deployments.create({ version: '2.0.0', target: { percent: 30 }, canary: 10, user: 'ops' });
      expect(a.gateways).toHaveLength(3);
      expect(a.gateways.map((g) => g.gateway)).toEqual(b.gateways.map((g) => g.gateway));
      expect(a.state).toBe('rolling');
      const outsider = fleet.map((g) => g.gateway).find((g) => !b.gateways.some((x) => x.gateway === g)) ?? '';
      await status(b.id, outsider, 'failed');
      expect((await deployments.get(b.id)).state).toBe('rolling');
    });

    it('a later deployment to the same gateways supersedes the earlier one, which can finish; revoked gateways are skipped', async () => {
      const a = await deployments.create({ version: '2.0.0', target: { gateways: ['gw-0', 'gw-1', 'gw-2'] }, canary: 3, user: 'ops' });
      await status(a.id, 'gw-0', 'healthy');
      await status(a.id, 'gw-1', 'downloading');
      revoked.set('gw-3', 'gateway revoked at 2026-01-01T00:00:00.000Z by ops');
      const b = await deployments.create({ version: '2.0.0', target: { gateways: ['gw-1', 'gw-2', 'gw-3'] }, canary: 3, user: 'ops' });
      // The earlier deployment is not left rolling/sent: its unfinished gateways name the later one.
      const earlier = await deployments.get(a.id);
      expect(earlier.state).toBe('done');
      expect(earlier.counts).toEqual({ healthy: 1, superseded: 2 });
      expect(earlier.gateways.filter((g) => g.state === 'superseded').map((g) => [g.gateway, g.supersededBy])).toEqual([
        ['gw-1', b.id],
        ['gw-2', b.id],
      ]);
      // The revoked gateway is recorded, with the reason, and never told.
      expect(b.gateways.find((g) => g.gateway === 'gw-3')).toMatchObject({ state: 'skipped', reason: 'gateway revoked at 2026-01-01T00:00:00.000Z by ops' });
      expect(toldIn(b.id)).toEqual(['gw-1', 'gw-2']);
      // A late outcome for the superseded deployment neither counts nor clears the newer retained update.
      const cleared = told.filter((t) => t.cleared).length;
      await status(a.id, 'gw-1', 'failed');
      expect(told.filter((t) => t.cleared)).toHaveLength(cleared);
      expect((await deployments.get(a.id)).gateways.find((g) => g.gateway === 'gw-1')?.state).toBe('superseded');
      await status(b.id, 'gw-1', 'healthy');
      await status(b.id, 'gw-2', 'healthy');
      const later = await deployments.get(b.id);
      expect([later.state, later.counts]).toEqual(['done', { healthy: 2, skipped: 1 }]);
      await expect(deployments.create({ version: '2.0.0', target: { gateways: ['gw-3'] }, user: 'ops' })).rejects.toThrow('every gateway of the target is revoked: gw-3 (gateway revoked at 2026-01-01T00:00:00.000Z by ops)');
      revoked.clear();
    });

    it('a later deployment taking the canary of an earlier one does not let the earlier skip its canary: a new canary is told', async () => {
      const a = await deployments.create({ version: '2.0.0', target: { site: 'south' }, canary: 1, user: 'ops' });
      const [canary] = toldIn(a.id);
      expect(toldIn(a.id)).toHaveLength(1);
      const b = await deployments.create({ version: '2.0.0', target: { gateways: [canary ?? ''] }, canary: 1, user: 'ops' });
      const earlier = await deployments.get(a.id);
      // Not rolling: nothing proved the release on a gateway of this deployment yet.
      expect(earlier.state).toBe('canary');
      expect(earlier.gateways.find((g) => g.gateway === canary)?.state).toBe('superseded');
      const told = toldIn(a.id);
      expect(told).toHaveLength(2);
      const second = told[1] ?? '';
      expect(second).not.toBe(canary);
      await status(a.id, second, 'healthy');
      expect((await deployments.get(a.id)).state).toBe('rolling');
      expect(toldIn(a.id)).toHaveLength(4);
      await status(b.id, canary ?? '', 'healthy');
      for (const g of toldIn(a.id).slice(2)) await status(a.id, g, 'healthy');
      expect((await deployments.get(a.id)).state).toBe('done');
    });

    it('a gateway told by an earlier deployment and superseded by a later one that tells it only in its later wave has the earlier update cleared', async () => {
      const a = await deployments.create({ version: '2.0.0', target: { gateways: ['gw-4', 'gw-5'] }, canary: 2, user: 'ops' });
      expect(toldIn(a.id)).toEqual(['gw-4', 'gw-5']);
      const before = told.length;
      const b = await deployments.create({ version: '2.0.0', target: { gateways: ['gw-4', 'gw-5'] }, canary: 1, user: 'ops' });
      // gw-4 is B's canary (told now, replacing A's update); gw-5 waits for B's canary: A's update is cleared.
      expect(told.slice(before).map((t) => [t.gateway, t.cleared ? 'cleared' : t.deployment])).toEqual([
        ['gw-5', 'cleared'],
        ['gw-4', b.id],
      ]);
      await status(b.id, 'gw-4', 'healthy');
      await status(b.id, 'gw-5', 'healthy');
    });

    it('cancels the gateways not updating yet, clearing their retained update; one already updating still reports', async () => {
      const d = await deployments.create({ version: '2.0.0', target: { gateways: ['gw-4', 'gw-5', 'gw-6', 'gw-7'] }, canary: 3, user: 'ops' });
      await status(d.id, 'gw-4', 'downloading');
      const cleared = told.filter((t) => t.cleared).length;
      const c = await deployments.cancel(d.id, 'ops');
      expect(c.state).toBe('cancelled');
      expect(c.reason).toBe('cancelled by ops: 3 gateway(s) not updated; 1 already updating finish on their own');
      expect(c.gateways.map((g) => [g.gateway, g.state])).toEqual([
        ['gw-4', 'downloading'],
        ['gw-5', 'cancelled'],
        ['gw-6', 'cancelled'],
        ['gw-7', 'cancelled'],
      ]);
      // Told ones (gw-5, gw-6) had their retained desired update cleared; gw-7 was never told.
      expect(told.filter((t) => t.cleared).slice(cleared).map((t) => t.gateway)).toEqual(['gw-5', 'gw-6']);
      await status(d.id, 'gw-4', 'healthy');
      const after = await deployments.get(d.id);
      expect([after.state, after.gateways[0]?.state]).toEqual(['cancelled', 'healthy']);
      await expect(deployments.cancel(d.id, 'ops')).rejects.toThrow(`deployment ${d.id} is cancelled already`);
    });

    it('tells again, with new tokens, the gateways told and not heard from (a restarted hub with an embedded broker)', async () => {
      const d = await deployments.create({ version: '2.0.0', target: { gateways: ['gw-8', 'gw-9'] }, canary: 2, user: 'ops' });
      await status(d.id, 'gw-8', 'installing');
      const before = told.length;
      // What every still-unheard gateway of any deployment gets again (gw-9 here, and any left over above).
      const sent = (await deployments.list(500)).flatMap((x) => x.gateways.filter((g) => g.state === 'sent').map((g) => `${x.id} ${g.gateway}`));
      expect(sent).toContain(`${d.id} gw-9`);
      expect(await deployments.republish()).toBe(sent.length);
      expect(told.slice(before).map((t) => `${t.deployment} ${t.gateway}`).sort()).toEqual(sent.sort());
      expect(told.slice(before).every((t) => t.retain && !t.cleared)).toBe(true);
    });
  });
}

suite(
  'SQLite',
  async () => SqliteStore.open({ path: join(dir.path, 'hub.db'), migrations: featureMigrations('sqlite') }),
  (s) => s.close(),
);

describe.skipIf(!pg)('PostgreSQL', () => {
  suite(
    'PostgreSQL',
    () => PostgresStore.open({ url: PG_URL, schema: `swg_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`, migrations: featureMigrations('postgres') }),
    async (s) => {
      await (s as PostgresStore).dropSchema();
      await s.close();
    },
  );
});
