import { describe, expect, it } from 'vitest';
import { HubEvents } from '../../hub/events.js';

describe('hub events registry', () => {
  it('awaits async listeners, isolates failing ones and unsubscribes', async () => {
    const events = new HubEvents();
    const order: string[] = [];
    const off = events.on('review', async ({ review }) => {
      await new Promise((r) => setTimeout(r, 20));
      order.push(`slow ${review.id}`);
    });
    events.on('review', () => {
      throw new Error('listener bug');
    });
    const review = { v: 1 as const, id: 'rv-00001', gateway: 'g', ts: 1, expiresAt: 2, actionClass: 'x', action: { kind: 'mode' as const, mode: 'auto' as const }, confidence: 0.5, rationale: 'r', evidence: {} };
    await events.emit('review', { site: 's', gateway: 'g', review });
    order.push('after emit');
    expect(order).toEqual(['slow rv-00001', 'after emit']);
    off();
    expect(events.listenerCount('review')).toBe(1);
  });
});
