/**
 * The agents' persistent state in the hub store (tables of migration 30): the executed set, track
 * records and the bus audit trail. SQL is written once with $n placeholders (rebound to positional ? for
 * SQLite), JSON goes in as text (jsonb parses it in PostgreSQL).
 */
import { errorMessage, SwarmgateError } from '../../shared/errors.js';
import { createLogger, type Logger } from '../../shared/log.js';
import type { AuditEntry, AuditSink } from '../agents/bus/audit.js';
import type { TrackRecord, TrackRecordStore } from '../agents/learning/track-record.js';
import type { ExecutedSet } from '../agents/ports.js';
import type { Domain } from '../agents/types.js';
import { PostgresStore } from '../store/postgres.js';
import { SqliteStore } from '../store/sqlite.js';
import type { HubStore } from '../store/types.js';

type Row = Record<string, unknown>;

/** Runs one statement and returns its rows (use RETURNING to see what a write did). */
export type Sql = (sql: string, args?: readonly unknown[]) => Promise<Row[]>;

export function sqlFor(store: HubStore): Sql {
  if (store instanceof SqliteStore) {
    const db = store.database;
    return async (sql, args = []) => {
      // Positional ? in order of appearance, each bound to the argument its $n names.
      const order: number[] = [];
      const statement = db.prepare(sql.replace(/\$(\d+)/g, (_m, n: string) => (order.push(Number(n) - 1), '?')));
      const bound = order.map((i) => args[i]);
      return statement.reader ? (statement.all(...bound) as Row[]) : (statement.run(...bound), []);
    };
  }
  if (store instanceof PostgresStore) return (sql, args = []) => store.query(sql, [...args]);
  throw new SwarmgateError('SWG_ERR_INTERNAL', `no agent state for a ${store.kind} store`);
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
const json = <T>(v: unknown): T => (typeof v === 'string' ? JSON.parse(v) : v) as T;

/** Decisions already executed, persisted: a restarted hub never executes one again. */
export class StoreExecutedSet implements ExecutedSet {
  constructor(
    private readonly sql: Sql,
    private readonly clock: () => number = Date.now,
  ) {}

  async claim(key: string): Promise<boolean> {
    const rows = await this.sql('INSERT INTO agent_executed (key, claimed_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING RETURNING key', [key, this.clock()]);
    return rows.length > 0;
  }

  async has(key: string): Promise<boolean> {
    return (await this.sql('SELECT key FROM agent_executed WHERE key = $1', [key])).length > 0;
  }
}

/** Track records, so learned weights survive a restart. */
export class StoreTrackRecords implements TrackRecordStore {
  constructor(private readonly sql: Sql) {}

  async load(): Promise<readonly TrackRecord[]> {
    return (await this.sql('SELECT * FROM agent_track_records ORDER BY agent, domain')).map((r) => ({
      agent: String(r.agent),
      domain: r.domain as Domain,
      alpha: num(r.alpha),
      beta: num(r.beta),
      n: num(r.n),
      updatedAt: num(r.updated_at),
    }));
  }

  async save(r: TrackRecord): Promise<void> {
    await this.sql(
      `INSERT INTO agent_track_records (agent, domain, alpha, beta, n, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
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
        await this.sql(
          'INSERT INTO agent_audit (seq, recorded_at, type, sender, correlation_id, message, recipients, failures) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
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
    const args: unknown[] = [];
    if (query.correlationId !== undefined) (args.push(query.correlationId), where.push(`correlation_id = $${args.length}`));
    if (query.since !== undefined) (args.push(query.since), where.push(`recorded_at >= $${args.length}`));
    args.push(Math.max(1, Math.min(10_000, query.limit ?? 1000)));
    const rows = await this.sql(`SELECT * FROM agent_audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT $${args.length}`, args);
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
