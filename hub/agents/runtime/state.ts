/**
 * The agents' persistent state in the hub store (tables of migration 30): the executed set, track
 * records and the bus audit trail, and how long the first and the last are kept (trimAgentState,
 * run by the hub's retention job). SQL goes through the hub's one adapter (hub/db/sql.ts, `?`
 * placeholders); JSON goes in as text (jsonb parses it in PostgreSQL).
 */
import { errorMessage } from '../../../shared/kit/errors.js';
import { createLogger, type Logger } from '../../../shared/kit/log.js';
import type { AuditEntry, AuditSink } from '../bus/audit.js';
import type { TrackRecord, TrackRecordStore } from '../learning/track-record.js';
import type { ExecutedSet } from '../ports.js';
import type { Domain } from '../types.js';
import type { Sql, SqlValue } from '../../db/sql.js';

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
const json = <T>(v: unknown): T => (typeof v === 'string' ? JSON.parse(v) : v) as T;

/** Decisions already executed, persisted: a restarted hub never executes one again. */
export class StoreExecutedSet implements ExecutedSet {
  constructor(
    private readonly sql: Sql,
    private readonly clock: () => number = Date.now,
  ) {}

  async claim(key: string): Promise<boolean> {
    const rows = await this.sql.all('INSERT INTO agent_executed (key, claimed_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING RETURNING key', [key, this.clock()]);
    return rows.length > 0;
  }

  async has(key: string): Promise<boolean> {
    return (await this.sql.all('SELECT key FROM agent_executed WHERE key = ?', [key])).length > 0;
  }
}

/** Track records, so learned weights survive a restart. */
export class StoreTrackRecords implements TrackRecordStore {
  constructor(private readonly sql: Sql) {}

  async load(): Promise<readonly TrackRecord[]> {
    return (await this.sql.all('SELECT * FROM agent_track_records ORDER BY agent, domain')).map((r) => ({
      agent: String(r.agent),
      domain: r.domain as Domain,
      alpha: num(r.alpha),
      beta: num(r.beta),
      n: num(r.n),
      updatedAt: num(r.updated_at),
    }));
  }

  async save(r: TrackRecord): Promise<void> {
    await this.sql.all(
      `INSERT INTO agent_track_records (agent, domain, alpha, beta, n, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (agent, domain) DO UPDATE SET alpha = excluded.alpha, beta = excluded.beta, n = excluded.n, updated_at = excluded.updated_at`,
      [r.agent, r.domain, r.alpha, r.beta, r.n, r.updatedAt],
    );
  }
}

export interface StoredAuditEntry extends AuditEntry {
  readonly correlationId?: string;
}

/**
 * The bus audit trail in the store. The bus records synchronously; entries are written in order
 * by one background chain, so a slow database never stalls agent messaging.
 */
export class StoreAuditSink implements AuditSink {
  private queue: AuditEntry[] = [];
  private writing: Promise<void> = Promise.resolve();
  private readonly log: Logger;

  constructor(
    private readonly sql: Sql,
    log?: Logger,
  ) {
    this.log = log ?? createLogger('hub.agents.audit');
  }

  record(entry: AuditEntry): void {
    this.queue.push(entry);
    if (this.queue.length === 1) this.writing = this.writing.then(() => this.drain());
  }

  /** Resolves when everything recorded so far is written. */
  async flush(): Promise<void> {
    while (this.queue.length > 0) await (this.writing = this.writing.then(() => this.drain()));
    await this.writing;
  }

  private async drain(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    for (const e of batch) {
      try {
        await this.sql.all(
          'INSERT INTO agent_audit (seq, recorded_at, type, sender, correlation_id, message, recipients, failures) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
          [e.seq, e.recordedAt, e.message.type, e.message.from, e.message.correlationId ?? null, JSON.stringify(e.message), JSON.stringify(e.recipients), JSON.stringify(e.failures)],
        );
      } catch (err) {
        this.log.warn({ seq: e.seq, err: errorMessage(err) }, 'agent audit entry not stored');
      }
    }
  }

  /** Stored entries, oldest first; by correlation id (a decision id) when given. */
  async entries(query: { correlationId?: string; since?: number; limit?: number } = {}): Promise<StoredAuditEntry[]> {
    const where: string[] = [];
    const args: SqlValue[] = [];
    if (query.correlationId !== undefined) (args.push(query.correlationId), where.push('correlation_id = ?'));
    if (query.since !== undefined) (args.push(query.since), where.push('recorded_at >= ?'));
    args.push(Math.max(1, Math.min(10_000, query.limit ?? 1000)));
    const rows = await this.sql.all(`SELECT * FROM agent_audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ?`, args);
    return rows.map((r) => ({
      seq: num(r.seq),
      recordedAt: num(r.recorded_at),
      message: json<AuditEntry['message']>(r.message),
      recipients: json<string[]>(r.recipients),
      failures: json<AuditEntry['failures']>(r.failures),
      ...(r.correlation_id === null || r.correlation_id === undefined ? {} : { correlationId: String(r.correlation_id) }),
    }));
  }
}

const DAY_MS = 86_400_000;

/**
 * Executed keys of technicians' verdicts (`learn:<review item id>`): the agent service learns each
 * decided review item once, and looks again at decided items of any age whenever it starts, so
 * these are kept as long as the review items are.
 */
export const LEARNED_VERDICT_PREFIX = 'learn:';

/**
 * The shortest time a decision's executed key is kept. A decision is executed in the evaluation that
 * made it (its id embeds its trigger or snapshot time, never seen again), or once a technician
 * approves its review item, which lives at most a day by default (low priority); a hub that claimed
 * an approved item and stopped before finishing it finds the claim again on restart. A week covers
 * both with room for a long outage, however short the telemetry retention.
 */
export const EXECUTED_MIN_KEEP_MS = 7 * DAY_MS;

/** Rows deleted per statement: a long backlog goes in short transactions, not one long lock. */
const TRIM_BATCH = 5000;

export interface AgentStateTrim {
  /** Audit entries older than the kept days. */
  readonly auditDeleted: number;
  /** Executed decision keys older than the kept days (and EXECUTED_MIN_KEEP_MS). */
  readonly executedDeleted: number;
}

/**
 * Deletes the bus audit trail older than `keepDays` and executed decision keys older than
 * `keepDays` or EXECUTED_MIN_KEEP_MS, whichever is longer; verdict keys stay (LEARNED_VERDICT_PREFIX).
 */
export async function trimAgentState(sql: Sql, now: number, keepDays: number): Promise<AgentStateTrim> {
  const keepMs = keepDays * DAY_MS;
  const auditDeleted = await deleteInBatches(sql, 'DELETE FROM agent_audit WHERE id IN (SELECT id FROM agent_audit WHERE recorded_at < ? ORDER BY id LIMIT ?) RETURNING id', [now - keepMs]);
  const executedDeleted = await deleteInBatches(
    sql,
    'DELETE FROM agent_executed WHERE key IN (SELECT key FROM agent_executed WHERE claimed_at < ? AND key NOT LIKE ? LIMIT ?) RETURNING key',
    [now - Math.max(keepMs, EXECUTED_MIN_KEEP_MS), `${LEARNED_VERDICT_PREFIX}%`],
  );
  return { auditDeleted, executedDeleted };
}

async function deleteInBatches(sql: Sql, statement: string, args: readonly SqlValue[]): Promise<number> {
  let deleted = 0;
  for (;;) {
    const n = (await sql.all(statement, [...args, TRIM_BATCH])).length;
    deleted += n;
    if (n < TRIM_BATCH) return deleted;
  }
}
