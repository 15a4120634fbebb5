/**
 * The learning loop in the hub runtime: technicians reject one specialist's proposals through the
 * review queue; its track record (persisted in the store) falls, so its weight and the confidence
 * of its later proposals fall and fewer of them are auto-executed; a restarted hub keeps it all.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FacilityIndex, type Decision, type FacilityModel } from '../../../hub/agents/index.js';
import { AgentService } from '../../../hub/agents/runtime/index.js';
import { HubEvents } from '../../../hub/events.js';
import { featureMigrations } from '../../../hub/features.js';
import { ReviewService } from '../../../hub/review/index.js';
import { SqliteStore } from '../../../hub/store/sqlite/sqlite.js';
import { FakeCommands } from '../../review/review-contract.js';
import { tempDir } from '../../support/tmp.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2025, 0, 6, 22, 0, 0); // Monday 22:00 UTC: the office is empty

const MODEL: FacilityModel = {
  v: 1,
  sites: [
    {
      id: 's1',
      utcOffsetMin: 0,
      peakLimitKw: 120,
      serviceIntervalH: 2000,
      maxStartsPerHour: 6,
      interlocks: [],
      zones: [
        {
          id: 'office',
          kind: 'office',
          schedule: { occupied: [{ days: [1, 2, 3, 4, 5], from: '07:00', to: '19:00' }] },
          gateways: [
            {
              id: 'gw-office',
              capabilities: ['hvac'],
              points: [
                { device: 'ahu', point: 'zone_temp', role: 'zone_temp', unit: 'degC' },
                { device: 'ahu', point: 'heat_sp', role: 'setpoint_heat', unit: 'degC', writable: true },
                { device: 'ahu', point: 'cool_sp', role: 'setpoint_cool', unit: 'degC', writable: true },
                { device: 'meter', point: 'power', role: 'site_power_kw', unit: 'kW' },
              ],
            },
          ],
        },
      ],
    },
  ],
};

describe('learning from technicians in the running hub', () => {
  const dir = tempDir('swarmgate-agent-learning-');
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function boot(clock: () => number, db = 'hub.db', evaluationIntervalMs = 0) {
    const store = SqliteStore.open({ path: `${dir.path}/${db}`, migrations: featureMigrations('sqlite') });
    const events = new HubEvents();
    const commands = new FakeCommands();
    const review = await ReviewService.open({ store, clock });
    const agents = await AgentService.start({ store, events, commands, review, facility: new FacilityIndex(MODEL), threshold: 0.8, settleMs: 1, voteTimeoutMs: 100, clock, evaluationIntervalMs });
    const stop = async (): Promise<void> => {
      await agents.stop();
      await review.stop();
      await store.close();
    };
    cleanups.push(stop);
    return { store, review, agents, commands, stop };
  }

  it('rejections lower the energy specialist’s weight and confidence; fewer setbacks run alone; it survives a restart', async () => {
    let now = T0;
    const clock = (): number => now;
    let hub = await boot(clock);
    let seq = 0;
    const night = async (h: Awaited<ReturnType<typeof boot>>): Promise<Decision> => {
      seq += 1;
      const r = (p: string, d: string, v: number) => ({ d, p, v, q: 'good' as const, ts: now - 1000 });
      await h.store.ingestBatch({ v: 1, gateway: 'gw-office', bootId: 'boot-0001', seq, sentAt: now, historical: false, readings: [r('heat_sp', 'ahu', 21), r('cool_sp', 'ahu', 28), r('zone_temp', 'ahu', 21), r('power', 'meter', 130)] });
      const report = await h.agents.evaluateSite('s1');
      const setback = report?.decisions.find((d) => d.proposal.kind === 'setback');
      if (!setback || !report) throw new Error('no setback proposed');
      // The technician overrides every energy proposal that reaches the queue.
      for (const item of await h.review.list({ site: 's1', state: 'pending' })) {
        if (item.sourceAgent === 'energy') await h.review.reject(item.id, { user: 'tech', reason: 'tenant works late; keep setpoints' });
      }
      await h.agents.idle();
      return Object.assign(setback, { executedNow: report.executed.some((d) => d.id === setback.id) });
    };

    const rounds: Array<{ confidence: number; weight: number; executed: boolean }> = [];
    for (let i = 0; i < 6; i += 1) {
      now = T0 + i * DAY;
      const d = (await night(hub)) as Decision & { executedNow: boolean };
      rounds.push({ confidence: d.confidence, weight: d.weights.energy ?? 0, executed: d.executedNow });
    }
    for (let i = 1; i < rounds.length; i += 1) {
      expect(rounds[i]?.confidence).toBeLessThan(rounds[i - 1]?.confidence ?? 0);
      expect(rounds[i]?.weight).toBeLessThan(rounds[i - 1]?.weight ?? 0);
    }
    expect(rounds[0]?.executed).toBe(true);
    const firstHalf = rounds.slice(0, 3).filter((r) => r.executed).length;
    const secondHalf = rounds.slice(3).filter((r) => r.executed).length;
    expect(secondHalf).toBe(0);
    expect(secondHalf).toBeLessThan(firstHalf);
    expect(hub.commands.creates).toBe(firstHalf);
    const before = hub.agents.learning.mean('energy', 'energy', now);
    expect(before).toBeLessThan(0.25);
    // Every rejection is audited with the technician's reason.
    const rejected = await hub.review.list({ site: 's1', state: 'rejected', limit: 1000 });
    expect(rejected.length).toBeGreaterThanOrEqual(rounds.length);
    expect((await hub.review.audit(rejected[0]?.id))[1]).toMatchObject({ action: 'reject', actor: 'tech', note: 'tenant works late; keep setpoints' });

    // Restart: the learned weights come back from the store; re-announced items are not learned twice.
    await hub.stop();
    cleanups.length = 0;
    hub = await boot(clock);
    await hub.review.sweep();
    await hub.agents.idle();
    expect(hub.agents.learning.mean('energy', 'energy', now)).toBeCloseTo(before, 6);
    now += DAY;
    const after = (await night(hub)) as Decision & { executedNow: boolean };
    expect(after.confidence).toBeLessThan(rounds[rounds.length - 1]?.confidence ?? 0);
    expect(after.executedNow).toBe(false);
    expect(after.proposal.rawConfidence).toBeCloseTo(0.88);
  });

  it('periodic evaluations do not pile up duplicates: one pending item per action', async () => {
    let now = T0;
    const hub = await boot(() => now, 'dedupe.db');
    await hub.agents.learning.record('energy', 'energy', 'technician-rejected', 3, now); // unsure: everything goes to review
    for (let i = 0; i < 3; i += 1) {
      now = T0 + i * 60_000;
      const r = (p: string, d: string, v: number) => ({ d, p, v, q: 'good' as const, ts: now - 1000 });
      await hub.store.ingestBatch({ v: 1, gateway: 'gw-office', bootId: 'boot-0001', seq: i + 1, sentAt: now, historical: false, readings: [r('heat_sp', 'ahu', 21), r('cool_sp', 'ahu', 28), r('zone_temp', 'ahu', 21), r('power', 'meter', 130)] });
      const report = await hub.agents.evaluateSite('s1');
      expect(report?.reviewed.length).toBeGreaterThan(0);
    }
    const pending = await hub.review.list({ site: 's1', state: 'pending' });
    const keys = pending.map((p) => `${p.actionClass}|${JSON.stringify(p.action)}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(pending.map((p) => p.actionClass).sort()).toEqual(['peak-shed', 'setback']);
    expect(hub.commands.creates).toBe(0);
  });

  it('the periodic evaluation finds work without any event', async () => {
    const hub = await boot(Date.now, 'periodic.db', 30);
    const now = Date.now();
    await hub.store.ingestBatch({ v: 1, gateway: 'gw-office', bootId: 'boot-0001', seq: 1, sentAt: now, historical: false, readings: [{ d: 'meter', p: 'power', v: 130, q: 'good', ts: now - 1000 }, { d: 'ahu', p: 'cool_sp', v: 24, q: 'good', ts: now - 1000 }] });
    const deadline = Date.now() + 5000;
    let items = await hub.review.list({ site: 's1' });
    while (items.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      items = await hub.review.list({ site: 's1' });
    }
    expect(items.map((i) => [i.actionClass, i.action])).toEqual([['peak-shed', { kind: 'write', device: 'ahu', point: 'cool_sp', value: 25 }]]);
    expect(items[0]).toMatchObject({ priority: 75, source: 'hub', sourceAgent: 'energy', state: 'pending' });
  });
});
