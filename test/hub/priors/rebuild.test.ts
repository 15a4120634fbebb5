/**
 * PriorService.rebuild coalesces: a fleet publishing its priors at once costs at most two
 * rebuilds of a key, one running and one queued (which reads everything stored before it starts),
 * never two at the same time, however the calls fall.
 */
import { describe, expect, it } from 'vitest';
import { PriorService } from '../../../hub/priors/service.js';

describe('fleet prior rebuilds', () => {
  it('runs one at a time per key, and calls while one runs share the one queued behind it', async () => {
    const service = new PriorService({} as ConstructorParameters<typeof PriorService>[0]);
    let running = 0;
    let most = 0;
    const started: string[] = [];
    (service as unknown as { rebuildNow: (key: string) => Promise<undefined> }).rebuildNow = async (key) => {
      started.push(key);
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 30));
      running--;
      return undefined;
    };
    const p1 = service.rebuild('profile:x#y');
    const p2 = service.rebuild('profile:x#y'); // the same tick: queued
    await new Promise((r) => setTimeout(r, 10));
    const p3 = service.rebuild('profile:x#y'); // while the first runs: the same queued one
    expect(p3).toBe(p2);
    const other = service.rebuild('profile:z#w'); // another key runs beside them
    await Promise.all([p1, p2, p3, other]);
    expect(started).toEqual(['profile:x#y', 'profile:z#w', 'profile:x#y']);
    expect(most).toBe(2); // the two keys, never one key twice
    // Settled: the next call runs at once.
    const p4 = service.rebuild('profile:x#y');
    expect(started).toHaveLength(4);
    await p4;
  });
});
