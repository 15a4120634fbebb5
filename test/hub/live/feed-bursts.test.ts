/**
 * The live feed sums up bursts of gateway status changes: the first change of a quiet spell goes
 * out on its own (`gateway`), the rest of the window as one `gateways` summary that accounts for
 * every change, per status and per site, with the first gateways named.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { HubEvents } from '../../../hub/events.js';
import { LiveFeed, type GatewayBurst } from '../../../hub/live/feed.js';
import type { GatewayRecord } from '../../../hub/store/types.js';
import { waitFor } from '../helpers.js';

const record = (gateway: string, site: string, status: 'online' | 'offline'): GatewayRecord => ({ gateway, site, status, firstSeen: 1, lastSeen: 1, stateTs: 1, version: '1.0.0' });

describe('live feed: gateway status bursts', () => {
  const events = new HubEvents();
  let feed: LiveFeed | undefined;
  afterEach(() => feed?.close());

  it('sends the first change at once and sums up a burst of 20,000 as one event', async () => {
    feed = new LiveFeed({ events }, { burstWindowMs: 300 });
    const got: { topic: string; data: unknown }[] = [];
    feed.subscribe((topic, data) => got.push({ topic, data }));
    await events.emit('gateway', { record: record('gw-first', 'north', 'offline'), previous: 'online' });
    expect(got).toEqual([{ topic: 'gateway', data: expect.objectContaining({ gateway: 'gw-first', status: 'offline', previous: 'online' }) }]);
    for (let i = 0; i < 20_000; i++) await events.emit('gateway', { record: record(`gw-${i}`, i % 3 === 0 ? 'south' : 'north', i < 15_000 ? 'offline' : 'online'), previous: i < 15_000 ? 'online' : 'offline' });
    await waitFor(() => got.length === 2 || undefined, 5000, 'the burst summary');
    const [, summary] = got;
    expect(summary?.topic).toBe('gateways');
    const burst = summary?.data as GatewayBurst;
    expect(burst.changes).toBe(20_000);
    expect(burst.byStatus).toEqual({ offline: 15_000, online: 5000 });
    const perSite = Object.values(burst.sites).reduce((n, s) => n + (s.offline ?? 0) + (s.online ?? 0), 0);
    expect(perSite).toBe(20_000);
    expect(burst.sites.south).toEqual({ offline: 5000, online: 1667 });
    expect(burst.gateways).toHaveLength(50);
    expect(burst.gateways[0]).toEqual({ gateway: 'gw-0', site: 'south', status: 'offline' });
    // After a quiet spell the next change is again on its own.
    await new Promise((r) => setTimeout(r, 350));
    await events.emit('gateway', { record: record('gw-late', 'north', 'online'), previous: 'offline' });
    expect(got.at(-1)).toEqual({ topic: 'gateway', data: expect.objectContaining({ gateway: 'gw-late' }) });
    expect(got).toHaveLength(3);
  });

  it('sends what a window holds when the feed closes, and counts sites past the first 50 only in the totals', async () => {
    feed = new LiveFeed({ events }, { burstWindowMs: 60_000 });
    const got: { topic: string; data: unknown }[] = [];
    feed.subscribe((topic, data) => got.push({ topic, data }));
    for (let i = 0; i < 200; i++) await events.emit('gateway', { record: record(`gw-${i}`, `site-${i}`, 'offline'), previous: 'online' });
    expect(got).toHaveLength(1);
    feed.close();
    const burst = got[1]?.data as GatewayBurst;
    expect(burst.changes).toBe(199);
    expect(Object.keys(burst.sites)).toHaveLength(50);
    expect(burst.byStatus).toEqual({ offline: 199 });
  });
});
