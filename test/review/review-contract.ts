/**
 * The review queue contract both stores pass: idempotent submit, ordering and filters, decisions
 * with audit before/after, exactly one winner among concurrent deciders (also across two store
 * connections, like two hub processes or the CLI next to the hub), expiry, execution once,
 * everything surviving a reopen, one pending item per action (propose: join, hold back after a
 * rejection) and charts read again from the store when an item is shown.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ReviewService, type NewReviewItem } from '../../hub/review/index.js';
import { sqlFor } from '../../hub/db/sql.js';
import type { CommandRecord, HubStore } from '../../hub/store/types.js';
import { isSwarmgateError } from '../../shared/kit/errors.js';
import type { Action } from '../../shared/wire/messages.js';

export interface ReviewStores {
  /** A new connection to the same database (another process, the CLI). */
  connect(): Promise<HubStore>;
  /** Another, empty database: opened with the feature migrations up to `upTo` (all by default). */
  scratch(): Promise<{ open(upTo?: number): Promise<HubStore>; cleanup(): Promise<void> }>;
  cleanup(): Promise<void>;
}

const T0 = Date.UTC(2025, 2, 3, 9, 0, 0);
const write = (value: number): Action => ({ kind: 'write', device: 'coldroom', point: 'setpoint', value });

function item(site: string, over: Partial<NewReviewItem> = {}): NewReviewItem {
  return {
    id: `rv-${randomUUID().slice(0, 12)}`,
    site,
    // A gateway of its own: the queue holds one pending item per gateway and action.
    gateway: `gw-${randomUUID().slice(0, 8)}`,
    priority: 50,
    source: 'gateway',
    actionClass: 'setpoint',
    action: write(-20),
    confidence: 0.6,
    rationale: 'cold room drifting',
    evidence: { telemetry: [{ device: 'coldroom', point: 'temperature', samples: [{ ts: T0 - 60_000, value: -17 }] }] },
    createdAt: T0,
    expiresAt: T0 + 3_600_000,
    ...over,
  };
}

/** Commands that apply at once; counts how many were created per id. */
export class FakeCommands {
  readonly records = new Map<string, CommandRecord>();
  creates = 0;
  /** `clock`: the time commands are stamped with (the test's clock). */
  constructor(private readonly clock: () => number = Date.now) {}
  async create(input: { gateway: string; action: Action; origin: string; id?: string; expiresAt?: number }): Promise<CommandRecord> {
    const id = input.id ?? randomUUID();
    if (this.records.has(id)) throw new Error(`duplicate command id ${id}`);
    this.creates += 1;
    const now = this.clock();
    const r: CommandRecord = { id, gateway: input.gateway, site: 's', command: { v: 1, id, ts: now, origin: input.origin, action: input.action, ...(input.expiresAt === undefined ? {} : { expiresAt: input.expiresAt }) }, status: 'applied', attempts: 1, createdAt: now, updatedAt: now, deadline: null };
    this.records.set(id, r);
    return r;
  }
  async get(id: string): Promise<CommandRecord | undefined> {
    return this.records.get(id);
  }
  async settled(id: string): Promise<CommandRecord> {
    const r = this.records.get(id);
    if (!r) throw new Error('unknown');
    return r;
  }
}

async function conflictOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return isSwarmgateError(err) ? `${err.code}/${err.status}` : String(err);
  }
}

export function reviewContract(name: string, open: () => Promise<ReviewStores>, enabled = true): void {
  describe.skipIf(!enabled)(`review queue contract: ${name}`, () => {
    let stores: ReviewStores;
    let store: HubStore;
    let now = T0;
    const clock = (): number => now;
    let svc: ReviewService;

    beforeAll(async () => {
      stores = await open();
      store = await stores.connect();
      svc = await ReviewService.open({ store, clock });
    });
    afterAll(async () => {
      await svc?.stop();
      await store?.close();
      await stores?.cleanup();
    });

    it('submit is idempotent on id and audited once', async () => {
      const site = `s-${randomUUID().slice(0, 6)}`;
      const input = item(site);
      const a = await svc.submit(input);
      const b = await svc.submit({ ...input, rationale: 'changed', priority: 99 });
      expect(a).toMatchObject({ id: input.id, state: 'pending', version: 1, site, priority: 50, source: 'gateway', confidence: 0.6 });
      expect(b).toEqual(a);
      expect(await svc.get(input.id)).toEqual(a);
      const trail = await svc.audit(input.id);
      expect(trail.map((e) => e.action)).toEqual(['submit']);
      expect(trail[0]?.before).toBeUndefined();
      expect(trail[0]?.after).toEqual(a);
      expect(await svc.get('rv-does-not-exist')).toBeUndefined();
    });

    it('lists by priority desc then createdAt asc, with site, state, priority filters and paging', async () => {
      const site = `s-${randomUUID().slice(0, 6)}`;
      const low = await svc.submit(item(site, { priority: 10, createdAt: T0 }));
      const highLate = await svc.submit(item(site, { priority: 90, createdAt: T0 + 2000 }));
      const highEarly = await svc.submit(item(site, { priority: 90, createdAt: T0 + 1000 }));
      const mid = await svc.submit(item(site, { priority: 50, createdAt: T0 }));
      await svc.submit(item(`${site}-other`, { priority: 100 }));
      expect((await svc.list({ site })).map((i) => i.id)).toEqual([highEarly.id, highLate.id, mid.id, low.id]);
      expect((await svc.list({ site, minPriority: 50 })).map((i) => i.id)).toEqual([highEarly.id, highLate.id, mid.id]);
      expect((await svc.list({ site, limit: 2, offset: 1 })).map((i) => i.id)).toEqual([highLate.id, mid.id]);
      await svc.reject(mid.id, { user: 'ann', reason: 'not needed' });
      expect((await svc.list({ site, state: 'pending' })).map((i) => i.id)).toEqual([highEarly.id, highLate.id, low.id]);
      expect((await svc.list({ site, state: 'rejected' })).map((i) => i.id)).toEqual([mid.id]);
      // A list view without the evidence: the same items, evidence left empty.
      const full = await svc.list({ site });
      expect(full[0]?.evidence).not.toEqual({});
      expect(await svc.list({ site, evidence: false })).toEqual(full.map((i) => ({ ...i, evidence: {} })));
    });

    it('approve, reject and modify record who, when, what, with before/after in the audit', async () => {
      const site = `s-${randomUUID().slice(0, 6)}`;
      const [a, r, m] = [item(site), item(site), item(site)];
      for (const x of [a, r, m]) await svc.submit(x);
      now = T0 + 60_000;
      const approved = await svc.approve(a.id, { user: 'ann', note: 'looks right' });
      expect(approved).toMatchObject({ state: 'approved', decidedBy: 'ann', decidedAt: now, reason: 'looks right', version: 2 });
      expect(approved.commandId).toMatch(/^rv-[0-9a-f]{32}$/);
      const rejected = await svc.reject(r.id, { user: 'bob', reason: 'door was open, not a fault' });
      expect(rejected).toMatchObject({ state: 'rejected', decidedBy: 'bob', reason: 'door was open, not a fault', version: 2 });
      expect(rejected.commandId).toBeUndefined();
      // A modification changes the value, not what is written.
      expect(await conflictOf(svc.modify(m.id, { user: 'cy', action: { kind: 'write', device: 'coldroom', point: 'door_heater', value: -22 } }))).toBe('SWG_ERR_REVIEW_INVALID/400');
      await expect(svc.modify(m.id, { user: 'cy', action: { kind: 'write', device: 'ahu1', point: 'setpoint', value: -22 } })).rejects.toThrow(/^action\.device: the item writes coldroom\/setpoint; a modification may change the value, not the device/);
      await expect(svc.modify(m.id, { user: 'cy', action: { kind: 'mode', mode: 'manual' } })).rejects.toThrow(/^action\.kind: the item recommends a write/);
      const modified = await svc.modify(m.id, { user: 'cy', action: write(-22), note: 'colder' });
      expect(modified).toMatchObject({ state: 'approved', modifiedAction: write(-22), action: write(-20), decidedBy: 'cy' });

      const trail = await svc.audit(m.id);
      expect(trail.map((e) => [e.action, e.actor])).toEqual([
        ['submit', `gateway:${m.gateway}`],
        ['modify', 'cy'],
      ]);
      expect(trail[1]).toMatchObject({ at: now, note: 'colder', before: { state: 'pending', version: 1 }, after: { state: 'approved', version: 2, modifiedAction: write(-22) } });
      const all = await svc.audit();
      expect(all.filter((e) => [a.id, r.id, m.id].includes(e.itemId))).toHaveLength(6);
      expect(all.map((e) => e.seq)).toEqual([...all.map((e) => e.seq)].sort((x, y) => x - y));

      expect(await conflictOf(svc.approve(r.id, { user: 'ann' }))).toBe('SWG_ERR_REVIEW_CONFLICT/409');
      expect(await conflictOf(svc.approve('rv-missing', { user: 'ann' }))).toBe('SWG_ERR_REVIEW_UNKNOWN/404');
      expect(await conflictOf(svc.reject(a.id, { user: 'x', reason: ' ' }))).toBe('SWG_ERR_REVIEW_INVALID/400');
      expect(await conflictOf(svc.approve(a.id, { user: '  ' }))).toBe('SWG_ERR_REVIEW_INVALID/400');
      expect(await conflictOf(svc.modify(a.id, { user: 'x', action: { kind: 'write', device: 'bad device', point: 'p', value: 1 } }))).toBe('SWG_ERR_REVIEW_INVALID/400');
      now = T0;
    });

    it('two technicians deciding at once: exactly one wins, the other gets 409 (same and separate connections)', async () => {
      const site = `s-${randomUUID().slice(0, 6)}`;
      const other = await stores.connect();
      const svc2 = await ReviewService.open({ store: other, clock });
      try {
        for (let round = 0; round < 5; round += 1) {
          const x = await svc.submit(item(site));
          const attempts = [svc.approve(x.id, { user: 'ann' }), svc2.reject(x.id, { user: 'bob', reason: 'no' }), svc2.approve(x.id, { user: 'cy' }), svc.modify(x.id, { user: 'dee', action: write(-25) })];
          const results = await Promise.allSettled(attempts);
          const won = results.filter((r) => r.status === 'fulfilled');
          expect(won).toHaveLength(1);
          for (const r of results) if (r.status === 'rejected') expect(isSwarmgateError(r.reason, 'SWG_ERR_REVIEW_CONFLICT') && r.reason.status === 409).toBe(true);
          const final = await svc2.get(x.id);
          expect(final?.version).toBe(2);
          expect((await svc.audit(x.id)).map((e) => e.action).filter((a) => a !== 'submit')).toHaveLength(1);
        }
      } finally {
        await svc2.stop();
        await other.close();
      }
    });

    it('a join between the technician reading and writing does not fail the decision: it is made again on the latest item', async () => {
      const site = `s-${randomUUID().slice(0, 6)}`;
      const gateway = `gw-${randomUUID().slice(0, 6)}`;
      const otherStore = await stores.connect();
      const other = await ReviewService.open({ store: otherStore, clock });
      const repo = (svc as unknown as { repo: { get(id: string): Promise<unknown> } }).repo;
      const original = repo.get.bind(repo);
      try {
        for (const decision of ['approve', 'reject'] as const) {
          const { item: x } = await svc.propose(item(site, { gateway, action: write(decision === 'approve' ? -22 : -23) }));
          let joinedOnce = false;
          // Another hub process joins a second recommendation right after this decision read the item.
          const get = vi.spyOn(repo, 'get').mockImplementation(async (id: string) => {
            const row = await original(id);
            if (id === x.id && !joinedOnce) {
              joinedOnce = true;
              expect((await other.propose(item(site, { gateway, action: x.action, source: 'hub', sourceAgent: 'safety', priority: 90 }))).outcome).toBe('joined');
            }
            return row;
          });
          try {
            const decided = decision === 'approve' ? await svc.approve(x.id, { user: 'ann' }) : await svc.reject(x.id, { user: 'ann', reason: 'no' });
            expect(decided).toMatchObject({ state: decision === 'approve' ? 'approved' : 'rejected', priority: 90, version: 3, decidedBy: 'ann' });
            expect((await svc.audit(x.id)).map((e) => e.action)).toEqual(['submit', 'join', decision]);
          } finally {
            get.mockRestore();
          }
        }
      } finally {
        await other.stop();
        await otherStore.close();
      }
    });

    it('pending items past expiresAt expire (sweep, or when someone tries to decide)', async () => {
      const site = `s-${randomUUID().slice(0, 6)}`;
      const a = await svc.submit(item(site, { expiresAt: T0 + 1000 }));
      const b = await svc.submit(item(site, { expiresAt: T0 + 1000 }));
      const c = await svc.submit(item(site, { expiresAt: T0 + 10_000 }));
      now = T0 + 1000;
      expect(await conflictOf(svc.approve(a.id, { user: 'ann' }))).toBe('SWG_ERR_REVIEW_CONFLICT/409');
      expect((await svc.get(a.id))?.state).toBe('expired');
      const swept = await svc.sweep();
      expect(swept.expired).toBeGreaterThanOrEqual(1);
      expect((await svc.get(b.id))?.state).toBe('expired');
      expect((await svc.get(c.id))?.state).toBe('pending');
      const trail = await svc.audit(b.id);
      expect(trail[1]).toMatchObject({ action: 'expire', actor: 'system', before: { state: 'pending' }, after: { state: 'expired' } });
      now = T0;
    });

    it('an approved item is executed once: approve retried, a second process and a restart send no second command', async () => {
      const site = `s-${randomUUID().slice(0, 6)}`;
      const commands = new FakeCommands();
      const hubStore = await stores.connect();
      const hub = await ReviewService.open({ store: hubStore, commands, clock: Date.now });
      const changes: string[] = [];
      hub.onChange((i) => changes.push(`${i.id}:${i.state}`));
      const x = await hub.submit(item(site, { expiresAt: Date.now() + 60_000, createdAt: Date.now() }));
      const approved = await hub.approve(x.id, { user: 'ann' });
      expect(await conflictOf(hub.approve(x.id, { user: 'ann' }))).toBe('SWG_ERR_REVIEW_CONFLICT/409');
      await hub.idle();
      expect((await hub.get(x.id))?.state).toBe('executed');
      expect(commands.creates).toBe(1);
      expect([...commands.records.keys()]).toEqual([approved.commandId]);
      expect(changes).toEqual([`${x.id}:pending`, `${x.id}:approved`, `${x.id}:executed`]);

      // Approved by the CLI (no executor) while the hub is down; the hub executes it on start.
      const y = await svc.submit(item(site, { expiresAt: Date.now() + 60_000, createdAt: Date.now() }));
      await hub.stop();
      await hubStore.close();
      const cli = await ReviewService.open({ store, clock: Date.now });
      await cli.approve(y.id, { user: 'bob' });
      await cli.idle();
      expect((await cli.get(y.id))?.state).toBe('approved');
      const restartedStore = await stores.connect();
      const restarted = await ReviewService.open({ store: restartedStore, commands, clock: Date.now });
      const second = await ReviewService.open({ store: restartedStore, commands, clock: Date.now });
      try {
        await Promise.all([restarted.start(), second.start()]);
        await restarted.idle();
        await second.idle();
        await restarted.sweep();
        await restarted.idle();
        expect((await restarted.get(y.id))?.state).toBe('executed');
        expect((await restarted.get(x.id))?.state).toBe('executed');
        // Other tests' approvals (made without an executor) ran too; x and y each had exactly one command.
        const ids = [...commands.records.keys()];
        expect(ids.filter((id) => id === approved.commandId)).toHaveLength(1);
        const yCommand = (await restarted.get(y.id))?.commandId;
        expect(ids.filter((id) => id === yCommand)).toHaveLength(1);
        expect(commands.creates).toBe(ids.length);
        expect((await restarted.audit(y.id)).map((e) => e.action)).toEqual(['submit', 'approve', 'execute']);
      } finally {
        await restarted.stop();
        await second.stop();
        await restartedStore.close();
      }
    });

    it('an approval whose gateway stays away past the item\'s deadline is not sent when it returns; a sent command carries the deadline', async () => {
      const site = `s-${randomUUID().slice(0, 6)}`;
      const commands = new FakeCommands();
      let t = Date.now();
      const hub = await ReviewService.open({ store, commands, clock: () => t });
      try {
        await hub.start();
        t += 120_000; // past the start-up grace: the stored status counts
        const x = await hub.submit(item(site, { createdAt: t, expiresAt: t + 60_000 }));
        await store.upsertGateway({ gateway: x.gateway, site, status: 'offline', lastSeen: t - 1000 }, t);
        await hub.approve(x.id, { user: 'ann' });
        await hub.idle();
        expect((await hub.get(x.id))?.state).toBe('approved'); // waits for the gateway
        t += 61_000;
        await hub.sweep();
        await hub.idle();
        const closed = await hub.get(x.id);
        expect(closed?.state).toBe('failed');
        expect(closed?.reason).toMatch(new RegExp(`not sent: gateway ${x.gateway} was not reachable before the item's deadline`));
        await store.upsertGateway({ gateway: x.gateway, site, status: 'online', lastSeen: t }, t);
        await hub.sweep();
        await hub.idle();
        expect(commands.creates).toBe(0);
        expect((await hub.audit(x.id)).map((e) => e.action)).toEqual(['submit', 'approve', 'fail']);

        const y = await hub.submit(item(site, { gateway: x.gateway, action: write(-21), createdAt: t, expiresAt: t + 60_000 }));
        const approved = await hub.approve(y.id, { user: 'ann' });
        await hub.idle();
        expect((await hub.get(y.id))?.state).toBe('executed');
        expect(commands.records.get(approved.commandId ?? '')?.command.expiresAt).toBe(t + 60_000);
      } finally {
        await hub.stop();
      }
    });

    it('survives a reopen: items, decisions and the audit trail are stored', async () => {
      const site = `s-${randomUUID().slice(0, 6)}`;
      const x = await svc.submit(item(site, { sourceAgent: 'safety', source: 'hub', context: { decision: { id: 'dec-1' } } }));
      await svc.reject(x.id, { user: 'ann', reason: 'maintenance window' });
      const again = await stores.connect();
      try {
        const fresh = await ReviewService.open({ store: again, clock });
        expect(await fresh.get(x.id)).toMatchObject({ state: 'rejected', sourceAgent: 'safety', source: 'hub', reason: 'maintenance window', decidedBy: 'ann' });
        expect((await fresh.audit(x.id)).map((e) => e.action)).toEqual(['submit', 'reject']);
        expect((await fresh.audit(x.id))[0]?.actor).toBe('agent:safety');
      } finally {
        await again.close();
      }
    });
    it('propose: one pending item per (gateway, action target and value); a second proposer joins it', async () => {
      const site = `s-${randomUUID().slice(0, 6)}`;
      const gateway = `gw-${randomUUID().slice(0, 6)}`;
      const first = await svc.propose(item(site, { gateway, priority: 50 }));
      expect(first.outcome).toBe('created');
      const agent = item(site, { gateway, source: 'hub', sourceAgent: 'safety', actionClass: 'cold-chain', priority: 100, confidence: 0.95, rationale: 'cold-chain breach', context: { decision: { id: 'dec-safety' } } });
      const joined = await svc.propose(agent);
      expect(joined.outcome).toBe('joined');
      expect(joined.item).toMatchObject({ id: first.item.id, priority: 100, version: 2, state: 'pending', confidence: 0.6 });
      expect((joined.item.evidence.proposers as Array<{ by: string; id: string; priority: number }>).map((p) => [p.by, p.id, p.priority])).toEqual([
        [`gateway:${gateway}`, first.item.id, 50],
        ['agent:safety', agent.id, 100],
      ]);
      expect((await svc.audit(first.item.id)).map((e) => [e.action, e.actor])).toEqual([
        ['submit', `gateway:${gateway}`],
        ['join', 'agent:safety'],
      ]);
      expect((await svc.stored(first.item.id))?.context).toEqual({ supporting: [{ decision: { id: 'dec-safety' } }] });
      // The same agent again (the next periodic evaluation): nothing changes.
      expect((await svc.propose({ ...agent, id: `rv-${randomUUID().slice(0, 12)}` })).outcome).toBe('unchanged');
      expect((await svc.get(first.item.id))?.version).toBe(2);
      // Another value, another gateway: other actions.
      expect((await svc.propose(item(site, { gateway, action: write(-21) }))).outcome).toBe('created');
      expect((await svc.propose(item(site, { gateway: `${gateway}-b` }))).outcome).toBe('created');
      // Concurrent proposals for a new action still make one item.
      const burst = await Promise.all(['a', 'b', 'c', 'd'].map((a) => svc.propose(item(site, { gateway, action: write(-25), source: 'hub', sourceAgent: `agent-${a}` }))));
      expect(burst.map((b) => b.outcome).sort()).toEqual(['created', 'joined', 'joined', 'joined']);
      const pending = await svc.list({ site, state: 'pending' });
      // (PostgreSQL's jsonb reorders an action's keys: compare them as objects.)
      expect(pending.filter((p) => p.gateway === gateway).map((p) => p.action)).toEqual(expect.arrayContaining([write(-20), write(-21), write(-25)]));
      expect(pending.filter((p) => p.gateway === gateway)).toHaveLength(3);
    });

    it('propose: a proposer coming back with a higher priority raises the item, audited', async () => {
      const site = `s-${randomUUID().slice(0, 6)}`;
      const gateway = `gw-${randomUUID().slice(0, 6)}`;
      const agent = (priority: number): NewReviewItem => item(site, { gateway, source: 'hub', sourceAgent: 'equipment-health', priority });
      const first = await svc.propose(agent(50));
      expect((await svc.propose(agent(50))).outcome).toBe('unchanged');
      const raised = await svc.propose(agent(100));
      expect(raised.outcome).toBe('raised');
      expect(raised.item).toMatchObject({ id: first.item.id, priority: 100, version: 2 });
      expect((raised.item.evidence.proposers as Array<{ by: string; priority: number }>).map((p) => [p.by, p.priority])).toEqual([['agent:equipment-health', 100]]);
      expect((await svc.audit(first.item.id)).map((e) => [e.action, e.actor, e.before?.priority, e.after.priority])).toEqual([
        ['submit', 'agent:equipment-health', undefined, 50],
        ['raise', 'agent:equipment-health', 50, 100],
      ]);
      // Lower again: nothing changes.
      expect((await svc.propose(agent(75))).outcome).toBe('unchanged');
      expect((await svc.get(first.item.id))?.priority).toBe(100);
    });

    it('propose: a join keeps the item until the later of the two expiries', async () => {
      const site = `s-${randomUUID().slice(0, 6)}`;
      const gateway = `gw-${randomUUID().slice(0, 6)}`;
      const first = await svc.propose(item(site, { gateway, expiresAt: T0 + 1_800_000 }));
      const joiner = await svc.propose(item(site, { gateway, source: 'hub', sourceAgent: 'safety', expiresAt: T0 + 8 * 3_600_000 }));
      expect(joiner).toMatchObject({ outcome: 'joined', item: { id: first.item.id, expiresAt: T0 + 8 * 3_600_000 } });
      // A joiner expiring sooner does not shorten it.
      const short = await svc.propose(item(site, { gateway, source: 'hub', sourceAgent: 'comfort', expiresAt: T0 + 60_000 }));
      expect(short).toMatchObject({ outcome: 'joined', item: { expiresAt: T0 + 8 * 3_600_000 } });
      expect((await svc.stored(first.item.id))?.item.expiresAt).toBe(T0 + 8 * 3_600_000);
    });

    it('propose: a resent request that had joined an item since executed or rejected opens no new item', async () => {
      const site = `s-${randomUUID().slice(0, 6)}`;
      const gateway = `gw-${randomUUID().slice(0, 6)}`;
      const hubStore = await stores.connect();
      const hub = await ReviewService.open({ store: hubStore, commands: new FakeCommands(), clock: Date.now });
      try {
        const t = Date.now();
        const agent = await hub.propose(item(site, { gateway, source: 'hub', sourceAgent: 'safety', createdAt: t, expiresAt: t + 60_000 }));
        const request = item(site, { gateway, id: `req-${randomUUID().slice(0, 8)}`, createdAt: t, expiresAt: t + 60_000 });
        expect((await hub.propose(request)).outcome).toBe('joined');
        await hub.approve(agent.item.id, { user: 'ann' });
        await hub.idle();
        expect((await hub.get(agent.item.id))?.state).toBe('executed');
        // The gateway's outbox sends the request again after a reconnect.
        expect(await hub.propose(request)).toMatchObject({ outcome: 'unchanged', item: { id: agent.item.id, state: 'executed' } });
        expect(await hub.get(request.id)).toBeUndefined();
        // A new request (another id) for the same action is a new item.
        expect((await hub.propose({ ...request, id: `req-${randomUUID().slice(0, 8)}` })).outcome).toBe('created');
      } finally {
        await hub.stop();
        await hubStore.close();
      }
      // Rejected, past the hold: the resent request still opens nothing.
      const gw2 = `${gateway}-b`;
      const first = await svc.propose(item(site, { gateway: gw2, source: 'hub', sourceAgent: 'safety', expiresAt: T0 + 8 * 3_600_000 }));
      const again = item(site, { gateway: gw2, id: `req-${randomUUID().slice(0, 8)}`, expiresAt: T0 + 8 * 3_600_000 });
      expect((await svc.propose(again)).outcome).toBe('joined');
      await svc.reject(first.item.id, { user: 'ann', reason: 'not needed' });
      now = T0 + 3_600_000;
      expect(await svc.propose(again)).toMatchObject({ outcome: 'unchanged', item: { id: first.item.id, state: 'rejected' } });
      now = T0;
    });

    it('propose: an action a technician rejected is held back until the rejected item would have expired, unless it escalates; an approved one while it runs', async () => {
      const site = `s-${randomUUID().slice(0, 6)}`;
      const gateway = `gw-${randomUUID().slice(0, 6)}`;
      const agent = (over: Partial<NewReviewItem> = {}): NewReviewItem => item(site, { gateway, source: 'hub', sourceAgent: 'safety', priority: 75, expiresAt: T0 + 1_800_000, ...over });
      const { item: rejected } = await svc.propose(agent());
      now = T0 + 60_000;
      await svc.reject(rejected.id, { user: 'ann', reason: 'door open during loading' });
      now = T0 + 84_000;
      const again = await svc.propose(agent({ createdAt: now, confidence: 0.66 }));
      expect(again).toMatchObject({ outcome: 'held', item: { id: rejected.id, state: 'rejected' } });
      expect(await svc.list({ site, state: 'pending' })).toEqual([]);
      // Escalated (critical now): asked again at once.
      const escalated = await svc.propose(agent({ createdAt: now, priority: 100 }));
      expect(escalated.outcome).toBe('created');
      await svc.reject(escalated.item.id, { user: 'ann', reason: 'still loading' });
      // Past the rejected items' expiry the condition that persists is asked about again.
      now = T0 + 1_800_000 + 1000;
      const later = await svc.propose(agent({ createdAt: now, expiresAt: now + 1_800_000 }));
      expect(later.outcome).toBe('created');
      expect((await svc.list({ site, state: 'pending' })).map((p) => p.id)).toEqual([later.item.id]);
      // Approved (this queue has no executor, so it stays approved): nothing new while it runs.
      await svc.approve(later.item.id, { user: 'ann' });
      expect(await svc.propose(agent({ createdAt: now, expiresAt: now + 1_800_000, priority: 100 }))).toMatchObject({ outcome: 'held', item: { id: later.item.id, state: 'approved' } });
      // Modified and approved: the technician's value is the one running, so a proposal of it waits too.
      const other = await svc.propose(agent({ createdAt: now, expiresAt: now + 1_800_000, action: write(-23) }));
      await svc.modify(other.item.id, { user: 'ann', action: write(-22) });
      expect(await svc.propose(agent({ createdAt: now, expiresAt: now + 1_800_000, action: write(-22) }))).toMatchObject({ outcome: 'held', item: { id: other.item.id, state: 'approved' } });
      now = T0;
    });

    it('propose: a rejection holds the action back 30 min at most, and never a safety request', async () => {
      const site = `s-${randomUUID().slice(0, 6)}`;
      const gateway = `gw-${randomUUID().slice(0, 6)}`;
      // A low-priority gateway request lives 24 h; the technician rejects it a minute in.
      const low = (over: Partial<NewReviewItem> = {}): NewReviewItem => item(site, { gateway, priority: 20, actionClass: 'energy', expiresAt: T0 + 24 * 3_600_000, ...over });
      const { item: rejected } = await svc.propose(low());
      now = T0 + 60_000;
      await svc.reject(rejected.id, { user: 'ann', reason: 'precaution not needed' });
      now = T0 + 60_000 + 29 * 60_000;
      expect((await svc.propose(low({ createdAt: now }))).outcome).toBe('held');
      // A safety request for the same action right after the rejection is filed, naming it.
      const safety = await svc.propose(low({ createdAt: now, actionClass: 'safety', rationale: 'main compressor failed' }));
      expect(safety.outcome).toBe('created');
      expect(safety.item.evidence.earlierRejection).toMatchObject({ id: rejected.id, by: 'ann', at: T0 + 60_000, reason: 'precaution not needed' });
      await svc.reject(safety.item.id, { user: 'ann', reason: 'compressor being serviced' });
      // 30 min past the last rejection the same priority is asked again, long before the 24 h expiry.
      now = T0 + 60_000 + 29 * 60_000 + 30 * 60_000 + 1000;
      const again = await svc.propose(low({ createdAt: now }));
      expect(again.outcome).toBe('created');
      expect(again.item.evidence.earlierRejection).toMatchObject({ id: safety.item.id });
      now = T0;
    });

    it('propose: two hub processes proposing the same action at once file one item; the others join it', async () => {
      const other = await stores.connect();
      const svc2 = await ReviewService.open({ store: other, clock });
      try {
        const site = `s-${randomUUID().slice(0, 6)}`;
        const gateway = `gw-${randomUUID().slice(0, 6)}`;
        for (let round = 0; round < 5; round += 1) {
          const action = write(-30 - round);
          const results = await Promise.all([svc, svc2, svc, svc2].map((s, i) => s.propose(item(site, { gateway, action, source: 'hub', sourceAgent: `agent-${i}` }))));
          expect(results.map((r) => r.outcome).sort()).toEqual(['created', 'joined', 'joined', 'joined']);
          expect(new Set(results.map((r) => r.item.id)).size).toBe(1);
        }
        expect(await svc.list({ site, state: 'pending' })).toHaveLength(5);
        // The store itself refuses a second pending item for an action, whoever files it.
        const [first] = await svc.list({ site, state: 'pending' });
        const again = item(site, { gateway, action: first!.action });
        expect(await conflictOf(svc2.submit(again))).toBe('SWG_ERR_REVIEW_CONFLICT/409');
        expect(await svc.get(again.id)).toBeUndefined();
      } finally {
        await svc2.stop();
        await other.close();
      }
    });

    it('propose: an item past its expiry that no sweep has closed yet is expired, and the action filed again', async () => {
      const site = `s-${randomUUID().slice(0, 6)}`;
      const gateway = `gw-${randomUUID().slice(0, 6)}`;
      const old = await svc.propose(item(site, { gateway, expiresAt: T0 + 1000 }));
      now = T0 + 5000;
      const fresh = await svc.propose(item(site, { gateway, createdAt: now, expiresAt: now + 3_600_000 }));
      expect(fresh.outcome).toBe('created');
      expect(fresh.item.id).not.toBe(old.item.id);
      expect((await svc.get(old.item.id))?.state).toBe('expired');
      now = T0;
    });

    it('migrations 12-13: pending duplicates filed before (two hub processes) leave one pending item, the others expired and audited', async () => {
      const db = await stores.scratch();
      try {
        const before = await db.open(11);
        const sql = sqlFor(before);
        const row = (id: string, priority: number, createdAt: number, state = 'pending', value = -20, expiresAt = T0 + 3_600_000) =>
          sql.all(
            'INSERT INTO review_items (id, state, site, gateway, priority, source, action_class, action, confidence, rationale, evidence, created_at, expires_at, version, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
            [id, state, 's-m', 'gw-m', priority, 'gateway', 'setpoint', JSON.stringify(write(value)), 0.6, 'drifting', '{}', createdAt, expiresAt, 1, createdAt],
          );
        await row('rv-a', 50, T0);
        await row('rv-b', 80, T0 + 1000);
        await row('rv-c', 80, T0 + 2000);
        await row('rv-d', 50, T0, 'pending', -21);
        await row('rv-e', 50, T0, 'rejected');
        // An item past its expiry, not swept yet, and the live one filed after it: the live one is kept.
        await row('rv-f', 90, T0, 'pending', -24, T0 + 1000);
        await row('rv-g', 10, T0 + 5000, 'pending', -24, Date.UTC(2099, 0, 1));
        await before.close();
        const after = await db.open();
        const migrated = await ReviewService.open({ store: after, clock });
        try {
          expect((await migrated.list({ site: 's-m', state: 'pending' })).map((i) => i.id).sort()).toEqual(['rv-b', 'rv-d', 'rv-g']);
          expect(await migrated.get('rv-f')).toMatchObject({ state: 'expired', reason: 'superseded by review item rv-g: one pending item per action' });
          for (const id of ['rv-a', 'rv-c']) {
            expect(await migrated.get(id)).toMatchObject({ state: 'expired', version: 2, reason: 'superseded by review item rv-b: one pending item per action' });
            expect((await migrated.audit(id)).map((e) => [e.action, e.actor, e.before?.state, e.after.state])).toEqual([['expire', 'system', 'pending', 'expired']]);
          }
          expect((await migrated.get('rv-e'))?.state).toBe('rejected');
          // Keyed: a new proposal for the kept item's action joins it.
          const joined = await migrated.propose(item('s-m', { gateway: 'gw-m', source: 'hub', sourceAgent: 'safety' }));
          expect(joined).toMatchObject({ outcome: 'joined', item: { id: 'rv-b' } });
        } finally {
          await migrated.stop();
          await after.close();
        }
      } finally {
        await db.cleanup();
      }
    });

    it('an item shown reads its charts again from the store: up to now while open, an hour past its decision once closed', async () => {
      const site = `s-${randomUUID().slice(0, 6)}`;
      const gateway = `gw-${randomUUID().slice(0, 6)}`;
      const reading = (v: number, ts: number) => ({ d: 'coldroom', p: 'temperature', v, q: 'good' as const, ts });
      await store.ingestBatch({ v: 1, gateway, bootId: 'boot-0001', seq: 1, sentAt: T0, historical: false, readings: [reading(-17, T0 - 60_000)] });
      const x = await svc.submit(item(site, { gateway, evidence: { telemetry: [{ device: 'coldroom', point: 'temperature', from: T0 - 3_600_000, samples: [{ ts: T0 - 60_000, value: -17 }] }] } }));
      const charted = async (): Promise<unknown[]> => ((await svc.get(x.id))?.evidence.telemetry as Array<{ samples: Array<{ value: unknown }> }>)[0]?.samples.map((s) => s.value) ?? [];
      await store.ingestBatch({ v: 1, gateway, bootId: 'boot-0001', seq: 2, sentAt: T0, historical: false, readings: [reading(-15, T0 + 600_000)] });
      now = T0 + 900_000;
      expect(await charted()).toEqual([-17, -15]);
      await svc.reject(x.id, { user: 'ann', reason: 'sensor being replaced' });
      await store.ingestBatch({ v: 1, gateway, bootId: 'boot-0001', seq: 3, sentAt: T0, historical: false, readings: [reading(-18, T0 + 1_200_000), reading(-19, T0 + 900_000 + 2 * 3_600_000)] });
      now = T0 + 5 * 3_600_000;
      expect(await charted()).toEqual([-17, -15, -18]);
      // What the list and the audit hold stays as it was filed.
      expect(((await svc.stored(x.id))?.item.evidence.telemetry as Array<{ samples: unknown[] }>)[0]?.samples).toHaveLength(1);
      now = T0;
    });

    it('an item pending for hours on a 1 Hz point is charted from the bucketed history, not re-read raw', async () => {
      const site = `s-${randomUUID().slice(0, 6)}`;
      const gateway = `gw-${randomUUID().slice(0, 6)}`;
      // Three hours at 1 Hz: -18 °C for the first hour, -15 °C after.
      const start = T0 - 3_600_000;
      let seq = 0;
      for (let t = start; t < T0 + 2 * 3_600_000; t += 5000 * 1000) {
        const readings = [];
        for (let ts = t; ts < Math.min(t + 5000 * 1000, T0 + 2 * 3_600_000); ts += 1000) readings.push({ d: 'coldroom', p: 'temperature', v: ts < T0 ? -18 : -15, q: 'good' as const, ts });
        seq += 1;
        await store.ingestBatch({ v: 1, gateway, bootId: 'boot-0001', seq, sentAt: t, historical: true, readings });
      }
      const x = await svc.submit(item(site, { gateway, expiresAt: T0 + 24 * 3_600_000, evidence: { telemetry: [{ device: 'coldroom', point: 'temperature', from: start, samples: [] }] } }));
      now = T0 + 2 * 3_600_000;
      const history = vi.spyOn(store, 'history');
      try {
        const shown = (await svc.get(x.id))?.evidence.telemetry as Array<{ samples: Array<{ ts: number; value: number }> }>;
        const samples = shown[0]?.samples ?? [];
        expect(samples.length).toBeGreaterThan(400);
        expect(samples.length).toBeLessThanOrEqual(500);
        expect(samples[0]?.value).toBeCloseTo(-18, 5);
        expect(samples.at(-1)?.value).toBeCloseTo(-15, 5);
        expect(samples.at(-1)?.ts).toBeGreaterThan(now - 60_000);
        // No raw read of the 10 800 samples: only bucketed history.
        const rawRead = (await Promise.all(history.mock.calls.map((c, i) => (c[5] === undefined ? history.mock.results[i]?.value : [])))).reduce((n: number, r: unknown[]) => n + r.length, 0);
        expect(rawRead).toBe(0);
      } finally {
        history.mockRestore();
        now = T0;
      }
    });
  });
}
