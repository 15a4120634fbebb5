/**
 * Maintenance work orders on both stores: opened once per key while open (updated when raised
 * again), most urgent first, closed once with a note; unknown ids and second closes are clear
 * errors. A closed order stays closed while its condition persists; only after the raiser reported
 * the condition cleared (for at least clearAfterMs) does it open a new order, and `seen` counts
 * such occurrences, not evaluations.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlFor } from '../../hub/db/sql.js';
import { featureMigrations } from '../../hub/features.js';
import { PostgresStore } from '../../hub/store/postgres/postgres.js';
import { SqliteStore } from '../../hub/store/sqlite/sqlite.js';
import type { HubStore } from '../../hub/store/types.js';
import { WorkOrderService, type NewWorkOrder } from '../../hub/work-orders/service.js';
import { isSwarmgateError } from '../../shared/kit/errors.js';
import { peerOrSkip, tcpPeer } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';

const PG_URL = process.env.SWARMGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const pgAvailable = peerOrSkip(await tcpPeer('127.0.0.1', 5432, 'postgresql'));

const order = (site: string, over: Partial<NewWorkOrder> = {}): NewWorkOrder => ({
  site,
  gateway: 'gw-1',
  equipment: 'compressor-1',
  problem: 'short-cycling: 9 starts in 60 min',
  task: 'check refrigerant charge of compressor-1',
  urgency: 'high',
  sourceAgent: 'equipment-health',
  dedupeKey: `equipment-health|${site}|compressor-1|short-cycle`,
  ...over,
});

const codeOf = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'no error';
  } catch (err) {
    return isSwarmgateError(err) ? `${err.code}: ${err.message}` : String(err);
  }
};

function contract(name: string, open: () => Promise<{ store: HubStore; cleanup: () => Promise<void> }>, enabled = true): void {
  describe.skipIf(!enabled)(`work orders: ${name}`, () => {
    let handle: { store: HubStore; cleanup: () => Promise<void> };
    let now = 1_700_000_000_000;
    let service: WorkOrderService;
    beforeAll(async () => {
      handle = await open();
      service = new WorkOrderService(sqlFor(handle.store), { clock: () => now, clearAfterMs: 10 * 60_000 });
    });
    afterAll(async () => handle?.cleanup());

    it('opens once per key, updates repeats, lists most urgent first, closes once with a note', async () => {
      const site = `site-${randomUUID().slice(0, 8)}`;
      const first = await service.raise(order(site));
      expect(first.created).toBe(true);
      expect(first.order).toMatchObject({ site, state: 'open', seen: 1, urgency: 'high', createdAt: now, lastSeenAt: now });
      now += 60_000;
      const again = await service.raise(order(site, { problem: 'short-cycling: 12 starts in 60 min' }));
      // The same condition seen again at the next evaluation is not another occurrence.
      expect(again).toMatchObject({ created: false, order: { id: first.order.id, seen: 1, problem: 'short-cycling: 12 starts in 60 min', updatedAt: now, lastSeenAt: now } });
      const service2 = await service.raise(order(site, { equipment: 'ahu-1', urgency: 'normal', task: 'service ahu-1', dedupeKey: `x|${site}|ahu-1|service` }));
      const critical = await service.raise(order(site, { equipment: 'cold-room', urgency: 'critical', task: 'move product', dedupeKey: `x|${site}|cold-room|breach` }));
      expect((await service.list({ site, state: 'open' })).map((o) => o.id)).toEqual([critical.order.id, first.order.id, service2.order.id]);

      const closed = await service.close(first.order.id, { user: 'tech-anna', note: 'refrigerant topped up, 2 starts/h now' });
      expect(closed).toMatchObject({ state: 'closed', closedBy: 'tech-anna', closedAt: now, note: 'refrigerant topped up, 2 starts/h now' });
      expect(await codeOf(service.close(first.order.id, { user: 'tech-ben', note: 'also done' }))).toMatch(/^SWG_ERR_WORK_ORDER_CLOSED: .*closed by tech-anna/);
      expect(await codeOf(service.close('wo-nope', { user: 'tech-ben', note: 'x' }))).toMatch(/^SWG_ERR_WORK_ORDER_UNKNOWN: no work order "wo-nope"/);
      expect((await service.list({ site, state: 'closed' })).map((o) => o.id)).toEqual([first.order.id]);
    });

    it('a closed order stays closed while its condition persists; cleared and back, it opens a new one', async () => {
      const site = `site-${randomUUID().slice(0, 8)}`;
      const first = await service.raise(order(site));
      await service.close(first.order.id, { user: 'tech-anna', note: 'looked at it' });
      // The agents evaluate every minute and the condition is still there: no new order.
      for (let i = 0; i < 21; i += 1) {
        now += 60_000;
        const again = await service.raise(order(site));
        expect(again).toMatchObject({ created: false, order: { id: first.order.id, state: 'closed', lastSeenAt: now } });
        await service.conditionsPresent(site, [order(site).dedupeKey]);
      }
      expect(await service.list({ site, state: 'open' })).toEqual([]);

      // A flicker (absent for one evaluation) is not a clear.
      now += 60_000;
      await service.conditionsPresent(site, []);
      now += 60_000;
      expect((await service.raise(order(site))).created).toBe(false);
      expect(await service.list({ site, state: 'open' })).toEqual([]);

      // Absent for longer than clearAfterMs, then back: a new occurrence, a new order.
      now += 60_000;
      await service.conditionsPresent(site, []);
      expect(await service.get(first.order.id)).toMatchObject({ clearedAt: now });
      now += 11 * 60_000;
      await service.conditionsPresent(site, []);
      now += 60_000;
      const back = await service.raise(order(site));
      expect(back.created).toBe(true);
      expect(back.order).toMatchObject({ state: 'open', seen: 1 });
      expect(back.order.id).not.toBe(first.order.id);
      expect(back.order.clearedAt).toBeUndefined();
    });

    it('counts occurrences while open, not evaluations, and clears only keys of the site not present', async () => {
      const site = `site-${randomUUID().slice(0, 8)}`;
      const other = `site-${randomUUID().slice(0, 8)}`;
      const ahu = order(site, { equipment: 'ahu-1', task: 'service ahu-1', dedupeKey: `x|${site}|ahu-1|service` });
      const first = await service.raise(order(site));
      await service.raise(ahu);
      const elsewhere = await service.raise(order(other));
      for (let i = 0; i < 20; i += 1) {
        now += 60_000;
        await service.raise(order(site));
        await service.raise(ahu);
        await service.conditionsPresent(site, [order(site).dedupeKey, ahu.dedupeKey]);
      }
      expect(await service.get(first.order.id)).toMatchObject({ seen: 1, state: 'open' });
      // The compressor condition clears for 15 minutes, then comes back: a second occurrence.
      now += 60_000;
      await service.conditionsPresent(site, [ahu.dedupeKey]);
      expect(await service.get(first.order.id)).toMatchObject({ clearedAt: now });
      expect((await service.list({ site, state: 'open' })).find((o) => o.equipment === 'ahu-1')?.clearedAt).toBeUndefined();
      expect((await service.get(elsewhere.order.id))?.clearedAt).toBeUndefined();
      now += 15 * 60_000;
      const back = await service.raise(order(site));
      expect(back).toMatchObject({ created: false, order: { id: first.order.id, seen: 2, lastSeenAt: now } });
      expect(back.order.clearedAt).toBeUndefined();
    });
  });
}

contract('sqlite', async () => {
  const dir = tempDir('swarmgate-work-orders-');
  const store = SqliteStore.open({ path: `${dir.path}/hub.db`, migrations: featureMigrations('sqlite') });
  return { store, cleanup: async () => (await store.close(), dir.remove()) };
});

contract(
  'postgres',
  async () => {
    const store = await PostgresStore.open({ url: PG_URL, schema: `swg_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`, migrations: featureMigrations('postgres') });
    return { store, cleanup: async () => (await store.dropSchema(), await store.close()) };
  },
  pgAvailable,
);
