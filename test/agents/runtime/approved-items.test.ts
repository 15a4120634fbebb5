/**
 * Hub items a technician approved, carried out by the agents' executor on a real store: an item
 * past its deadline is not sent (as a gateway's item is not); one sent in time says who approved
 * it and carries the deadline; a rollback writes back the value just before the write, not the
 * one from when the item was filed; and with two hub processes, the one that did not send the
 * command leaves the item to the one checking its effect, and an anomaly event the other process
 * stored is evaluated by the one running the site's agents.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FacilityIndex, type FacilityModel } from '../../../hub/agents/index.js';
import { AgentService } from '../../../hub/agents/runtime/index.js';
import { HubEvents } from '../../../hub/events.js';
import { featureMigrations } from '../../../hub/features.js';
import { ReviewService, type ReviewItem } from '../../../hub/review/index.js';
import { SqliteStore } from '../../../hub/store/sqlite/sqlite.js';
import { FakeCommands } from '../../review/review-contract.js';
import { tempDir } from '../../support/tmp.js';

/** Monday 22:00 UTC: the office is empty, the energy agent proposes a heating setback (21 -> 16). */
const T0 = Date.UTC(2025, 0, 6, 22, 0, 0);
const GW = 'gw-office';
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
              id: GW,
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

describe('approved agent items', () => {
  const dir = tempDir('swarmgate-agent-approved-');
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  function rig(db: string, start = T0) {
    const t = { now: start };
    const clock = (): number => t.now;
    const store = SqliteStore.open({ path: `${dir.path}/${db}`, migrations: featureMigrations('sqlite') });
    const commands = new FakeCommands(clock);
    let seq = 0;
    const ingest = (values: Array<[string, string, number]>, ts = t.now - 1000): Promise<unknown> =>
      store.ingestBatch({ v: 1, gateway: GW, bootId: 'boot-0001', seq: ++seq, sentAt: t.now, historical: false, readings: values.map(([d, p, v]) => ({ d, p, v, q: 'good' as const, ts })) });
    /** One hub process on the store: review queue and agents (nothing is confident enough to act alone). */
    const hub = async (settleMs = 1, ownsSite?: () => boolean) => {
      const review = await ReviewService.open({ store, commands, clock });
      const agents = await AgentService.start({ store, events: new HubEvents(), commands, review, facility: new FacilityIndex(MODEL), threshold: 0.99, settleMs, voteTimeoutMs: 100, clock, ...(ownsSite ? { ownsSite } : {}) });
      cleanups.push(async () => {
        await agents.stop();
        await review.stop();
      });
      return { review, agents };
    };
    cleanups.push(() => store.close());
    return { t, store, commands, ingest, hub };
  }

  const setback = async (review: ReviewService): Promise<ReviewItem> => {
    const item = (await review.list({ state: 'pending' })).find((i) => i.actionClass === 'setback');
    expect(item?.action).toEqual({ kind: 'write', device: 'ahu', point: 'heat_sp', value: 16 });
    return item as ReviewItem;
  };

  it('past its deadline it is not sent; in time, the command says who approved it and carries the deadline', async () => {
    const r = rig('deadline.db');
    const a = await r.hub();
    await r.ingest([['ahu', 'heat_sp', 21], ['ahu', 'cool_sp', 28], ['ahu', 'zone_temp', 21], ['meter', 'power', 130]]);
    await a.agents.evaluateSite('s1');
    const late = await setback(a.review);
    // Approved from the CLI (no hub process carries it out then); the hub sweeps after the deadline.
    const cli = await ReviewService.open({ store: r.store, clock: () => r.t.now });
    await cli.approve(late.id, { user: 'tech' });
    r.t.now = late.expiresAt + 60_000;
    await a.review.sweep();
    await a.review.idle();
    await a.agents.idle();
    expect((await a.review.stored(late.id))?.item).toMatchObject({ state: 'failed', reason: expect.stringMatching(/^not sent: the item's deadline .* passed/) as unknown });
    expect(r.commands.creates).toBe(0);

    // The next night's setback, approved in time on the hub.
    r.t.now = T0 + 24 * 3_600_000;
    await r.ingest([['ahu', 'heat_sp', 21], ['ahu', 'cool_sp', 28], ['ahu', 'zone_temp', 21], ['meter', 'power', 130]]);
    await a.agents.evaluateSite('s1');
    const timely = await setback(a.review);
    await a.review.approve(timely.id, { user: 'tech' });
    await a.review.idle();
    await a.agents.idle();
    const sent = [...r.commands.records.values()];
    expect(sent.map((c) => c.command)).toEqual([expect.objectContaining({ origin: 'review:tech', expiresAt: timely.expiresAt, action: timely.action })]);
  });

  it('a rollback writes back the value just before the write, not the one from when the item was filed', async () => {
    const r = rig('previous.db');
    const a = await r.hub();
    await r.ingest([['ahu', 'heat_sp', 21], ['ahu', 'cool_sp', 28], ['ahu', 'zone_temp', 21], ['meter', 'power', 100]]);
    await a.agents.evaluateSite('s1');
    const item = await setback(a.review);
    // 01:00: the night operator sets 19; 01:30 the setback is approved, the controller keeps 19.
    r.t.now = T0 + 3 * 3_600_000;
    await r.ingest([['ahu', 'heat_sp', 19]]);
    r.t.now = T0 + 3.5 * 3_600_000;
    await r.ingest([['ahu', 'heat_sp', 19]], r.t.now);
    await a.review.approve(item.id, { user: 'tech' });
    await a.review.idle();
    await a.agents.idle();
    expect((await a.review.stored(item.id))?.item).toMatchObject({ state: 'failed', reason: expect.stringMatching(/no-effect; rollback applied/) as unknown });
    expect([...r.commands.records.values()].map((c) => c.command.action)).toEqual([
      { kind: 'write', device: 'ahu', point: 'heat_sp', value: 16 },
      { kind: 'write', device: 'ahu', point: 'heat_sp', value: 19 },
    ]);
  });

  it('two hub processes: the one that did not send the command leaves the item to the one checking its effect', async () => {
    const r = rig('two-hubs.db');
    const SETTLE = 60_000;
    const a = await r.hub(SETTLE, () => true);
    const b = await r.hub(SETTLE, () => false);
    await r.ingest([['ahu', 'heat_sp', 21], ['ahu', 'cool_sp', 28], ['ahu', 'zone_temp', 21], ['meter', 'power', 130]]);
    await a.agents.evaluateSite('s1');
    const item = await setback(a.review);
    // The approval lands on A, which sends the command and waits out the settling window.
    await a.review.approve(item.id, { user: 'tech' });
    await expect.poll(() => r.commands.creates, { timeout: 10_000 }).toBe(1);
    // B's sweep during the window: the item stays approved (before: B marked it executed at once).
    r.t.now += SETTLE / 2;
    await b.review.sweep();
    await b.review.idle();
    expect((await b.review.stored(item.id))?.item.state).toBe('approved');
    // Long after the window (A gone, say), B concludes from the command.
    r.t.now += 2 * SETTLE + 3 * 60_000;
    await b.review.sweep();
    await b.review.idle();
    expect((await b.review.stored(item.id))?.item.state).toBe('executed');
    expect(r.commands.creates).toBe(1);
  });

  it('two hub processes: an anomaly the other process ingested is evaluated once by the one running the site', async () => {
    const r = rig('catch-up.db');
    const a = await r.hub(1, () => true);
    await r.ingest([['ahu', 'heat_sp', 21], ['ahu', 'cool_sp', 28], ['ahu', 'zone_temp', 21], ['meter', 'power', 130]]);
    // Process B (not running the site's agents) stored it; A never saw it live.
    const event = { v: 1 as const, id: 'evt-zone-temp-0001', gateway: GW, ts: r.t.now, kind: 'anomaly' as const, severity: 'warning' as const, device: 'ahu', point: 'zone_temp', message: 'zone temperature unusual' };
    await r.store.insertEvent(event, 's1', r.t.now);
    expect(await a.agents.catchUp()).toBe(1);
    await a.agents.idle();
    expect(await setback(a.review)).toBeDefined();
    expect(await a.agents.catchUp()).toBe(0);
  });
});
