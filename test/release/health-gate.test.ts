/**
 * The update health gate (edge/update/health-gate.ts) keeps a new release only after the gateway's
 * health agent has judged it once: a release that leaks memory past its budget or fills the disk
 * shows only in the agent's checks, whose first round comes some seconds after start.
 */
import { describe, expect, it } from 'vitest';
import { awaitHealthy, type UpdateHealthSample } from '../../edge/update/health-gate.js';

const up: Omit<UpdateHealthSample, 'status'> = { connected: true, devices: { ahu1: { state: 'up' } }, outboxMessages: 0 };

function probe(statuses: Array<UpdateHealthSample['status']>): { sample(): UpdateHealthSample } {
  let i = 0;
  return {
    sample: () => {
      const status = statuses[Math.min(i++, statuses.length - 1)];
      return { ...up, ...(status ? { status } : {}) };
    },
  };
}

describe('update health gate', () => {
  const gate = (statuses: Array<UpdateHealthSample['status']>, deadlineMs = 1000) =>
    awaitHealthy({ probe: probe(statuses), deadline: Date.now() + deadlineMs, healthyForMs: 30, intervalMs: 5 });

  it('waits for the health agent to judge before keeping a release', async () => {
    expect(await gate(['pending', 'pending', 'pending', 'pending', 'pending', 'pending', 'pending', 'pending', 'pending', 'pending', 'ok'])).toEqual({ healthy: true });
    // Its first verdict is critical (rss past its budget): not kept.
    expect(await gate(['pending', 'pending', 'critical'], 200)).toEqual({ healthy: false, reason: expect.stringContaining('health agent critical') });
    // It never judged before the deadline: not kept, and the reason says so.
    expect(await gate(['pending'], 100)).toEqual({ healthy: false, reason: expect.stringContaining('the health agent has not judged it yet') });
    // Without a health agent, the rest of the probe decides.
    expect(await gate([undefined])).toEqual({ healthy: true });
  });
});
