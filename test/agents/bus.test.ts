import { describe, expect, it } from 'vitest';
import { isSwarmgateError } from '../../shared/kit/errors.js';
import { AgentBus, BusMessageSchema, RingBufferAudit, type BusMessage } from '../../hub/agents/index.js';

function setup(): { bus: AgentBus; audit: RingBufferAudit; inbox: Map<string, BusMessage[]> } {
  const audit = new RingBufferAudit(100);
  const bus = new AgentBus({ audit, clock: () => 1000 });
  const inbox = new Map<string, BusMessage[]>();
  for (const id of ['safety', 'energy', 'comfort', 'equipment']) {
    inbox.set(id, []);
    bus.subscribe(id, (m) => void inbox.get(id)?.push(m));
  }
  return { bus, audit, inbox };
}

const got = (inbox: Map<string, BusMessage[]>): Record<string, number> => Object.fromEntries([...inbox].map(([k, v]) => [k, v.length]));

describe('agent bus', () => {
  it('routes direct messages to one agent only', async () => {
    const { bus, inbox } = setup();
    const d = await bus.direct('task-assignment', 'coordinator', 'energy', { taskId: 't1', description: 'check setbacks' });
    expect(d.recipients).toEqual(['energy']);
    expect(got(inbox)).toEqual({ safety: 0, energy: 1, comfort: 0, equipment: 0 });
    const m = inbox.get('energy')?.[0];
    expect(m?.type).toBe('task-assignment');
    if (m?.type === 'task-assignment') expect(m.payload.taskId).toBe('t1');
  });

  it('multicasts to a group and to an explicit list, never back to the sender', async () => {
    const { bus, inbox } = setup();
    bus.join('hvac', 'energy');
    bus.join('hvac', 'comfort');
    bus.join('hvac', 'safety');
    await bus.multicast('collaboration-invite', 'safety', { group: 'hvac' }, { topic: 'night purge' });
    expect(got(inbox)).toEqual({ safety: 0, energy: 1, comfort: 1, equipment: 0 });
    await bus.multicast('resource-request', 'energy', { to: ['equipment', 'safety'] }, { resource: 'chiller-2', reason: 'peak' });
    expect(got(inbox)).toEqual({ safety: 1, energy: 1, comfort: 1, equipment: 1 });
  });

  it('broadcasts to everyone but the sender and honours type filters', async () => {
    const { bus, inbox } = setup();
    const quiet: BusMessage[] = [];
    bus.subscribe('logger', (m) => void quiet.push(m), ['emergency-broadcast']);
    await bus.broadcast('knowledge-share', 'energy', { topic: 'tariff', facts: { peakFrom: '17:00' } });
    expect(got(inbox)).toEqual({ safety: 1, energy: 0, comfort: 1, equipment: 1 });
    expect(quiet).toHaveLength(0);
    await bus.broadcast('emergency-broadcast', 'safety', { severity: 'critical', message: 'freezer breach', site: 's1' });
    expect(quiet).toHaveLength(1);
  });

  it('records every message for audit with its recipients and handler failures', async () => {
    const { bus, audit } = setup();
    bus.subscribe('flaky', () => {
      throw new Error('boom');
    });
    await bus.direct('consensus-vote', 'energy', 'comfort', {
      vote: { voter: 'energy', proposal: 'p-1', choice: 'approve', confidence: 0.8, reason: 'ok', castAt: 1000 },
    });
    await bus.broadcast('escalation-alert', 'executor', { severity: 'warning', subject: 'no effect', reason: 'temp flat', evidence: {} }, 'dec-1');
    await bus.direct('progress-update', 'energy', 'nobody', { taskId: 't1', progress: 0.5, status: 'running' });
    expect(audit.size).toBe(3);
    const [vote, alert, lost] = audit.entries();
    expect(vote?.recipients).toEqual(['comfort']);
    expect([...(alert?.recipients ?? [])].sort()).toEqual(['comfort', 'equipment', 'flaky', 'safety', 'energy'].sort());
    expect(alert?.failures).toEqual([{ agent: 'flaky', error: 'boom' }]);
    expect(lost?.recipients).toEqual([]);
    expect(audit.entries({ type: 'escalation-alert', correlationId: 'dec-1' })).toHaveLength(1);
    expect(audit.entries({ to: 'comfort' })).toHaveLength(2);
    expect(audit.entries({ from: 'energy' })).toHaveLength(2);
  });

  it('the ring buffer keeps the newest entries', async () => {
    const audit = new RingBufferAudit(3);
    const bus = new AgentBus({ audit });
    for (let i = 0; i < 5; i += 1) await bus.broadcast('knowledge-share', 'a', { topic: `t${i}`, facts: {} });
    expect(audit.dropped).toBe(2);
    expect(audit.entries().map((e) => (e.message.type === 'knowledge-share' ? e.message.payload.topic : ''))).toEqual(['t2', 't3', 't4']);
  });

  it('rejects malformed messages and duplicate subscriptions', async () => {
    const { bus } = setup();
    const bad = { id: 'm1', type: 'progress-update', from: 'a', route: { mode: 'broadcast' }, ts: 1, payload: { taskId: 't', progress: 2, status: 'running' } };
    await expect(bus.publish(bad as unknown as BusMessage)).rejects.toSatisfy((e: unknown) => isSwarmgateError(e, 'SWG_ERR_INTERNAL'));
    expect(() => bus.subscribe('energy', () => undefined)).toThrow(/already subscribed/);
    expect(BusMessageSchema.anyOf).toHaveLength(8);
  });
});
