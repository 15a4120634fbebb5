/**
 * The agents' audit trail and executed set are trimmed by age, on both stores: by trimAgentState
 * and by the hub's retention job (under the retention lease), which logs how many rows went. The
 * executed set keeps what it still dedupes: recent decisions (at least a week) and every verdict key.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sqlFor, type Sql } from '../../../hub/agents/runtime/index.js';
import { EXECUTED_MIN_KEEP_MS, trimAgentState } from '../../../hub/agents/runtime/state.js';
import { parseHubConfig } from '../../../hub/config.js';
import { featureMigrations } from '../../../hub/features.js';
import { startHub } from '../../../hub/index.js';
import { PostgresStore } from '../../../hub/store/postgres/postgres.js';
import { SqliteStore } from '../../../hub/store/sqlite/sqlite.js';
import type { HubStore } from '../../../hub/store/types.js';
import { capturedLog } from '../../support/captured-log.js';
import { peerOrSkip, tcpPeer } from '../../support/peers.js';
import { tempDir } from '../../support/tmp.js';
import { addUsers, waitFor } from '../../hub/helpers.js';

const PG_URL = process.env.SWARMGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const postgres = peerOrSkip(await tcpPeer('127.0.0.1', 5432, 'postgresql'));
const DAY = 86_400_000;

interface Backend {
  readonly store: HubStore;
  cleanup(): Promise<void>;
}

async function sqlite(): Promise<Backend> {
  const dir = tempDir('swarmgate-agent-retention-');
  const store = SqliteStore.open({ path: `${dir.path}/hub.db`, migrations: featureMigrations('sqlite') });
  return {
    store,
    cleanup: async () => {
      await store.close();
      dir.remove();
    },
  };
}

async function pg(): Promise<Backend> {
  const schema = `swg_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const store = await PostgresStore.open({ url: PG_URL, schema, migrations: featureMigrations('postgres') });
  return {
    store,
    cleanup: async () => {
      await store.dropSchema();
      await store.close();
    },
  };
}

const cases: Array<[string, () => Promise<Backend>, boolean]> = [
  ['sqlite', sqlite, true],
  ['postgres', pg, postgres],
];

/** `count` audit entries recorded at `at`, in one statement. */
async function audit(sql: Sql, at: number, count = 1): Promise<void> {
  await sql.all(
    `INSERT INTO agent_audit (seq, recorded_at, type, sender, correlation_id, message, recipients, failures)
     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
     SELECT i, CAST(? AS BIGINT), 'knowledge-share', 'coordinator', 'dec-1', '{}', '[]', '[]' FROM n`,
    [count, at],
  );
}

async function claim(sql: Sql, key: string, at: number): Promise<void> {
  await sql.all('INSERT INTO agent_executed (key, claimed_at) VALUES (?, ?)', [key, at]);
}

const auditTimes = async (sql: Sql): Promise<Array<{ at: number; n: number }>> =>
  (await sql.all('SELECT recorded_at AS at, COUNT(*) AS n FROM agent_audit GROUP BY recorded_at ORDER BY recorded_at')).map((r) => ({ at: Number(r.at), n: Number(r.n) }));
const executedKeys = async (sql: Sql): Promise<string[]> => (await sql.all('SELECT key FROM agent_executed ORDER BY key')).map((r) => String(r.key));

describe.each(cases)('agent state retention on %s', (_name, make, enabled) => {
  it.skipIf(!enabled)('trims the audit older than the kept days in batches; executed decisions after a week at least; verdict keys never', async () => {
    const backend = await make();
    try {
      const sql = sqlFor(backend.store);
      const now = Date.UTC(2025, 5, 1);
      await audit(sql, now - 31 * DAY, 12_000); // more than one delete batch
      await audit(sql, now - 29 * DAY, 2);
      await audit(sql, now - 1000);
      await claim(sql, 'p-old', now - 31 * DAY);
      await claim(sql, 'p-month', now - 29 * DAY);
      await claim(sql, 'learn:item-1', now - 400 * DAY);
      expect(await trimAgentState(sql, now, 30)).toEqual({ auditDeleted: 12_000, executedDeleted: 1 });
      expect(await auditTimes(sql)).toEqual([
        { at: now - 29 * DAY, n: 2 },
        { at: now - 1000, n: 1 },
      ]);
      expect(await executedKeys(sql)).toEqual(['learn:item-1', 'p-month']);

      // Kept for a day: the audit goes, but an executed decision stays for EXECUTED_MIN_KEEP_MS.
      await claim(sql, 'p-3-days', now - 3 * DAY);
      expect(EXECUTED_MIN_KEEP_MS).toBe(7 * DAY);
      expect(await trimAgentState(sql, now, 1)).toEqual({ auditDeleted: 2, executedDeleted: 1 });
      expect(await auditTimes(sql)).toEqual([{ at: now - 1000, n: 1 }]);
      expect(await executedKeys(sql)).toEqual(['learn:item-1', 'p-3-days']);
      expect(await trimAgentState(sql, now, 1)).toEqual({ auditDeleted: 0, executedDeleted: 0 });
    } finally {
      await backend.cleanup();
    }
  }, 60_000);

  it.skipIf(!enabled)("the hub's retention job trims them under the retention lease and logs how many rows went", async () => {
    const backend = await make();
    const dir = tempDir('swarmgate-agent-retention-hub-');
    const { log, lines } = capturedLog<{ msg: string; auditDeleted?: number; executedDeleted?: number; keepDays?: number }>('info');
    try {
      await addUsers(join(dir.path, 'users.yaml'), []);
      const config = parseHubConfig(
        'broker: { embedded: { host: 127.0.0.1, port: 0, credentialsFile: users.yaml } }\nstore: { kind: sqlite, path: unused.db }\nretention: { rawDays: 10 }\n',
        join(dir.path, 'hub.yaml'),
      );
      const sql = sqlFor(backend.store);
      const now = Date.now();
      await audit(sql, now - 11 * DAY, 3);
      await audit(sql, now - 9 * DAY);
      await claim(sql, 'p-old', now - 11 * DAY);
      await claim(sql, 'p-recent', now - 9 * DAY);
      await claim(sql, 'learn:item-1', now - 100 * DAY);
      const hub = await startHub(config, { store: backend.store, retentionIntervalMs: 100, leaseTtlMs: 3000, logger: log });
      try {
        const said = await waitFor(() => lines.find((l) => l.msg === 'agent audit and executed set trimmed'), 10_000, 'the agent state retention');
        expect(said).toMatchObject({ auditDeleted: 3, executedDeleted: 1, keepDays: 10 });
        expect(lines.some((l) => l.msg === 'retention applied')).toBe(true);
        expect(await auditTimes(sql)).toEqual([{ at: now - 9 * DAY, n: 1 }]);
        expect(await executedKeys(sql)).toEqual(['learn:item-1', 'p-recent']);
      } finally {
        await hub.stop();
      }
    } finally {
      await backend.cleanup();
      dir.remove();
    }
  }, 60_000);
});
