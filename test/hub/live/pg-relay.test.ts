/**
 * The live relay between hub processes on PostgreSQL (LISTEN/NOTIFY), two feeds in one test
 * process: every relayed topic arrives once at the other process; a gateway status change both
 * processes heard (a shared broker broadcasts states) and relayed is shown once on each stream,
 * and a change only one process heard reaches the other's.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubEvents } from '../../../hub/events.js';
import { LiveFeed, type LiveTopic } from '../../../hub/live/feed.js';
import { startPgRelay, type PgRelay } from '../../../hub/live/pg-relay.js';
import { createLogger } from '../../../shared/kit/log.js';
import { peerOrSkip, tcpPeer } from '../../support/peers.js';
import { waitFor } from '../helpers.js';

const PG_URL = process.env.SWARMGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const available = peerOrSkip(await tcpPeer('127.0.0.1', 5432, 'postgresql'));

describe.skipIf(!available)('live relay between hub processes (PostgreSQL)', () => {
  const schema = `swg_relay_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
  const pool = new pg.Pool({ connectionString: PG_URL, max: 2 });
  const processes: { events: HubEvents; feed: LiveFeed; relay: PgRelay; got: { topic: LiveTopic; data: unknown }[] }[] = [];

  beforeAll(async () => {
    for (const origin of ['hub-a', 'hub-b']) {
      const events = new HubEvents();
      const feed = new LiveFeed({ events }, { burstWindowMs: 50 });
      const got: { topic: LiveTopic; data: unknown }[] = [];
      feed.subscribe((topic, data) => got.push({ topic, data }));
      const relay = await startPgRelay({
        url: PG_URL,
        schema,
        origin,
        feed,
        notify: async (channel, payload) => void (await pool.query('SELECT pg_notify($1, $2)', [channel, payload])),
        log: createLogger('test-relay', 'silent'),
      });
      processes.push({ events, feed, relay, got });
    }
  });

  afterAll(async () => {
    for (const p of processes) {
      await p.relay.close();
      p.feed.close();
    }
    await pool.end();
  });

  it('relays a command to the other process once; a gateway status both processes heard is shown once on each', async () => {
    const [a, b] = processes as [(typeof processes)[0], (typeof processes)[0]];
    const record = { gateway: 'gw-1', site: 's', status: 'online' as const, firstSeen: 1, lastSeen: 1, stateTs: 1 };
    // The same state message reaches both processes (broadcast by the shared broker).
    await a.events.emit('gateway', { record, previous: 'offline' });
    await b.events.emit('gateway', { record, previous: 'offline' });
    const command = { id: 'cmd-1', gateway: 'gw-1', site: 's', status: 'pending', attempts: 1, createdAt: 1, updatedAt: 1, deadline: null, command: { v: 1, id: 'cmd-1', ts: 1, origin: 'user:x', action: { kind: 'mode', mode: 'auto' } } };
    await a.events.emit('command', { record: command as never });
    await waitFor(() => (b.got.some((g) => g.topic === 'command') ? true : undefined), 5000, 'the command relayed');
    // A later change from b, relayed to a, shows a's relay has delivered what came before it.
    await b.events.emit('command', { record: { ...command, id: 'cmd-2' } as never });
    await waitFor(() => (a.got.some((g) => g.topic === 'command' && (g.data as { id: string }).id === 'cmd-2') ? true : undefined), 5000, 'the second command relayed');
    for (const p of [a, b]) {
      expect(p.got.filter((g) => g.topic === 'gateway')).toHaveLength(1);
      expect(p.got.filter((g) => g.topic === 'command')).toHaveLength(2);
    }
    // A change only the first process applied (the second read it back from the shared store as no change) reaches the second's stream.
    await new Promise((r) => setTimeout(r, 100)); // past the burst window: the next change goes on its own
    await a.events.emit('gateway', { record: { ...record, status: 'offline', stateTs: 2 }, previous: 'online' });
    await waitFor(() => (b.got.some((g) => g.topic === 'gateway' && (g.data as { status: string }).status === 'offline') ? true : undefined), 5000, 'the offline change relayed');
    expect(a.got.filter((g) => g.topic === 'gateway')).toHaveLength(2);
  });
});
