/**
 * The emergence monitor when events do not arrive as they happen (hub/incidents): in any order
 * (the same incidents as in order), late (a site's store-and-forward backlog after an uplink
 * outage forms the incident it formed then, and does not join today's), stamped ahead of the
 * hub's clock (one gateway with a bad clock closes nothing), stored by another hub process (caught
 * up in the order they were stored, however old), and across a restart, a failed write and a
 * lease handover (nothing lost, nothing overwritten with what a process held before).
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { sqlFor, type Sql, type SqlValue } from '../../hub/db/sql.js';
import { featureMigrations } from '../../hub/features.js';
import { Correlator, type AnomalyInput } from '../../hub/incidents/correlate.js';
import { IncidentService, type IncidentServiceOptions, type PointCatalog } from '../../hub/incidents/service.js';
import { SqliteStore } from '../../hub/store/sqlite/sqlite.js';
import type { GatewayEvent } from '../../shared/wire/messages.js';

const T0 = 1_700_000_000_000;
const MIN = 60_000;
const HOUR = 60 * MIN;
const OAT = { tags: ['outside', 'air', 'temp', 'sensor'], unit: 'degC' };
const VOLT = { tags: ['elec', 'volt', 'sensor'], unit: 'V' };
const FILTER = { tags: ['filter', 'delta', 'pressure', 'sensor'], unit: 'Pa' };

let n = 0;
function alarm(site: string, gateway: string, kind: { tags: string[]; unit: string }, ts: number, device = 'ahu1', point = 'oat'): AnomalyInput {
  return { eventId: `late-${++n}`, ts, site, gateway, device, point, tags: kind.tags, unit: kind.unit, severity: 'warning' };
}

const fleetOf = (c: Correlator) => c.openIncidents().filter((i) => i.kind === 'fleet');

describe('correlator: events out of order and late', () => {
  it('groups the same whatever order the events arrive in', () => {
    const five = new Map([['s1', 5]]);
    // Three of five gateways over 50 min: too spread for the window, too few for the hour.
    for (const order of [[0, 30, 50], [30, 50, 0], [50, 0, 30]]) {
      const c = new Correlator();
      for (const t of order) c.add(alarm('s1', `g${t}`, OAT, T0 + t * MIN), five);
      expect(fleetOf(c)).toEqual([]);
    }
    // Three within 10 minutes, the earliest arriving last: the site incident it is in order.
    const c = new Correlator();
    for (const t of [6, 9, 0]) c.add(alarm('s1', `g${t}`, OAT, T0 + t * MIN), five);
    const [site] = fleetOf(c);
    expect(site).toMatchObject({ scope: 'site', site: 's1', firstSeen: T0, lastSeen: T0 + 9 * MIN });
    expect(site?.members.map((m) => m.gateway).sort()).toEqual(['g0', 'g6', 'g9']);
  });

  it("keeps a backlog alarm from hours before out of today's fleet incident", () => {
    const pop = new Map([['s1', 10], ['s2', 10], ['s3', 10], ['s4', 10]]);
    const c = new Correlator();
    for (let g = 0; g < 4; g++) for (const s of ['s1', 's2', 's3']) c.add(alarm(s, `${s}-g${g}`, VOLT, T0 + 5 * HOUR + g * MIN, 'meter1', 'voltage'), pop);
    const [grid] = fleetOf(c);
    expect(grid).toMatchObject({ scope: 'fleet', firstSeen: T0 + 5 * HOUR });
    const old = c.add(alarm('s4', 's4-g0', VOLT, T0, 'meter1', 'voltage'), pop, undefined, T0 + 5 * HOUR + 5 * MIN);
    expect(old.kind).toBe('equipment');
    expect(grid?.members).toHaveLength(12);
    expect(grid?.firstSeen).toBe(T0 + 5 * HOUR);
  });
});

/** 3 sites x 10 gateways with an outside-air point; filters are single-equipment. */
const points: PointCatalog = {
  describe: async (_gw, _device, point) => (point === 'dp' ? FILTER : OAT),
  peers: async () => new Map([['s1', 10], ['s2', 10], ['s3', 10]]),
};

function event(gateway: string, ts: number, point = 'oat', device = 'ahu1'): GatewayEvent {
  return { v: 1, id: randomUUID(), gateway, ts, kind: 'anomaly', severity: 'warning', device, point, message: `anomaly on ${device}.${point}` };
}

describe('incident service: late, skewed and failed', () => {
  const opened: { stop(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.stop();
  });
  function fresh(): { store: SqliteStore; sql: Sql } {
    const store = SqliteStore.open({ path: ':memory:', migrations: featureMigrations('sqlite'), journal: false });
    opened.push({ stop: async () => store.close() });
    return { store, sql: sqlFor(store) };
  }
  async function service(options: IncidentServiceOptions): Promise<IncidentService> {
    const s = await IncidentService.open({ sweepEveryMs: 0, catchUpEveryMs: 0, ...options });
    opened.unshift(s);
    return s;
  }
  const rows = (sql: Sql, q: string, args: SqlValue[] = []) => sql.all(q, args);

  it('groups an event stamped hours ahead at the hub clock: the open heat wave stays open and takes the next alarm', async () => {
    const { sql } = fresh();
    let now = T0;
    const s = await service({ sql, points, clock: () => now });
    let heat;
    for (let g = 0; g < 6; g++) {
      now = T0 + g * MIN;
      heat = await s.record('s1', `s1-g${g}`, event(`s1-g${g}`, now));
    }
    expect(heat).toMatchObject({ kind: 'fleet', scope: 'site', state: 'open', gateways: 6 });
    now = T0 + 6 * MIN;
    const skewed = await s.record('s2', 's2-g9', event('s2-g9', now + 3 * HOUR, 'dp', 'fan'));
    expect(skewed).toMatchObject({ kind: 'equipment', state: 'open', lastSeen: now });
    now = T0 + 8 * MIN;
    const next = await s.record('s1', 's1-g7', event('s1-g7', now));
    expect(next).toMatchObject({ id: heat?.id, state: 'open', gateways: 7 });
    expect(await s.sweep(T0 + 60 * MIN)).toBe(0);
    expect(await s.sweep(T0 + 69 * MIN)).toBe(2); // both quiet an hour by the hub clock
  });

  it("groups a site's backlog, delivered between live alarms, as the one incident it was", async () => {
    const { sql } = fresh();
    const now = T0 + 4 * HOUR;
    const s = await service({ sql, points, clock: () => now });
    const burst = Array.from({ length: 6 }, (_, g) => event(`s1-g${g}`, T0 + g * 10_000));
    for (const e of burst.slice(0, 3)) await s.record('s1', e.gateway, e);
    await s.record('s2', 's2-g0', event('s2-g0', now, 'dp', 'fan')); // live, between two parts of the backlog
    for (const e of burst.slice(3)) await s.record('s1', e.gateway, e);
    const fleet = await s.list({ kind: 'fleet' });
    expect(fleet).toHaveLength(1);
    expect(fleet[0]).toMatchObject({ state: 'open', scope: 'site', site: 's1', gateways: 6, firstSeen: T0, lastSeen: T0 + 50_000 });
    // Quiet an hour after it arrived (its alarms are hours old): closed then, not before.
    expect(await s.sweep(now + 59 * MIN)).toBe(0);
    expect(await s.sweep(now + 61 * MIN)).toBe(2);
  });

  it('catches up on what another process stored, in the order it was stored: a late backlog, and past an event stamped ahead', async () => {
    const { store, sql } = fresh();
    let now = T0 + 20 * MIN;
    const leader = await service({ sql, points, leaseTerm: () => 1, stored: store, clock: () => now });
    for (const g of ['s2-g1', 's2-g2']) await store.insertEvent(event(g, now - MIN), 's2', now);
    expect(await leader.catchUp()).toBe(2);
    // A site's backlog, 30 min old, stored by the other process after an uplink outage.
    now += MIN;
    const backlog = ['s1-g1', 's1-g2', 's1-g3', 's1-g4', 's1-g5', 's1-g6'].map((g, k) => event(g, now - 30 * MIN + k * 10_000));
    for (const e of backlog) await store.insertEvent(e, 's1', now);
    expect(await leader.catchUp()).toBe(6);
    const [site] = await leader.list({ kind: 'fleet', site: 's1' });
    expect(site).toMatchObject({ scope: 'site', gateways: 6, firstSeen: now - 30 * MIN });
    // A gateway stamping 2 h ahead, then ordinary alarms: every one is caught up.
    await store.insertEvent(event('s3-g9', now + 2 * HOUR), 's3', now);
    expect(await leader.catchUp()).toBe(1);
    now += MIN;
    for (const [k, g] of ['s3-g1', 's3-g2', 's3-g3', 's3-g4', 's3-g5'].entries()) await store.insertEvent(event(g, now + k * 1000), 's3', now);
    expect(await leader.catchUp()).toBe(5);
    expect(await leader.catchUp()).toBe(0);
    expect((await rows(sql, 'SELECT event_id FROM incident_members')).length).toBe(14);
  });

  it('keeps a rollout incident a rollout across a restart: the members keep their release and unit', async () => {
    const { sql } = fresh();
    const rollout = new Set(['s1-g1', 's2-g1', 's3-g1', 's1-g2']);
    const options: IncidentServiceOptions = {
      sql,
      points,
      clock: () => T0 + 5 * MIN,
      gatewayVersion: async (g) => (rollout.has(g) ? '2.1.0' : '2.0.3'),
      fleetVersions: async () => new Map([['2.1.0', 6], ['2.0.3', 24]]),
    };
    // Two alarms of the rollout, a restart, the third: a fleet incident naming the release.
    let s = await service(options);
    await s.record('s1', 's1-g1', event('s1-g1', T0));
    await s.record('s2', 's2-g1', event('s2-g1', T0 + MIN));
    await s.stop();
    s = await service(options);
    const third = await s.record('s3', 's3-g1', event('s3-g1', T0 + 2 * MIN));
    expect(third).toMatchObject({ kind: 'fleet', scope: 'fleet', release: '2.1.0', unit: 'degC', gateways: 3 });
    await s.stop();
    s = await service(options);
    const fourth = await s.record('s1', 's1-g2', event('s1-g2', T0 + 3 * MIN));
    expect(fourth).toMatchObject({ id: third?.id, release: '2.1.0', unit: 'degC', gateways: 4 });
  });

  it('writes an event the store refused once when it comes again (a redelivery), not only in memory', async () => {
    const { sql } = fresh();
    let fail = true;
    const flaky: Sql = {
      all: async (q, args) => {
        if (fail && q.startsWith('INSERT INTO incident_members')) {
          fail = false;
          throw new Error('database is locked');
        }
        return sql.all(q, args);
      },
    };
    const s = await service({ sql: flaky, points, clock: () => T0 });
    const e = event('s1-g1', T0);
    await expect(s.record('s1', 's1-g1', e)).rejects.toThrow('database is locked');
    expect(await rows(sql, 'SELECT 1 FROM incident_members WHERE event_id = ?', [e.id])).toHaveLength(0);
    expect(await s.record('s1', 's1-g1', e)).toBeUndefined();
    expect(await rows(sql, 'SELECT 1 FROM incident_members WHERE event_id = ?', [e.id])).toHaveLength(1);
    expect(await s.list()).toMatchObject([{ kind: 'equipment', memberCount: 1, state: 'open' }]);
  });

  it("reloads on taking the lease anew: the site incident another process formed meanwhile is not overwritten with what it held before", async () => {
    const { store, sql } = fresh();
    const clock = () => T0 + 3 * MIN;
    let holder: 'a' | 'b' = 'b';
    let bTerm = 1;
    const b = await service({ sql, points, stored: store, clock, leaseTerm: () => (holder === 'b' ? bTerm : undefined) });
    const first = event('s1-g1', T0);
    await b.record('s1', 's1-g1', first); // b holds the lease: an equipment incident
    holder = 'a'; // b stalls; a takes the lease and forms the site incident with b's alarm in it
    const a = await service({ sql, points, stored: store, clock, leaseTerm: () => (holder === 'a' ? 1 : undefined) });
    for (const [k, g] of ['s1-g2', 's1-g3', 's1-g4', 's1-g5', 's1-g6'].entries()) await a.record('s1', g, event(g, T0 + (k + 1) * 20_000));
    const [site] = await a.list({ kind: 'fleet' });
    expect(site).toMatchObject({ scope: 'site', gateways: 6, memberCount: 6 });
    // a stops; b takes the lease again (a new term) and a live alarm comes in before any catch-up.
    holder = 'b';
    bTerm = 2;
    const live = await b.record('s1', 's1-g7', event('s1-g7', T0 + 3 * MIN));
    expect(live).toMatchObject({ id: site?.id, kind: 'fleet', gateways: 7, memberCount: 7 });
    expect((await s1Rows(sql)).map((r) => r.kind)).toEqual(['fleet']);
  });
});

async function s1Rows(sql: Sql): Promise<{ kind: string; state: string }[]> {
  return (await sql.all("SELECT kind, state FROM incidents WHERE state = 'open' AND site = 's1'")) as { kind: string; state: string }[];
}
