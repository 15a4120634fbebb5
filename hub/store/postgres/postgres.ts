/**
 * HubStore on PostgreSQL (pg). Tables live in one schema (default "swarmgate"), set as the
 * search_path of every pooled connection, so tests can use a throwaway schema per run. BIGINT
 * columns come back as JS numbers (ms timestamps fit exactly).
 */
import pg from 'pg';
import { SwarmgateError, errorMessage, isSwarmgateError } from '../../../shared/kit/errors.js';
import type { GapRecord, GatewayEvent, TelemetryBatch } from '../../../shared/wire/messages.js';
import { createLogger, type Logger } from '../../../shared/kit/log.js';
import { ConflictLog, batchContentHash, isConflict } from '../batch-conflicts.js';
import { DAY_MS, checkHistoryArgs, checkLimit, retiredKeepDays, staleLevels } from '../aggregate.js';
import { COMPACT_EVERY_MS, compactChunks } from './compaction.js';
import { GroupCommit } from './group-commit.js';
import { JournaledTelemetry } from './journaled.js';
import { POSTGRES_MIGRATIONS } from './migrations.js';
import { ChunkPartitions } from './partitions.js';
import { SeriesReads } from './reads.js';
import { retainChunks } from './retention.js';
import { SeriesIds } from './series-ids.js';
import { ChunkWriter } from './writer.js';
import { POSTGRES_SCHEMA_NAME_RULE, isPostgresSchemaName } from './schema-name.js';
import { commandFromRow, eventFromRow, gapFromRow, gapPageQuery, gatewayFromRow, numberPlaceholders, readingFromRow, type Row } from '../rows.js';
import { refuseNewerSchema, type Migration } from '../migration.js';
import {
  DEFAULT_RETENTION,
  type CommandPatch,
  type CommandQuery,
  type CommandRecord,
  type CommandStatus,
  type EventQuery,
  type ReceivedEventQuery,
  type GapPageQuery,
  type GatewayPatch,
  type GatewayRecord,
  type HistoryBucket,
  type HubStore,
  type IngestResult,
  type RawSample,
  type RetentionPolicy,
  type RetentionResult,
  type SamplePage,
  type StoredEvent,
  type StoredGap,
  type StoredReading,
  type TelemetryStoreStats,
} from '../types.js';

export interface PostgresStoreOptions {
  /** postgres://user@host:port/db; default DATABASE_URL. */
  readonly url?: string;
  /** Schema holding the tables (created when missing). */
  readonly schema?: string;
  readonly retention?: RetentionPolicy;
  readonly migrations?: readonly Migration[];
  /** `migrations` and the built-in ones are this release's whole schema: a database with a newer one is refused (refuseNewerSchema). */
  readonly wholeSchema?: boolean;
  readonly maxConnections?: number;
  /** Where batch conflicts are reported; default a 'hub-store' logger. */
  readonly logger?: Logger;
  /**
   * This process's ingest journal folder: telemetry is acknowledged once journaled and written to
   * PostgreSQL every flushMs (journaled.ts). Without it every batch is committed before
   * ingestBatch resolves. Each hub process needs its own folder.
   */
  readonly journalDir?: string;
  /** Interval of journaled writes; default 2000 ms. */
  readonly flushMs?: number;
  /** fsync every journal append (acknowledged telemetry survives power loss too). */
  readonly fsync?: boolean;
  /** Journaled readings waiting for PostgreSQL past which batches are refused for now (../buffer-limit.ts); default 2,000,000. */
  readonly maxBufferedReadings?: number;
}

const INT8_OID = 20;
const PARTITIONS_AHEAD_EVERY_MS = 6 * 3_600_000;

function typeParser(oid: number, format?: string): (value: string) => unknown {
  if (oid === INT8_OID) return (value: string) => Number(value);
  return pg.types.getTypeParser(oid, (format ?? 'text') as 'text') as (value: string) => unknown;
}

export class PostgresStore implements HubStore {
  readonly kind = 'postgres' as const;
  private closed = false;
  private readonly conflicts: ConflictLog;
  private readonly partitions: ChunkPartitions;
  private readonly ids = new SeriesIds();
  private readonly commits: GroupCommit;
  private readonly reads: SeriesReads;
  private readonly writer: ChunkWriter;
  private journaled: JournaledTelemetry | undefined;
  private aheadTimer: NodeJS.Timeout | undefined;
  private compactTimer: NodeJS.Timeout | undefined;
  private compacting: Promise<number> | undefined;

  private constructor(
    private readonly pool: pg.Pool,
    readonly schema: string,
    private readonly policy: RetentionPolicy,
    private readonly log: Logger,
  ) {
    this.conflicts = new ConflictLog(log);
    this.partitions = new ChunkPartitions(pool, schema);
    const writer = (this.writer = new ChunkWriter(pool, this.partitions, this.ids));
    this.commits = new GroupCommit((entries) => writer.write(entries));
    this.reads = new SeriesReads(pool, this.ids, () => this.journaled?.buffer);
  }

  /** Creates the coming days' partitions now and every few hours (writes create a missing one anyway). */
  private async startPartitions(): Promise<void> {
    await this.partitions.list();
    await this.partitions.ensureAhead();
    this.aheadTimer = setInterval(() => {
      this.partitions.ensureAhead().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'creating the coming days\' chunk partitions failed; retrying later'));
    }, PARTITIONS_AHEAD_EVERY_MS);
    this.aheadTimer.unref();
    this.compactTimer = setInterval(() => {
      this.compact().catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'chunk compaction failed; retrying later'));
    }, COMPACT_EVERY_MS);
    this.compactTimer.unref();
  }

  /** Merges runs of small old chunks now (compaction.ts; it happens on a timer anyway); how many chunks it removed. */
  compact(now = Date.now()): Promise<number> {
    const run = compactChunks(this.pool, this.partitions, this.schema, now);
    this.compacting = run;
    return run.finally(() => {
      if (this.compacting === run) this.compacting = undefined;
    });
  }

  static async open(options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const url = options.url ?? process.env.DATABASE_URL;
    if (!url) throw new SwarmgateError('SWG_ERR_HUB_STORE', 'no PostgreSQL url: set store.url in the hub config or DATABASE_URL');
    const schema = options.schema ?? 'swarmgate';
    if (!isPostgresSchemaName(schema)) throw new SwarmgateError('SWG_ERR_HUB_STORE', `invalid PostgreSQL schema name "${schema}": use ${POSTGRES_SCHEMA_NAME_RULE}`);
    const pool = new pg.Pool({ connectionString: url, max: options.maxConnections ?? 5, options: `-c search_path=${schema}`, types: { getTypeParser: typeParser } as pg.CustomTypesConfig });
    pool.on('error', () => undefined);
    const store = new PostgresStore(pool, schema, options.retention ?? DEFAULT_RETENTION, options.logger ?? createLogger('hub-store'));
    try {
      await store.migrate([...POSTGRES_MIGRATIONS, ...(options.migrations ?? [])], options.wholeSchema ? `the PostgreSQL schema ${schema}` : undefined);
      await store.startPartitions();
      if (options.journalDir) store.journaled = await JournaledTelemetry.open({ dir: options.journalDir, flushMs: options.flushMs, fsync: options.fsync, maxBufferedReadings: options.maxBufferedReadings }, pool, store.writer, store.conflicts, store.log);
    } catch (err) {
      if (store.aheadTimer) clearInterval(store.aheadTimer);
      if (store.compactTimer) clearInterval(store.compactTimer);
      await pool.end().catch(() => undefined);
      if (isSwarmgateError(err, 'SWG_ERR_HUB_STORE_NEWER')) throw err;
      throw new SwarmgateError('SWG_ERR_HUB_STORE', `cannot open PostgreSQL store (${url.replace(/\/\/[^@/]*@/, '//***@')}, schema ${schema}): ${errorMessage(err)}`, { cause: err });
    }
    return store;
  }

  private async tx<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  private async rows(sql: string, args: unknown[] = []): Promise<Row[]> {
    return (await this.pool.query(sql, args)).rows as Row[];
  }

  private async migrate(migrations: readonly Migration[], refuseNewer?: string): Promise<void> {
    await this.tx(async (c) => {
      // Several hub processes may start at once: one creates and migrates, the others wait.
      // (CREATE SCHEMA IF NOT EXISTS itself races, so it runs under the lock too.)
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`swarmgate-migrate:${this.schema}`]);
      await c.query(`CREATE SCHEMA IF NOT EXISTS "${this.schema}"`);
      await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
      const applied = new Set((await c.query('SELECT version FROM schema_migrations')).rows.map((r: { version: number }) => r.version));
      if (refuseNewer !== undefined) refuseNewerSchema(applied, migrations, refuseNewer);
      for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
        if (applied.has(m.version)) continue;
        await c.query(m.sql);
        await m.convert?.(c, this.schema);
        await c.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, Date.now()]);
      }
    });
  }

  /** Applies migrations not applied yet (feature tables for a store opened without them). */
  applyMigrations(migrations: readonly Migration[]): Promise<void> {
    return this.migrate(migrations);
  }

  /** Runs SQL in the store's schema, for later features with their own tables. */
  query(sql: string, args: unknown[] = []): Promise<Row[]> {
    return this.rows(sql, args);
  }

  /**
   * Stores the batch as per-point chunks with its key and latest values (writer.ts): journaled and
   * written with the next flush (journaled.ts) when the store has a journal, else written together
   * with the calls in flight beside it (group-commit.ts) and committed when it resolves.
   */
  async ingestBatch(batch: TelemetryBatch, receivedAt = Date.now(), raw?: Uint8Array): Promise<IngestResult> {
    const hash = batchContentHash(batch);
    const journaled = await this.journaled?.ingest(batch, receivedAt, raw, hash);
    if (journaled) return journaled;
    const outcome = await this.commits.submit({ batch, receivedAt, hash });
    if (outcome.stored) return { stored: true, readings: batch.readings.length };
    if (!isConflict(outcome.storedHash || null, hash, batch)) return { stored: false, readings: 0 };
    this.conflicts.report(batch, outcome.storedHash, hash);
    return { stored: false, readings: 0, conflict: true };
  }

  /** Writes journaled telemetry now (it happens on a timer anyway); nothing to do when writing through. */
  async flush(): Promise<void> {
    await this.journaled?.flush();
    await this.commits.idle();
  }

  /** The journal and buffer when journaled, for metrics. */
  telemetryStats(): TelemetryStoreStats {
    return this.journaled?.stats() ?? { buffered: 0, journalBytes: 0, lastFlushMs: 0, flushFailures: 0 };
  }

  async latest(gateway?: string): Promise<StoredReading[]> {
    const select = async (): Promise<StoredReading[]> =>
      (gateway ? await this.rows('SELECT * FROM latest WHERE gateway = $1 ORDER BY device, point', [gateway]) : await this.rows('SELECT * FROM latest ORDER BY gateway, device, point')).map(readingFromRow);
    return this.reads.latest(select, gateway);
  }

  history(gateway: string, device: string, point: string, from: number, to: number): Promise<RawSample[]>;
  history(gateway: string, device: string, point: string, from: number, to: number, bucketMs: number): Promise<HistoryBucket[]>;
  async history(gateway: string, device: string, point: string, from: number, to: number, bucketMs?: number): Promise<RawSample[] | HistoryBucket[]> {
    checkHistoryArgs(from, to, bucketMs);
    if (bucketMs === undefined) return this.reads.samples(gateway, device, point, from, to);
    return this.reads.buckets(gateway, device, point, from, to, bucketMs);
  }

  async historyHead(gateway: string, device: string, point: string, from: number, to: number, limit: number): Promise<SamplePage> {
    checkHistoryArgs(from, to);
    checkLimit(limit);
    return this.reads.head(gateway, device, point, from, to, limit);
  }

  async insertGap(gap: GapRecord, receivedAt = Date.now()): Promise<{ stored: boolean }> {
    const result = await this.pool.query(
      'INSERT INTO gaps (gateway, boot_id, from_seq, to_seq, readings_dropped, from_ts, to_ts, reason, ts, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING',
      [gap.gateway, gap.bootId, gap.fromSeq, gap.toSeq, gap.readingsDropped, gap.fromTs, gap.toTs, gap.reason, gap.ts, receivedAt],
    );
    return { stored: (result.rowCount ?? 0) > 0 };
  }

  async gaps(gateway: string): Promise<StoredGap[]> {
    return (await this.rows('SELECT * FROM gaps WHERE gateway = $1 ORDER BY from_ts, from_seq', [gateway])).map(gapFromRow);
  }

  async gapPage(gateway: string, query: GapPageQuery): Promise<StoredGap[]> {
    const { sql, args } = gapPageQuery(gateway, query, Date.now() - this.policy.rawDays * DAY_MS);
    return (await this.rows(numberPlaceholders(sql), args)).map(gapFromRow);
  }

  async insertEvent(event: GatewayEvent, site: string, receivedAt = Date.now()): Promise<{ stored: boolean }> {
    const result = await this.pool.query(
      'INSERT INTO events (id, gateway, site, ts, kind, severity, device, point, message, data, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING',
      [event.id, event.gateway, site, event.ts, event.kind, event.severity, event.device ?? null, event.point ?? null, event.message, event.data === undefined ? null : JSON.stringify(event.data), receivedAt],
    );
    return { stored: (result.rowCount ?? 0) > 0 };
  }

  async events(query: EventQuery = {}): Promise<StoredEvent[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    const add = (column: string, op: string, value: string | number | undefined): void => {
      if (value === undefined) return;
      args.push(value);
      where.push(`${column} ${op} $${args.length}`);
    };
    add('gateway', '=', query.gateway);
    add('site', '=', query.site);
    add('kind', '=', query.kind);
    add('severity', '=', query.severity);
    add('ts', '>=', query.from);
    add('ts', '<=', query.to);
    args.push(query.limit ?? 100);
    const sql = `SELECT * FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ts DESC, received_at DESC LIMIT $${args.length}`;
    return (await this.rows(sql, args)).map(eventFromRow);
  }

  async eventsReceived(query: ReceivedEventQuery): Promise<StoredEvent[]> {
    const where = ['received_at >= $1'];
    const args: unknown[] = [query.from];
    if (query.kind !== undefined) {
      args.push(query.kind);
      where.push(`kind = $${args.length}`);
    }
    if (query.after) {
      args.push(query.after.receivedAt, query.after.id);
      where.push(`(received_at > $${args.length - 1} OR (received_at = $${args.length - 1} AND id > $${args.length}))`);
    }
    args.push(query.limit);
    const sql = `SELECT * FROM events WHERE ${where.join(' AND ')} ORDER BY received_at, id LIMIT $${args.length}`;
    return (await this.rows(sql, args)).map(eventFromRow);
  }

  async upsertGateway(patch: GatewayPatch, now = Date.now()): Promise<GatewayRecord> {
    const rows = await this.rows(
      `INSERT INTO gateways AS g (gateway, site, status, first_seen, last_seen, state_ts, boot_id, version, health, devices)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (gateway) DO UPDATE SET
         site = EXCLUDED.site,
         status = COALESCE(EXCLUDED.status, g.status),
         last_seen = GREATEST(EXCLUDED.last_seen, g.last_seen),
         state_ts = COALESCE(EXCLUDED.state_ts, g.state_ts),
         boot_id = COALESCE(EXCLUDED.boot_id, g.boot_id),
         version = COALESCE(EXCLUDED.version, g.version),
         health = COALESCE(EXCLUDED.health, g.health),
         devices = COALESCE(EXCLUDED.devices, g.devices)
       RETURNING *`,
      [
        patch.gateway,
        patch.site,
        patch.status ?? null,
        patch.lastSeen ?? now,
        patch.lastSeen ?? null,
        patch.stateTs ?? null,
        patch.bootId ?? null,
        patch.version ?? null,
        patch.health ? JSON.stringify(patch.health) : null,
        patch.devices ? JSON.stringify(patch.devices) : null,
      ],
    );
    return gatewayFromRow(rows[0] as Row);
  }

  async getGateway(gateway: string): Promise<GatewayRecord | undefined> {
    const row = (await this.rows('SELECT * FROM gateways WHERE gateway = $1', [gateway]))[0];
    return row ? gatewayFromRow(row) : undefined;
  }

  async listGateways(): Promise<GatewayRecord[]> {
    return (await this.rows('SELECT * FROM gateways ORDER BY site, gateway')).map(gatewayFromRow);
  }

  async insertCommand(r: CommandRecord): Promise<void> {
    await this.pool.query(
      'INSERT INTO commands (id, gateway, site, command, status, attempts, created_at, updated_at, deadline, code, reason, duplicate, acked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)',
      [r.id, r.gateway, r.site, JSON.stringify(r.command), r.status, r.attempts, r.createdAt, r.updatedAt, r.deadline, r.code ?? null, r.reason ?? null, r.duplicate ?? null, r.ackedAt ?? null],
    );
  }

  async updateCommand(id: string, patch: CommandPatch, fromStatuses?: readonly CommandStatus[], fromAttempts?: number): Promise<CommandRecord | undefined> {
    const args: unknown[] = [id, patch.updatedAt];
    const sets = ['updated_at = $2'];
    const set = (column: string, value: unknown): void => {
      if (value === undefined) return;
      args.push(value);
      sets.push(`${column} = $${args.length}`);
    };
    set('status', patch.status);
    set('attempts', patch.attempts);
    set('deadline', patch.deadline);
    set('code', patch.code);
    set('reason', patch.reason);
    set('duplicate', patch.duplicate);
    set('acked_at', patch.ackedAt);
    let guard = '';
    if (fromStatuses) {
      if (fromStatuses.length === 0) return undefined;
      args.push([...fromStatuses]);
      guard = ` AND status = ANY($${args.length}::text[])`;
    }
    if (fromAttempts !== undefined) {
      args.push(fromAttempts);
      guard += ` AND attempts = $${args.length}`;
    }
    const row = (await this.rows(`UPDATE commands SET ${sets.join(', ')} WHERE id = $1${guard} RETURNING *`, args))[0];
    return row ? commandFromRow(row) : undefined;
  }

  async getCommand(id: string): Promise<CommandRecord | undefined> {
    const row = (await this.rows('SELECT * FROM commands WHERE id = $1', [id]))[0];
    return row ? commandFromRow(row) : undefined;
  }

  async listCommands(query: CommandQuery = {}): Promise<CommandRecord[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (query.gateway !== undefined) {
      args.push(query.gateway);
      where.push(`gateway = $${args.length}`);
    }
    if (query.status) {
      if (query.status.length === 0) return [];
      args.push([...query.status]);
      where.push(`status = ANY($${args.length}::text[])`);
    }
    args.push(query.limit ?? 100);
    const sql = `SELECT * FROM commands ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id LIMIT $${args.length}`;
    return (await this.rows(sql, args)).map(commandFromRow);
  }

  /** Rolls raw chunks older than rawDays up and drops them (whole day partitions; retention.ts), then ages out keys and rollups. */
  async retention(now: number, policy: RetentionPolicy = this.policy): Promise<RetentionResult> {
    const cutoff = now - policy.rawDays * DAY_MS;
    const retired = staleLevels((await this.rows('SELECT bucket_s FROM rollup_levels')).map((r) => Number(r.bucket_s)), policy.rollups);
    const keepRetired = retiredKeepDays(policy);
    const levels = [...retired.map((bucketS) => ({ bucketS, keepDays: keepRetired })), ...policy.rollups];
    for (const level of levels) {
      await this.pool.query('INSERT INTO rollup_levels (bucket_s, keep_days) VALUES ($1, $2) ON CONFLICT (bucket_s) DO UPDATE SET keep_days = EXCLUDED.keep_days', [level.bucketS, level.keepDays]);
    }
    for (const bucketS of retired) this.log.warn({ bucketS, keepDays: keepRetired }, 'rollup level no longer in the retention policy: its rollups stay readable, get nothing new and age out after keepDays');
    await this.flush();
    const rawDeleted = await retainChunks(this.pool, this.partitions, cutoff, policy.rollups);
    await this.pool.query('DELETE FROM batches WHERE received_at < $1', [cutoff]);
    let rollupRowsDeleted = 0;
    for (const level of levels) {
      rollupRowsDeleted += (await this.pool.query('DELETE FROM rollups WHERE bucket_s = $1 AND start < $2', [level.bucketS, now - level.keepDays * DAY_MS])).rowCount ?? 0;
    }
    for (const bucketS of retired) await this.pool.query('DELETE FROM rollup_levels WHERE bucket_s = $1 AND NOT EXISTS (SELECT 1 FROM rollups WHERE bucket_s = $1)', [bucketS]);
    await this.partitions.ensureAhead();
    return { rawDeleted, rollupRowsDeleted };
  }

  /** StoreUpkeep.probeWrite: journaled flushes not failing, and a row written in a transaction that is rolled back (fails on a read-only server). */
  async probeWrite(): Promise<void> {
    const failures = this.journaled?.stats().flushFailures ?? 0;
    if (failures > 0) throw new SwarmgateError('SWG_ERR_HUB_STORE', `PostgreSQL store (schema ${this.schema}): the last ${failures} telemetry flushes failed; writes are not going through`);
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (-1, 'write probe (rolled back)', $1)", [Date.now()]);
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
    }
  }

  async schemaVersion(): Promise<number> {
    const row = (await this.rows('SELECT MAX(version) AS v FROM schema_migrations'))[0];
    return row && row.v !== null ? Number(row.v) : 0;
  }

  /** Drops the whole schema (tests use a throwaway schema per run). */
  async dropSchema(): Promise<void> {
    await this.pool.query(`DROP SCHEMA IF EXISTS "${this.schema}" CASCADE`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.aheadTimer) clearInterval(this.aheadTimer);
    if (this.compactTimer) clearInterval(this.compactTimer);
    try {
      await this.journaled?.close();
      await this.commits.idle();
      await this.compacting?.catch(() => undefined);
    } finally {
      await this.pool.end();
    }
  }
}
