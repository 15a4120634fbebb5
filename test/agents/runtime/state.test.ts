/** The agents' persisted state on both stores: executed set, track records, bus audit; all survive a reopen. */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AgentBus, TrackRecordBook } from '../../../hub/agents/index.js';
import { StoreAuditSink, StoreExecutedSet, StoreTrackRecords, sqlFor } from '../../../hub/agents/runtime/index.js';
import { featureMigrations } from '../../../hub/features.js';
import { PostgresStore } from '../../../hub/store/postgres/postgres.js';
import { SqliteStore } from '../../../hub/store/sqlite/sqlite.js';
import type { HubStore } from '../../../hub/store/types.js';
import { peerOrSkip, tcpPeer } from '../../support/peers.js';
import { tempDir } from '../../support/tmp.js';

const PG_URL = process.env.SWARMGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const postgres = peerOrSkip(await tcpPeer('127.0.0.1', 5432, 'postgresql'));

interface Backend {
  open(): Promise<HubStore>;
  cleanup(): Promise<void>;
}

function sqlite(): Backend {
  const dir = tempDir('swarmgate-agent-state-');
  return { open: async () => SqliteStore.open({ path: `${dir.path}/hub.db`, migrations: featureMigrations('sqlite') }), cleanup: async () => dir.remove() };
}

function pg(): Backend {
  const schema = `swg_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const open = (): Promise<PostgresStore> => PostgresStore.open({ url: PG_URL, schema, migrations: featureMigrations('postgres') });
  return {
    open,
    cleanup: async () => {
      const s = await open();
      await s.dropSchema();
      await s.close();
    },
  };
}

const cases: Array<[string, () => Backend, boolean]> = [
  ['sqlite', sqlite, true],
  ['postgres', pg, postgres],
];

describe.each(cases)('agent state on %s', (_name, make, enabled) => {
  it.skipIf(!enabled)('claims a key once, keeps track records and the bus audit across a reopen', async () => {
    const backend = make();
    let store = await backend.open();
    try {
      const executed = new StoreExecutedSet(sqlFor(store), () => 1000);
      expect(await executed.claim('dec-1')).toBe(true);
      expect(await executed.claim('dec-1')).toBe(false);
      expect(await Promise.all([executed.claim('dec-2'), executed.claim('dec-2')])).toEqual(expect.arrayContaining([true, false]));
      expect(await executed.has('dec-3')).toBe(false);

      const book = new TrackRecordBook({ store: new StoreTrackRecords(sqlFor(store)), clock: () => 5000 });
      for (let i = 0; i < 3; i += 1) await book.record('energy', 'energy', 'technician-rejected');
      await book.record('safety', 'safety', 'effect-expected');

      const audit = new StoreAuditSink(sqlFor(store));
      const bus = new AgentBus({ audit, clock: () => 7000 });
      await bus.broadcast('knowledge-share', 'coordinator', { topic: 'decision', facts: { decision: 'dec-1' } }, 'dec-1');
      await bus.broadcast('escalation-alert', 'executor', { severity: 'warning', subject: 's', reason: 'r', evidence: {} }, 'dec-2');
      await audit.flush();

      await store.close();
      store = await backend.open();
      expect(await new StoreExecutedSet(sqlFor(store)).has('dec-1')).toBe(true);
      const fresh = new TrackRecordBook({ store: new StoreTrackRecords(sqlFor(store)), clock: () => 5000 });
      expect(await fresh.load()).toBe(2);
      expect(fresh.mean('energy', 'energy')).toBeCloseTo(2 / 7);
      expect(fresh.get('energy', 'energy').n).toBe(3);
      const trail = await new StoreAuditSink(sqlFor(store)).entries();
      expect(trail.map((e) => e.message.type)).toEqual(['knowledge-share', 'escalation-alert']);
      expect(trail[0]).toMatchObject({ recordedAt: 7000, correlationId: 'dec-1', message: { from: 'coordinator' } });
      expect((await new StoreAuditSink(sqlFor(store)).entries({ correlationId: 'dec-2' })).map((e) => e.message.type)).toEqual(['escalation-alert']);
    } finally {
      await store.close();
      await backend.cleanup();
    }
  });
});
