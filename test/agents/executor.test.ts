import { describe, expect, it } from 'vitest';
import { AgentBus, Executor, RingBufferAudit, TrackRecordBook, checkEffect, type Decision, type LearningOutcome, type Proposal } from '../../hub/agents/index.js';
import { FakeClock, FakeCommands, MemoryTelemetry, RecordingExecutedSet, T0 } from './support.js';

const SETTLE = 10 * 60_000;

function decision(overrides: Partial<Proposal> = {}): Decision {
  const proposal: Proposal = {
    id: 'p-backup',
    agent: 'equipment-health',
    domain: 'equipment',
    kind: 'backup-equipment',
    site: 's1',
    zone: 'cold-1',
    gateway: 'gw-cold',
    action: { kind: 'write', device: 'gpio', point: 'backup_compressor_relay', value: true },
    previous: false,
    rollback: true,
    confidence: 0.9,
    rawConfidence: 0.9,
    rationale: 'cold room warming',
    evidence: {},
    expectedEffect: { gateway: 'gw-cold', device: 'coldroom', point: 'temperature', direction: 'decrease', magnitude: 0.5, settleMs: SETTLE },
    priority: 'high',
    ts: T0,
    ...overrides,
  };
  return {
    id: `dec-${proposal.id}`,
    proposal,
    algorithm: 'delegated',
    outcome: 'approved',
    confidence: 0.9,
    votes: [],
    late: [],
    dissent: [],
    weights: {},
    tally: { approve: 1, reject: 0, abstain: 0, participation: 1, quorum: 0.67 },
    decidedAt: T0,
  };
}

interface Rig {
  clock: FakeClock;
  telemetry: MemoryTelemetry;
  commands: FakeCommands;
  audit: RingBufferAudit;
  outcomes: LearningOutcome[];
  executor: Executor;
}

/** The plant: after the relay closes the cold room cools by `responseK` over the settling window. */
function rig(responseK: number): Rig {
  const clock = new FakeClock();
  const telemetry = new MemoryTelemetry();
  telemetry.add('gw-cold', 'coldroom', 'temperature', T0 - 60_000, -13);
  const commands = new FakeCommands();
  commands.onApply = (gateway, action) => {
    if (action.kind !== 'write' || action.value === null) return;
    telemetry.add(gateway, action.device, action.point, clock.now, action.value);
    if (action.point === 'backup_compressor_relay' && action.value === true) {
      for (let i = 1; i <= 5; i += 1) telemetry.add('gw-cold', 'coldroom', 'temperature', clock.now + (i * SETTLE) / 5, -13 - (responseK * i) / 5);
    }
  };
  const audit = new RingBufferAudit();
  const bus = new AgentBus({ audit, clock: clock.read });
  const outcomes: LearningOutcome[] = [];
  const executor = new Executor({
    commands,
    telemetry,
    bus,
    executed: new RecordingExecutedSet(),
    clock: clock.read,
    sleep: clock.sleep,
    onOutcome: (_d, o) => void outcomes.push(o),
  });
  return { clock, telemetry, commands, audit, outcomes, executor };
}

describe('executor', () => {
  it('sends once, then confirms the expected effect after the settling window', async () => {
    const r = rig(2);
    const d = decision();
    const result = await r.executor.execute(d);
    expect(result.status).toBe('effective');
    expect(result.effect?.baseline).toBe(-13);
    expect(result.effect?.observed).toBeCloseTo(-14.6);
    expect(r.clock.now - T0).toBe(SETTLE);
    expect(r.commands.sent).toHaveLength(1);
    expect(r.commands.sent[0]?.options).toEqual({ idempotencyKey: 'dec-p-backup', origin: 'agent:equipment-health' });
    expect(r.outcomes).toEqual(['effect-expected']);
    expect(r.audit.entries({ type: 'escalation-alert' })).toHaveLength(0);

    const again = await r.executor.execute(d);
    expect(again.status).toBe('duplicate');
    expect(r.commands.sent).toHaveLength(1);
  });

  it('no effect: rolls back to the previous value and escalates', async () => {
    const r = rig(0);
    const result = await r.executor.execute(decision());
    expect(result.status).toBe('no-effect');
    expect(result.rollback?.status).toBe('applied');
    expect(r.commands.sent.map((c) => c.action)).toEqual([
      { kind: 'write', device: 'gpio', point: 'backup_compressor_relay', value: true },
      { kind: 'write', device: 'gpio', point: 'backup_compressor_relay', value: false },
    ]);
    expect(r.commands.sent[1]?.options.idempotencyKey).toBe('dec-p-backup-rollback');
    const alerts = r.audit.entries({ type: 'escalation-alert' });
    expect(alerts).toHaveLength(1);
    expect(result.escalated).toBe(true);
    const m = alerts[0]?.message;
    if (m?.type === 'escalation-alert') {
      expect(m.payload.decisionId).toBe('dec-p-backup');
      expect(m.payload.reason).toMatch(/rollback applied/);
    }
    expect(r.outcomes).toEqual(['no-effect']);
  });

  it('bad effect: critical escalation; safety actions are never rolled back', async () => {
    const r = rig(-1.5); // the room warms further
    const result = await r.executor.execute(decision({ id: 'p-safety', rollback: false }));
    expect(result.status).toBe('bad-effect');
    expect(result.rollback?.status).toBe('not-allowed');
    expect(r.commands.sent).toHaveLength(1);
    const m = r.audit.entries({ type: 'escalation-alert' })[0]?.message;
    expect(m?.type === 'escalation-alert' && m.payload.severity).toBe('critical');
    expect(r.outcomes).toEqual(['bad-effect']);
  });

  it('waits for the settling window\'s telemetry when it arrives late, then judges on it', async () => {
    // The gateway's outbox delivers the window's readings 3 minutes late (a reconnect, a backlog).
    const r = rig(2);
    const arrival = (ts: number): number => ts + 3 * 60_000;
    const late = {
      window: async (g: string, d: string, p: string, from: number, to: number) => (await r.telemetry.window(g, d, p, from, to)).filter((s) => arrival(s.ts) <= r.clock.now),
      latest: (g: string, d: string, p: string) => r.telemetry.latest(g, d, p),
    };
    const executor = new Executor({ commands: r.commands, telemetry: late, clock: r.clock.read, sleep: r.clock.sleep });
    const result = await executor.execute(decision({ id: 'p-late' }));
    expect(result.status).toBe('effective');
    expect(result.effect?.observed).toBeCloseTo(-14.6);
    expect(r.clock.now - T0).toBeGreaterThanOrEqual(SETTLE + 3 * 60_000);
    expect(r.clock.now - T0).toBeLessThanOrEqual(SETTLE * 1.5);

    // Telemetry that never arrives: judged after the grace period (half the window by default).
    const silent = rig(2);
    const none = { window: () => Promise.resolve([]), latest: (g: string, d: string, p: string) => silent.telemetry.latest(g, d, p) };
    const blind = new Executor({ commands: silent.commands, telemetry: none, clock: silent.clock.read, sleep: silent.clock.sleep, bus: new AgentBus({ audit: silent.audit, clock: silent.clock.read }) });
    const unknown = await blind.execute(decision({ id: 'p-blind' }));
    expect(unknown.status).toBe('no-data');
    expect(silent.clock.now - T0).toBe(SETTLE * 1.5);
  });

  it('a rejected command is escalated and never retried under the same decision', async () => {
    const r = rig(2);
    r.commands.outcome = 'rejected';
    const d = decision({ id: 'p-rej' });
    const result = await r.executor.execute(d);
    expect(result.status).toBe('command-rejected');
    expect(result.escalated).toBe(true);
    expect((await r.executor.execute(d)).status).toBe('duplicate');
    expect(r.commands.sent).toHaveLength(1);
  });

  it('uses the latest telemetry as the previous value when the proposal has none', async () => {
    const r = rig(0);
    r.telemetry.add('gw-cold', 'gpio', 'backup_compressor_relay', T0 - 1000, false);
    const { previous: _drop, ...rest } = decision().proposal;
    const d = { ...decision(), proposal: { ...rest, id: 'p-noprev' }, id: 'dec-p-noprev' };
    const result = await r.executor.execute(d);
    expect(result.rollback).toMatchObject({ status: 'applied', value: false });
  });

  it('does not execute decisions that are not approved', async () => {
    const r = rig(2);
    const result = await r.executor.execute({ ...decision(), outcome: 'rejected' });
    expect(result.status).toBe('not-executable');
    expect(r.commands.sent).toHaveLength(0);
  });

  it('judges effects by direction, magnitude and target', () => {
    const dec = { gateway: 'g', device: 'd', point: 'p', direction: 'decrease', magnitude: 1, settleMs: 1 } as const;
    const s = (...v: number[]) => v.map((value, i) => ({ ts: i, value }));
    expect(checkEffect(dec, 10, s(9.5, 9, 8.8)).verdict).toBe('effective');
    expect(checkEffect(dec, 10, s(10.2, 9.8, 10)).verdict).toBe('no-effect');
    expect(checkEffect(dec, 10, s(11, 11.5, 12)).verdict).toBe('bad-effect');
    expect(checkEffect(dec, 10, []).verdict).toBe('no-data');
    // A single spike at the end does not decide (median of the last three).
    expect(checkEffect(dec, 10, s(8.5, 8.6, 30)).verdict).toBe('effective');
    const reach = { ...dec, direction: 'reach', magnitude: 0, target: 16, tolerance: 0.2 } as const;
    expect(checkEffect(reach, 21, s(16.1)).verdict).toBe('effective');
    expect(checkEffect(reach, 21, s(21)).verdict).toBe('no-effect');
    expect(checkEffect(reach, 17, s(19)).verdict).toBe('bad-effect');
  });

  it('feeds measured outcomes into a track record book', async () => {
    const r = rig(0);
    const book = new TrackRecordBook({ clock: r.clock.read });
    const executor = new Executor({ commands: r.commands, telemetry: r.telemetry, clock: r.clock.read, sleep: r.clock.sleep, onOutcome: (d, o) => book.recordDecision(d, o) });
    const before = book.mean('equipment-health', 'equipment');
    await executor.execute(decision({ id: 'p-learn' }));
    expect(book.mean('equipment-health', 'equipment')).toBeLessThan(before);
  });
});
