import { afterEach, describe, expect, it } from 'vitest';
import type { GatewayEvent } from '../../shared/wire/messages.js';
import {
  AgentBus,
  AgentRoster,
  Coordinator,
  EnergySpecialist,
  Executor,
  RingBufferAudit,
  buildSnapshot,
  createSpecialists,
  type Agent,
  type FacilityIndex,
  type FacilitySnapshot,
  type ProposalDraft,
  type ProposalKind,
  type VoteDraft,
} from '../../hub/agents/index.js';
import { facility, FakeClock, FakeCommands, MemoryReviews, MemoryTelemetry, RecordingExecutedSet, T0, type FixtureNames } from './support.js';

const MIN = 60_000;

/** Cold room warming since 30 min, above -15 °C for 12 min, main compressor stopped. */
function freezerSnapshot(f: FacilityIndex, names: FixtureNames = {}, at = T0): { snapshot: FacilitySnapshot; event: GatewayEvent } {
  const samples = Array.from({ length: 31 }, (_, i) => ({ ts: at - (30 - i) * MIN, value: -20 + (8 * i) / 30 }));
  const event: GatewayEvent = {
    v: 1,
    id: 'evt-freezer-1',
    gateway: 'gw-cold',
    ts: at,
    kind: 'anomaly',
    severity: 'warning',
    device: 'coldroom',
    point: 'temperature',
    message: 'temperature rising outside its usual pattern',
    data: { score: 0.97 },
  };
  const snapshot = buildSnapshot({
    ts: at,
    site: 's1',
    facility: f,
    readings: [
      { gateway: 'gw-cold', device: 'coldroom', point: 'temperature', value: -12 },
      { gateway: 'gw-cold', device: 'coldroom', point: 'setpoint', value: -20 },
      { gateway: 'gw-cold', device: 'coldroom', point: 'compressor_running', value: false },
      { gateway: 'gw-cold', device: names.relayDevice ?? 'gpio', point: names.relayPoint ?? 'backup_compressor_relay', value: false },
    ],
    history: [{ gateway: 'gw-cold', device: 'coldroom', point: 'temperature', samples }],
  });
  return { snapshot, event };
}

function officeSnapshot(f: FacilityIndex, at = T0, occupancy?: Record<string, boolean>): FacilitySnapshot {
  return buildSnapshot({
    ts: at,
    site: 's1',
    facility: f,
    readings: [
      { gateway: 'gw-office-1', device: 'ahu', point: 'zone_temp', value: 21 },
      { gateway: 'gw-office-1', device: 'ahu', point: 'heat_sp', value: 21 },
      { gateway: 'gw-office-1', device: 'meter', point: 'power', value: 12 },
    ],
    ...(occupancy ? { occupancy } : {}),
  });
}

function rig(agents: Agent[] = createSpecialists(), opts: { threshold?: number; voteTimeoutMs?: number; cooldownMs?: number; offline?: (gateway: string) => boolean } = {}) {
  const clock = new FakeClock();
  const telemetry = new MemoryTelemetry();
  const commands = new FakeCommands();
  // The plant: the backup compressor (whatever it is called) pulls the room down.
  commands.onApply = (gateway, action) => {
    if (action.kind === 'write' && action.value === true && gateway === 'gw-cold') {
      for (let i = 1; i <= 5; i += 1) telemetry.add('gw-cold', 'coldroom', 'temperature', clock.now + i * 2 * MIN, -12 - 0.4 * i);
    }
  };
  telemetry.add('gw-cold', 'coldroom', 'temperature', T0 - MIN, -12);
  const audit = new RingBufferAudit(10_000);
  const bus = new AgentBus({ audit, clock: clock.read });
  const executed = new RecordingExecutedSet();
  const executor = new Executor({ commands, telemetry, bus, executed, clock: clock.read, sleep: clock.sleep });
  const reviews = new MemoryReviews();
  const coordinator = new Coordinator({
    roster: new AgentRoster(agents),
    executor,
    review: reviews,
    telemetry,
    bus,
    clock: clock.read,
    ...(opts.threshold === undefined ? {} : { threshold: opts.threshold }),
    ...(opts.voteTimeoutMs === undefined ? {} : { voteTimeoutMs: opts.voteTimeoutMs }),
    ...(opts.cooldownMs === undefined ? {} : { cooldownMs: opts.cooldownMs }),
    ...(opts.offline ? { offline: opts.offline } : {}),
  });
  return { clock, telemetry, commands, audit, bus, executed, reviews, coordinator };
}

/** A test agent that always proposes one write and approves everything. */
class FixedProposer implements Agent {
  readonly vetoAuthority = false;
  constructor(
    readonly id: string,
    private readonly draft: (s: FacilitySnapshot) => ProposalDraft[],
    readonly domain: Agent['domain'] = 'equipment',
  ) {}
  relevance(_kind: ProposalKind): number {
    return 1;
  }
  propose(s: FacilitySnapshot): ProposalDraft[] {
    return this.draft(s);
  }
  vote(): VoteDraft {
    return { choice: 'approve', confidence: 0.9, reason: 'fine' };
  }
}

/** Votes too late to count. */
class SlowVoter implements Agent {
  readonly vetoAuthority = false;
  readonly domain = 'comfort' as const;
  private timer: NodeJS.Timeout | undefined;
  constructor(readonly id: string) {}
  relevance(): number {
    return 1;
  }
  propose(): ProposalDraft[] {
    return [];
  }
  vote(): Promise<VoteDraft> {
    return new Promise((resolve) => {
      this.timer = setTimeout(() => resolve({ choice: 'approve', confidence: 1, reason: 'late' }), 300);
    });
  }
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}

const slow: SlowVoter[] = [];
afterEach(() => {
  for (const s of slow.splice(0)) s.stop();
});

describe('coordinator', () => {
  it('freezer warming: safety + equipment-health agree, the backup compressor is switched on once', async () => {
    const f = facility();
    const r = rig();
    const { snapshot, event } = freezerSnapshot(f);
    const report = await r.coordinator.onEvent(event, snapshot);

    const relay = report.decisions.find((d) => d.proposal.action?.kind === 'write' && d.proposal.action.point === 'backup_compressor_relay');
    expect(relay?.outcome).toBe('approved');
    expect(relay?.confidence).toBeGreaterThanOrEqual(0.8);
    expect(relay?.proposal.agent).toBe('safety');
    expect(relay?.proposal.supporters?.map((s) => s.agent)).toEqual(['equipment-health']);
    expect(relay?.dissent.map((v) => v.voter)).toEqual(['energy']);
    expect(report.executed.map((d) => d.id)).toEqual([relay?.id]);

    await r.coordinator.idle();
    expect(r.commands.sent.map((c) => ({ gateway: c.gateway, action: c.action }))).toEqual([
      { gateway: 'gw-cold', action: { kind: 'write', device: 'gpio', point: 'backup_compressor_relay', value: true } },
    ]);
    const result = await report.executions.get(relay?.id ?? '');
    expect(result?.status).toBe('effective');

    // The main-compressor work order is advice: it goes to review, never to the executor.
    const wo = r.reviews.items.find((i) => i.workOrder);
    expect(wo?.reason).toBe('advice');
    expect(wo?.action).toBeNull();
    expect(wo?.workOrder?.equipment).toBe('main compressor');

    // Critical safety action: broadcast on the bus; every vote recorded.
    expect(r.audit.entries({ type: 'emergency-broadcast' })).toHaveLength(1);
    expect(r.audit.entries({ type: 'consensus-vote', correlationId: relay?.id }).length).toBe(relay?.votes.length);

    // The same event again (redelivery) or a fresh snapshot before telemetry shows the relay on:
    // the same write is within its cooldown and is not repeated.
    const again = await r.coordinator.onEvent(event, snapshot);
    expect(again.suppressed.map((d) => d.id)).toEqual([relay?.id]);
    const later = await r.coordinator.evaluate(freezerSnapshot(f, {}, T0 + 5 * MIN).snapshot);
    expect(later.suppressed).toHaveLength(1);
    await r.coordinator.idle();
    expect(r.commands.sent).toHaveLength(1);
  });

  it('a critical write that got no answer is tried again after a minute, not after the whole cooldown', async () => {
    const f = facility();
    const r = rig();
    r.commands.outcome = 'timeout';
    const first = await r.coordinator.evaluate(freezerSnapshot(f).snapshot);
    await r.coordinator.idle();
    expect((await first.executions.get(first.executed[0]?.id ?? ''))?.status).toBe('command-timeout');
    // Half a minute later: still held back (a write in doubt is not sent twice at once).
    r.clock.now = T0 + MIN / 2;
    const soon = await r.coordinator.evaluate(freezerSnapshot(f, {}, r.clock.now).snapshot);
    expect(soon.suppressed).toHaveLength(1);
    // Two minutes later the gateway answers again: the write goes out (before: suppressed for 15 min).
    r.commands.outcome = 'applied';
    r.clock.now = T0 + 2 * MIN;
    const retry = await r.coordinator.evaluate(freezerSnapshot(f, {}, r.clock.now).snapshot);
    await r.coordinator.idle();
    expect(retry.executed).toHaveLength(1);
    expect(r.commands.sent.map((c) => c.action)).toEqual([
      { kind: 'write', device: 'gpio', point: 'backup_compressor_relay', value: true },
      { kind: 'write', device: 'gpio', point: 'backup_compressor_relay', value: true },
    ]);
    expect(r.reviews.items.filter((i) => i.reason === 'execution-refused')).toEqual([]);
  });

  it('a critical write the gateway refused goes to the technicians (approving sends it anew), and is not resent within the cooldown', async () => {
    const f = facility();
    const r = rig();
    r.commands.outcome = 'rejected';
    const first = await r.coordinator.evaluate(freezerSnapshot(f).snapshot);
    await r.coordinator.idle();
    const id = first.executed[0]?.id ?? '';
    expect((await first.executions.get(id))?.status).toBe('command-rejected');
    const refused = r.reviews.items.filter((i) => i.reason === 'execution-refused');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ id: `${id}:refused`, priority: 'critical', action: { kind: 'write', device: 'gpio', point: 'backup_compressor_relay', value: true } });
    expect(refused[0]?.decision.id).toBe(`${id}:refused`);
    expect(refused[0]?.rationale).toMatch(/the gateway refused it: fake rejected/);
    r.clock.now = T0 + 5 * MIN;
    const later = await r.coordinator.evaluate(freezerSnapshot(f, {}, r.clock.now).snapshot);
    expect(later.suppressed).toHaveLength(1);
    expect(r.commands.sent).toHaveLength(1);
  });

  it('holds a confident write to a gateway the registry has offline, and sends it once the gateway is back', async () => {
    const f = facility();
    let away = true;
    const r = rig(createSpecialists(), { offline: (gw) => away && gw === 'gw-cold' });
    const first = await r.coordinator.evaluate(freezerSnapshot(f).snapshot);
    expect(first.held).toHaveLength(1);
    expect(first.executed).toEqual([]);
    away = false;
    const back = await r.coordinator.evaluate(freezerSnapshot(f, {}, T0 + MIN).snapshot);
    await r.coordinator.idle();
    expect(back.executed).toHaveLength(1);
    expect(r.commands.sent).toHaveLength(1);
  });

  it("an offline gateway's last readings are not judged: three hours away is not three hours above the limit", async () => {
    const f = facility();
    const r = rig();
    const at = T0 + 3 * 60 * MIN;
    const readings = [
      { gateway: 'gw-cold', device: 'coldroom', point: 'temperature', value: -12, ts: T0 },
      { gateway: 'gw-cold', device: 'coldroom', point: 'setpoint', value: -20, ts: T0 },
      { gateway: 'gw-cold', device: 'coldroom', point: 'compressor_running', value: false, ts: T0 },
      { gateway: 'gw-cold', device: 'gpio', point: 'backup_compressor_relay', value: false, ts: T0 },
    ];
    const stale = await r.coordinator.evaluate(buildSnapshot({ ts: at, site: 's1', facility: f, readings: readings.map((x) => ({ ...x, offline: true })) }));
    expect(stale.proposals.filter((p) => p.action?.kind === 'write')).toEqual([]);
    // The same readings from a gateway that is online are judged (the check above is not vacuous).
    const live = await r.coordinator.evaluate(buildSnapshot({ ts: at, site: 's1', facility: f, readings }));
    expect(live.proposals.filter((p) => p.action?.kind === 'write').length).toBeGreaterThan(0);
  });

  it('without a cooldown, the executor still runs each decision at most once', async () => {
    const f = facility();
    const r = rig(createSpecialists(), { cooldownMs: 0 });
    const { snapshot, event } = freezerSnapshot(f);
    const first = await r.coordinator.onEvent(event, snapshot);
    const again = await r.coordinator.onEvent(event, snapshot);
    await r.coordinator.idle();
    const id = first.executed[0]?.id ?? '';
    expect(again.executed.map((d) => d.id)).toEqual([id]);
    expect((await first.executions.get(id))?.status).toBe('effective');
    expect((await again.executions.get(id))?.status).toBe('duplicate');
    expect(r.commands.sent).toHaveLength(1);
    expect(r.executed.keys.has(id)).toBe(true);
  });

  it('device and point names come from the facility model', async () => {
    const names = { relayDevice: 'relays', relayPoint: 'aux_compressor' };
    const f = facility(names);
    const r = rig();
    const { snapshot, event } = freezerSnapshot(f, names);
    await r.coordinator.onEvent(event, snapshot);
    await r.coordinator.idle();
    expect(r.commands.sent.map((c) => c.action)).toEqual([{ kind: 'write', device: 'relays', point: 'aux_compressor', value: true }]);
  });

  it('below the threshold a decision goes to the review sink with evidence, priority, site and expiry', async () => {
    const f = facility();
    const r = rig(createSpecialists(), { threshold: 0.95 });
    r.telemetry.add('gw-office-1', 'ahu', 'heat_sp', T0 - 10 * MIN, 21);
    const report = await r.coordinator.evaluate(officeSnapshot(f));
    expect(report.executed).toHaveLength(0);
    const item = r.reviews.items.find((i) => i.kind === 'setback');
    expect(item).toMatchObject({ reason: 'low-confidence', site: 's1', zone: 'office-1', gateway: 'gw-office-1', priority: 'normal' });
    expect(item?.action).toEqual({ kind: 'write', device: 'ahu', point: 'heat_sp', value: 16 });
    expect(item?.expiresAt).toBeGreaterThan(T0);
    expect(item?.evidence.votes.length).toBeGreaterThanOrEqual(3);
    expect(item?.evidence.telemetry.find((t) => t.point === 'gw-office-1/ahu/heat_sp')?.samples).toHaveLength(1);
    expect(item?.rationale).toMatch(/unoccupied/);
    expect(r.commands.sent).toHaveLength(0);
  });

  it('the same setback is executed when confident enough', async () => {
    const f = facility();
    const r = rig();
    const report = await r.coordinator.evaluate(officeSnapshot(f));
    await r.coordinator.idle();
    expect(report.executed.map((d) => d.proposal.kind)).toEqual(['setback']);
    expect(r.commands.sent.map((c) => c.action)).toEqual([{ kind: 'write', device: 'ahu', point: 'heat_sp', value: 16 }]);
  });

  it('a vetoed proposal is neither executed nor reviewed', async () => {
    const f = facility();
    const defrost = new FixedProposer('defroster', (s) => {
      const p = s.facility.point('gw-cold', 'coldroom', 'defrost');
      if (!p) return [];
      return [
        {
          kind: 'maintenance',
          site: 's1',
          zone: 'cold-1',
          gateway: 'gw-cold',
          action: { kind: 'write', device: 'coldroom', point: 'defrost', value: true },
          confidence: 0.97,
          rationale: 'ice build-up',
          evidence: {},
          priority: 'normal',
        },
      ];
    });
    const r = rig([...createSpecialists(), defrost]);
    const { snapshot } = freezerSnapshot(f);
    const report = await r.coordinator.evaluate(snapshot);
    const d = report.vetoed.find((x) => x.proposal.agent === 'defroster');
    expect(d?.outcome).toBe('vetoed');
    expect(d?.vetoedBy).toBe('safety');
    expect(r.reviews.items.find((i) => i.id === d?.id)).toBeUndefined();
    await r.coordinator.idle();
    expect(r.commands.sent.some((c) => c.action.kind === 'write' && c.action.point === 'defrost')).toBe(false);
  });

  it('votes that miss the deadline do not count; without quorum the decision goes to review', async () => {
    const f = facility();
    const laggards = [new SlowVoter('slow-1'), new SlowVoter('slow-2'), new SlowVoter('slow-3')];
    slow.push(...laggards);
    const r = rig([new EnergySpecialist(), ...laggards], { voteTimeoutMs: 30 });
    const report = await r.coordinator.evaluate(officeSnapshot(f));
    const d = report.decisions[0];
    expect(d?.outcome).toBe('no-quorum');
    expect(d?.votes.map((v) => v.voter)).toEqual(['energy']);
    expect(r.reviews.items[0]?.reason).toBe('no-quorum');
    expect(r.commands.sent).toHaveLength(0);
  });

  it('an agent that throws does not stop the others', async () => {
    const f = facility();
    const broken = new FixedProposer('broken', () => {
      throw new Error('bug');
    });
    const r = rig([...createSpecialists(), broken]);
    const report = await r.coordinator.evaluate(officeSnapshot(f));
    expect(report.executed.map((d) => d.proposal.kind)).toEqual(['setback']);
  });
});
