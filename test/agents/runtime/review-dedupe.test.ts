/**
 * The review queue as the hub's agents fill it on a warming freezer (the acceptance tester's
 * report): equipment health asks for the backup compressor on the gateway's anomaly, safety asks
 * for the same write once the cold chain is breached; a technician rejects it and the agents keep
 * evaluating. At most one pending item per action, and a rejection holds the action back.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FacilityIndex, type FacilityModel } from '../../../hub/agents/index.js';
import { AgentService } from '../../../hub/agents/runtime/index.js';
import { HubEvents } from '../../../hub/events.js';
import { featureMigrations } from '../../../hub/features.js';
import { ReviewService, type ReviewItem } from '../../../hub/review/index.js';
import { SqliteStore } from '../../../hub/store/sqlite/sqlite.js';
import type { GatewayEvent } from '../../../shared/wire/messages.js';
import { FakeCommands } from '../../review/review-contract.js';
import { tempDir } from '../../support/tmp.js';

const MIN = 60_000;
const T0 = Date.UTC(2026, 11, 6, 6, 0, 0);
const GW = 'gw-cold';
const RELAY = { kind: 'write', device: 'io', point: 'backup_compressor_relay', value: true } as const;

const MODEL: FacilityModel = {
  v: 1,
  sites: [
    {
      id: 's1',
      utcOffsetMin: 0,
      serviceIntervalH: 2000,
      maxStartsPerHour: 6,
      interlocks: [],
      zones: [
        {
          id: 'freezer',
          kind: 'cold-room',
          coldChain: { maxC: -15, maxMinutes: 10 },
          gateways: [
            {
              id: GW,
              capabilities: ['cold-room'],
              points: [
                { device: 'coldroom', point: 'temperature', role: 'cold_room_temp', unit: 'degC', equipment: 'freezer cold room' },
                { device: 'coldroom', point: 'setpoint', role: 'cold_room_setpoint', unit: 'degC', writable: true },
                { device: 'coldroom', point: 'compressor_running', role: 'compressor_running', equipment: 'main compressor' },
                { device: 'io', point: 'backup_compressor_relay', role: 'backup_compressor_relay', writable: true, equipment: 'backup compressor' },
              ],
            },
          ],
        },
      ],
    },
  ],
};

describe('the agents file one review item per action', () => {
  const dir = tempDir('swarmgate-agent-review-dedupe-');
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function boot(clock: () => number, db: string) {
    const store = SqliteStore.open({ path: `${dir.path}/${db}`, migrations: featureMigrations('sqlite') });
    const review = await ReviewService.open({ store, clock });
    // A threshold no decision reaches: everything the agents want waits for a technician.
    const agents = await AgentService.start({ store, events: new HubEvents(), commands: new FakeCommands(), review, facility: new FacilityIndex(MODEL), threshold: 1.01, settleMs: 1, voteTimeoutMs: 100, clock });
    cleanups.push(async () => {
      await agents.stop();
      await review.stop();
      await store.close();
    });
    let seq = 0;
    /** The freezer at `temp` °C (and at every minute since `since`), main compressor off, relay off. */
    const freezer = async (temp: number, since: number, now: number): Promise<void> => {
      const readings = [];
      for (let ts = since; ts <= now - 1000; ts += MIN) {
        readings.push(
          { d: 'coldroom', p: 'temperature', v: temp, q: 'good' as const, ts },
          { d: 'coldroom', p: 'setpoint', v: -18, q: 'good' as const, ts },
          { d: 'coldroom', p: 'compressor_running', v: false, q: 'good' as const, ts },
          { d: 'io', p: 'backup_compressor_relay', v: false, q: 'good' as const, ts },
        );
      }
      seq += 1;
      await store.ingestBatch({ v: 1, gateway: GW, bootId: 'boot-0001', seq, sentAt: now, historical: false, readings });
    };
    const relayItems = async (state?: ReviewItem['state']): Promise<ReviewItem[]> =>
      (await review.list({ site: 's1', ...(state ? { state } : {}), limit: 1000 })).filter((i) => JSON.stringify(i.action) === JSON.stringify(RELAY));
    return { store, review, agents, freezer, relayItems };
  }

  it('equipment health and safety asking for the same write share one pending item', async () => {
    let now = T0;
    const hub = await boot(() => now, 'two-agents.db');
    // The main compressor stops; the room warms to -15.5 °C (2.5 K above setpoint, not yet a breach).
    await hub.freezer(-15.5, T0 - 5 * MIN, now);
    const anomaly: GatewayEvent = { v: 1, id: '6f1c2b9e-0d1f-4c55-9a39-3f1e8b1a0001', gateway: GW, ts: now - 500, kind: 'anomaly', severity: 'critical', device: 'coldroom', point: 'temperature', message: 'anomaly on coldroom/temperature: warming' };
    const first = await hub.agents.evaluateSite('s1', anomaly);
    expect(first?.reviewed.map((r) => [r.decision.proposal.agent, r.kind])).toContainEqual(['equipment-health', 'backup-equipment']);
    expect(await hub.relayItems('pending')).toHaveLength(1);

    // 15 minutes on: above the -15 °C cold-chain limit for 13 minutes; safety asks for the same write.
    now = T0 + 15 * MIN;
    await hub.freezer(-14, T0 + 2 * MIN, now);
    const second = await hub.agents.evaluateSite('s1');
    expect(second?.reviewed.map((r) => [r.decision.proposal.agent, r.kind])).toContainEqual(['safety', 'cold-chain']);
    const pending = await hub.relayItems('pending');
    expect(pending).toHaveLength(1);
    const item = pending[0] as ReviewItem;
    expect(item).toMatchObject({ sourceAgent: 'equipment-health', priority: 100 });
    expect((item.evidence.proposers as Array<{ by: string }>).map((p) => p.by)).toEqual(['agent:equipment-health', 'agent:safety']);
    expect((await hub.review.audit(item.id)).map((e) => [e.action, e.actor])).toEqual([
      ['submit', 'agent:equipment-health'],
      ['join', 'agent:safety'],
    ]);

    // The technician's rejection teaches both proposers, not only the item's submitter.
    const before = { equipment: hub.agents.learning.mean('equipment-health', 'equipment', now), safety: hub.agents.learning.mean('safety', 'safety', now) };
    await hub.review.reject(item.id, { user: 'tech', reason: 'door was open during loading' });
    await hub.agents.idle();
    expect(hub.agents.learning.mean('equipment-health', 'equipment', now)).toBeLessThan(before.equipment);
    expect(hub.agents.learning.mean('safety', 'safety', now)).toBeLessThan(before.safety);

  });

  it("an agent's recommendation that joined a gateway's item learns the technician's verdict", async () => {
    let now = T0;
    const hub = await boot(() => now, 'gateway-joined.db');
    await hub.freezer(-15.5, T0 - 5 * MIN, now);
    // The gateway's freezer protection asked for the backup compressor first.
    const request = await hub.review.propose({
      id: 'req-backup-0001',
      site: 's1',
      gateway: GW,
      priority: 50,
      source: 'gateway',
      actionClass: 'safety',
      action: RELAY,
      confidence: 0.6,
      rationale: 'cold room warming, main compressor off',
      createdAt: now,
      expiresAt: now + 3_600_000,
    });
    expect(request.outcome).toBe('created');
    const anomaly: GatewayEvent = { v: 1, id: '6f1c2b9e-0d1f-4c55-9a39-3f1e8b1a0002', gateway: GW, ts: now - 500, kind: 'anomaly', severity: 'critical', device: 'coldroom', point: 'temperature', message: 'anomaly on coldroom/temperature: warming' };
    await hub.agents.evaluateSite('s1', anomaly);
    const pending = await hub.relayItems('pending');
    expect(pending.map((i) => [i.id, i.source])).toEqual([['req-backup-0001', 'gateway']]);
    expect((pending[0]?.evidence.proposers as Array<{ by: string }>).map((p) => p.by)).toEqual([`gateway:${GW}`, 'agent:equipment-health']);

    const before = hub.agents.learning.mean('equipment-health', 'equipment', now);
    await hub.review.reject('req-backup-0001', { user: 'tech', reason: 'door was open during loading' });
    await hub.agents.idle();
    expect(hub.agents.learning.mean('equipment-health', 'equipment', now)).toBeLessThan(before);
  });

  it('a rejected recommendation is not re-filed 24 s later, only once the rejected item would have expired', async () => {
    let now = T0 + 15 * MIN;
    const hub = await boot(() => now, 'rejected.db');
    // Above the -15 °C cold-chain limit for 13 minutes: safety asks for the backup compressor.
    await hub.freezer(-14, T0 + 2 * MIN, now);
    await hub.agents.evaluateSite('s1');
    const pending = await hub.relayItems('pending');
    expect(pending.map((i) => [i.sourceAgent, i.actionClass])).toEqual([['safety', 'cold-chain']]);
    const item = pending[0] as ReviewItem;

    // The technician rejects it; the agents evaluate again 24 s later and on every later minute.
    await hub.review.reject(item.id, { user: 'tech', reason: 'door was open during loading; main compressor restarting' });
    for (let i = 0; i < 5; i += 1) {
      now += i === 0 ? 24_000 : MIN;
      await hub.freezer(-14, now - MIN, now);
      const again = await hub.agents.evaluateSite('s1');
      expect(again?.reviewed.some((r) => JSON.stringify(r.action) === JSON.stringify(RELAY))).toBe(true);
    }
    await hub.agents.idle();
    expect(await hub.relayItems('pending')).toEqual([]);
    expect(await hub.relayItems()).toHaveLength(1);

    // Once the rejected item would have expired, the condition that persists is asked about again.
    now = item.expiresAt + MIN;
    await hub.freezer(-14, now - 15 * MIN, now);
    await hub.agents.evaluateSite('s1');
    expect(await hub.relayItems('pending')).toHaveLength(1);
  });
});
