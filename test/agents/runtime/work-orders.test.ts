/**
 * Advice without an action reaches the technicians as a maintenance work order: an AHU past its
 * service interval gives one open order, re-evaluations update it instead of duplicating or counting
 * it; closed, it stays closed while the same service is due, and the next due service opens a new
 * one. A condition the agents no longer see (the counter reset after a service) is cleared, and
 * when it comes back it opens a new order.
 */
import { describe, expect, it } from 'vitest';
import { sqlFor } from '../../../hub/db/sql.js';
import { FacilityIndex, type FacilityModel } from '../../../hub/agents/index.js';
import { AgentService } from '../../../hub/agents/runtime/index.js';
import { HubEvents } from '../../../hub/events.js';
import { featureMigrations } from '../../../hub/features.js';
import { ReviewService } from '../../../hub/review/index.js';
import { SqliteStore } from '../../../hub/store/sqlite/sqlite.js';
import { WorkOrderService } from '../../../hub/work-orders/service.js';
import { FakeCommands } from '../../review/review-contract.js';
import { tempDir } from '../../support/tmp.js';

const T0 = Date.UTC(2025, 0, 6, 10, 0, 0);

const MODEL: FacilityModel = {
  v: 1,
  sites: [
    {
      id: 's1',
      utcOffsetMin: 0,
      peakLimitKw: 500,
      serviceIntervalH: 2000,
      maxStartsPerHour: 6,
      interlocks: [],
      zones: [
        {
          id: 'plant',
          kind: 'plant',
          gateways: [{ id: 'gw-plant', capabilities: ['hvac'], points: [{ device: 'ahu', point: 'run_hours', role: 'runtime_hours', unit: 'h', equipment: 'AHU-1' }] }],
        },
      ],
    },
  ],
};

describe('work orders from the agents in the running hub', () => {
  it('a service due opens one work order; repeats do not count; closed stays closed until the condition clears and comes back', async () => {
    const dir = tempDir('swarmgate-agent-work-orders-');
    const store = SqliteStore.open({ path: `${dir.path}/hub.db`, migrations: featureMigrations('sqlite') });
    let now = T0;
    const clock = (): number => now;
    const review = await ReviewService.open({ store, clock });
    const workOrders = new WorkOrderService(sqlFor(store), { clock });
    const agents = await AgentService.start({ store, events: new HubEvents(), commands: new FakeCommands(), review, workOrders, facility: new FacilityIndex(MODEL), voteTimeoutMs: 100, clock });
    try {
      let seq = 0;
      const evaluate = async (hours: number): Promise<void> => {
        seq += 1;
        await store.ingestBatch({ v: 1, gateway: 'gw-plant', bootId: 'boot-0001', seq, sentAt: now, historical: false, readings: [{ d: 'ahu', p: 'run_hours', v: hours, q: 'good', ts: now - 1000 }] });
        await agents.evaluateSite('s1');
        await agents.idle();
      };
      await evaluate(1500); // not due
      expect(await workOrders.list({ site: 's1' })).toEqual([]);
      await evaluate(2100);
      now += 3_600_000;
      await evaluate(2101);
      const open = await workOrders.list({ site: 's1', state: 'open' });
      expect(open).toHaveLength(1);
      expect(open[0]).toMatchObject({ gateway: 'gw-plant', equipment: 'AHU-1', task: 'service AHU-1', urgency: 'normal', sourceAgent: 'equipment-health', seen: 1, lastSeenAt: now });
      expect(open[0]?.problem).toMatch(/2101 runtime hours, service interval 2000 h/);
      // Nothing for a technician to approve: work orders are not review items.
      expect(await review.list({ site: 's1' })).toEqual([]);

      await workOrders.close(open[0]!.id, { user: 'tech-anna', note: 'filters and belts done' });
      // Evaluated every minute for 21 minutes while the same service is still due: stays closed.
      for (let i = 0; i < 21; i += 1) {
        now += 60_000;
        await evaluate(2102);
      }
      expect(await workOrders.list({ site: 's1', state: 'open' })).toEqual([]);
      expect(await workOrders.get(open[0]!.id)).toMatchObject({ state: 'closed', lastSeenAt: now });
      now += 3_600_000;
      await evaluate(4100); // the next interval
      const next = await workOrders.list({ site: 's1', state: 'open' });
      expect(next).toHaveLength(1);
      expect(next[0]?.id).not.toBe(open[0]?.id);

      // Serviced and the hour counter reset: the agents see no service due, the condition clears.
      await workOrders.close(next[0]!.id, { user: 'tech-anna', note: 'serviced, counter reset' });
      now += 60_000;
      await evaluate(0);
      expect(await workOrders.get(next[0]!.id)).toMatchObject({ clearedAt: now });
      now += 3_600_000;
      await evaluate(1);
      expect(await workOrders.list({ site: 's1', state: 'open' })).toEqual([]);
      now += 3_600_000;
      await evaluate(2001); // due again after the reset: a new occurrence
      const again = await workOrders.list({ site: 's1', state: 'open' });
      expect(again).toHaveLength(1);
      expect(again[0]?.id).not.toBe(next[0]?.id);
    } finally {
      await agents.stop();
      await review.stop();
      await store.close();
      dir.remove();
    }
  });
});
