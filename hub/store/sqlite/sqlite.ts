/**
 * HubStore on SQLite (better-sqlite3, WAL). The default store: one file, no server. Telemetry
 * goes through SqliteSeries: journaled on arrival, stored as per-point columnar chunks in group
 * commits (a batch's dedup key and its readings commit together or not at all). Everything else
 * is one synchronous statement or transaction per call.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database, { type Database as Db } from 'better-sqlite3';
import { SwarmgateError, errorMessage, isSwarmgateError } from '../../../shared/kit/errors.js';
import type { GapRecord, GatewayEvent, TelemetryBatch } from '../../../shared/wire/messages.js';
import { createLogger, type Logger } from '../../../shared/kit/log.js';
import { DAY_MS, checkHistoryArgs, checkLimit, retiredKeepDays, staleLevels } from '../aggregate.js';
import { commandFromRow, eventFromRow, gapFromRow, gapPageQuery, gatewayFromRow, readingFromRow, type Row } from '../rows.js';
import { refuseNewerSchema, type Migration } from '../migration.js';
import { SQLITE_MIGRATIONS } from './migrations.js';
import { SqliteSeries } from './series/series.js';
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

export interface SqliteStoreOptions {
  /** File path, or ':memory:'. */
  readonly path: string;
  readonly retention?: RetentionPolicy;
  /** Extra migrations appended after the built-in ones (versions must be higher). */
  readonly migrations?: readonly Migration[];
  /** `migrations` and the built-in ones are this release's whole schema: a database with a newer one is refused (refuseNewerSchema). */
  readonly wholeSchema?: boolean;
  /**
   * Journal telemetry and group-commit it (default for a file). false writes every batch
   * through before ingestBatch returns. The journal is `<path>.ingest/`.
   */
  readonly journal?: boolean;
  /** Group-commit interval for journaled telemetry; default 5000 ms. */
  readonly flushMs?: number;
  /** fsync each journal append: acknowledged telemetry then survives power loss, not only a crash. */
  readonly fsync?: boolean;
  /** Journaled readings waiting for their group commit past which batches are refused for now (../buffer-limit.ts); default 2,000,000. */
  readonly maxBufferedReadings?: number;
  readonly logger?: Logger;
}

function migrate(db: Db, migrations: readonly Migration[], refuseNewer?: string): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const applied = new Set((db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version));
  if (refuseNewer !== undefined) refuseNewerSchema(applied, migrations, refuseNewer);
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      m.run?.(db);
      record.run(m.version, m.name, Date.now());
    })();
  }
}

/**
 * The database holds password, token and session hashes and the audit trail: a new one is created
 * readable by its owner only (SQLite gives its WAL and shared-memory files the same mode), and an
 * existing one readable by every user loses that (a group the operator chose keeps its access).
 */
function keepPrivate(path: string, log: Logger | undefined): void {
  if (!existsSync(path)) {
    closeSync(openSync(path, 'a', 0o600));
    return;
  }
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    if (!existsSync(file)) continue;
    const mode = statSync(file).mode & 0o777;
    if ((mode & 0o007) === 0) continue;
    try {
      chmodSync(file, mode & ~0o007);
      log?.warn({ file, was: mode.toString(8), now: (mode & ~0o007).toString(8) }, 'hub database was readable by every user; access for others removed');
    } catch (err) {
      // Not ours to change (a CLI run by another user): say so, and open it as before.
      log?.warn({ file, mode: mode.toString(8), err: errorMessage(err) }, 'hub database is readable by every user; its owner should remove that access (chmod o-rwx)');
    }
  }
}

export class SqliteStore implements HubStore {
  readonly kind = 'sqlite' as const;
  private readonly db: Db;
  private readonly policy: RetentionPolicy;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly series: SqliteSeries;
  private readonly log: Logger;

  private constructor(db: Db, policy: RetentionPolicy, series: SqliteSeries, log: Logger) {
    this.db = db;
    this.policy = policy;
    this.series = series;
    this.log = log;
  }

  static open(options: SqliteStoreOptions): SqliteStore {
    let db: Db | undefined;
    try {
      if (options.path !== ':memory:') {
        mkdirSync(dirname(options.path), { recursive: true });
        keepPrivate(options.path, options.logger);
      }
      db = new Database(options.path);
      db.pragma('journal_mode = WAL');
      // NORMAL: a commit survives a crash of the process, not power loss, and a flush deletes the
      // journal segments it covered right after its commit. Power-loss durability needs FULL too.
      db.pragma(options.fsync ? 'synchronous = FULL' : 'synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      migrate(db, [...SQLITE_MIGRATIONS, ...(options.migrations ?? [])], options.wholeSchema ? `the SQLite database ${options.path}` : undefined);
      const journaled = options.path !== ':memory:' && options.journal !== false;
      const series = new SqliteSeries(db, { journalDir: journaled ? `${options.path}.ingest` : undefined, flushMs: options.flushMs, fsync: options.fsync, maxBufferedReadings: options.maxBufferedReadings, logger: options.logger });
      return new SqliteStore(db, options.retention ?? DEFAULT_RETENTION, series, options.logger ?? createLogger('hub-store'));
    } catch (err) {
      if (db?.open) db.close();
      if (isSwarmgateError(err, 'SWG_ERR_HUB_STORE_NEWER')) throw err;
      throw new SwarmgateError('SWG_ERR_HUB_STORE', `cannot open SQLite store at ${options.path}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** Prepared once per SQL text: ingest runs the same few statements for every batch. */
  private prepare(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  /** Applies migrations not applied yet (feature tables for a store opened without them). */
  async applyMigrations(migrations: readonly Migration[]): Promise<void> {
    migrate(this.db, migrations);
  }

  /** The underlying database, for later features that add their own tables via migrations. */
  get database(): Db {
    return this.db;
  }

  /**
   * Durable (journaled) when it returns; `raw` is the batch's payload as received, journaled as
   * is instead of re-encoding the batch.
   */
  async ingestBatch(batch: TelemetryBatch, receivedAt = Date.now(), raw?: Uint8Array): Promise<IngestResult> {
    return this.series.ingestGrouped(batch, receivedAt, raw);
  }

  /** Materialises buffered telemetry now (it happens on a timer anyway). */
  flush(): void {
    this.series.flush();
  }

  /** The telemetry buffer and journal, for metrics. */
  telemetryStats(): TelemetryStoreStats {
    return this.series.stats();
  }

  /** Merges small old chunks now (it happens on the flush timer and at retention anyway). */
  compact(now = Date.now()): number {
    return this.series.compact(now);
  }

  async latest(gateway?: string): Promise<StoredReading[]> {
    const rows = gateway
      ? this.prepare('SELECT * FROM latest WHERE gateway = ? ORDER BY device, point').all(gateway)
      : this.prepare('SELECT * FROM latest ORDER BY gateway, device, point').all();
    return this.series.latest((rows as Row[]).map(readingFromRow), gateway);
  }

  history(gateway: string, device: string, point: string, from: number, to: number): Promise<RawSample[]>;
  history(gateway: string, device: string, point: string, from: number, to: number, bucketMs: number): Promise<HistoryBucket[]>;
  async history(gateway: string, device: string, point: string, from: number, to: number, bucketMs?: number): Promise<RawSample[] | HistoryBucket[]> {
    checkHistoryArgs(from, to, bucketMs);
    if (bucketMs === undefined) return this.series.samples(gateway, device, point, from, to);
    return this.series.buckets(gateway, device, point, from, to, bucketMs);
  }

  async historyHead(gateway: string, device: string, point: string, from: number, to: number, limit: number): Promise<SamplePage> {
    checkHistoryArgs(from, to);
    checkLimit(limit);
    return this.series.head(gateway, device, point, from, to, limit);
  }

  async insertGap(gap: GapRecord, receivedAt = Date.now()): Promise<{ stored: boolean }> {
    const result = this.prepare('INSERT OR IGNORE INTO gaps (gateway, boot_id, from_seq, to_seq, readings_dropped, from_ts, to_ts, reason, ts, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(gap.gateway, gap.bootId, gap.fromSeq, gap.toSeq, gap.readingsDropped, gap.fromTs, gap.toTs, gap.reason, gap.ts, receivedAt);
    return { stored: result.changes > 0 };
  }

  async gaps(gateway: string): Promise<StoredGap[]> {
    return (this.prepare('SELECT * FROM gaps WHERE gateway = ? ORDER BY from_ts, from_seq').all(gateway) as Row[]).map(gapFromRow);
  }

  async gapPage(gateway: string, query: GapPageQuery): Promise<StoredGap[]> {
    const { sql, args } = gapPageQuery(gateway, query, Date.now() - this.policy.rawDays * DAY_MS);
    return (this.prepare(sql).all(...args) as Row[]).map(gapFromRow);
  }

  async insertEvent(event: GatewayEvent, site: string, receivedAt = Date.now()): Promise<{ stored: boolean }> {
    const result = this.prepare('INSERT OR IGNORE INTO events (id, gateway, site, ts, kind, severity, device, point, message, data, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(event.id, event.gateway, site, event.ts, event.kind, event.severity, event.device ?? null, event.point ?? null, event.message, event.data === undefined ? null : JSON.stringify(event.data), receivedAt);
    return { stored: result.changes > 0 };
  }

  async events(query: EventQuery = {}): Promise<StoredEvent[]> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    const add = (sql: string, value: string | number | undefined): void => {
      if (value === undefined) return;
      where.push(sql);
      args.push(value);
    };
    add('gateway = ?', query.gateway);
    add('site = ?', query.site);
    add('kind = ?', query.kind);
    add('severity = ?', query.severity);
    add('ts >= ?', query.from);
    add('ts <= ?', query.to);
    const sql = `SELECT * FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ts DESC, received_at DESC LIMIT ?`;
    return (this.prepare(sql).all(...args, query.limit ?? 100) as Row[]).map(eventFromRow);
  }

  async eventsReceived(query: ReceivedEventQuery): Promise<StoredEvent[]> {
    const where = ['received_at >= ?'];
    const args: (string | number)[] = [query.from];
    if (query.kind !== undefined) where.push('kind = ?') && args.push(query.kind);
    if (query.after) where.push('(received_at > ? OR (received_at = ? AND id > ?))') && args.push(query.after.receivedAt, query.after.receivedAt, query.after.id);
    const sql = `SELECT * FROM events WHERE ${where.join(' AND ')} ORDER BY received_at, id LIMIT ?`;
    return (this.prepare(sql).all(...args, query.limit) as Row[]).map(eventFromRow);
  }

  async upsertGateway(patch: GatewayPatch, now = Date.now()): Promise<GatewayRecord> {
    const row = this.prepare(`
        INSERT INTO gateways (gateway, site, status, first_seen, last_seen, state_ts, boot_id, version, health, devices)
        VALUES (@gateway, @site, @status, @firstSeen, @lastSeen, @stateTs, @bootId, @version, @health, @devices)
        ON CONFLICT (gateway) DO UPDATE SET
          site = excluded.site,
          status = COALESCE(excluded.status, gateways.status),
          last_seen = NULLIF(MAX(COALESCE(excluded.last_seen, 0), COALESCE(gateways.last_seen, 0)), 0),
          state_ts = COALESCE(excluded.state_ts, gateways.state_ts),
          boot_id = COALESCE(excluded.boot_id, gateways.boot_id),
          version = COALESCE(excluded.version, gateways.version),
          health = COALESCE(excluded.health, gateways.health),
          devices = COALESCE(excluded.devices, gateways.devices)
        RETURNING *`)
      .get({
        gateway: patch.gateway,
        site: patch.site,
        status: patch.status ?? null,
        firstSeen: patch.lastSeen ?? now,
        lastSeen: patch.lastSeen ?? null,
        stateTs: patch.stateTs ?? null,
        bootId: patch.bootId ?? null,
        version: patch.version ?? null,
        health: patch.health ? JSON.stringify(patch.health) : null,
        devices: patch.devices ? JSON.stringify(patch.devices) : null,
      }) as Row;
    return gatewayFromRow(row);
  }

  async getGateway(gateway: string): Promise<GatewayRecord | undefined> {
    const row = this.prepare('SELECT * FROM gateways WHERE gateway = ?').get(gateway) as Row | undefined;
    return row ? gatewayFromRow(row) : undefined;
  }

  async listGateways(): Promise<GatewayRecord[]> {
    return (this.prepare('SELECT * FROM gateways ORDER BY site, gateway').all() as Row[]).map(gatewayFromRow);
  }

  async insertCommand(r: CommandRecord): Promise<void> {
    this.prepare('INSERT INTO commands (id, gateway, site, command, status, attempts, created_at, updated_at, deadline, code, reason, duplicate, acked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(r.id, r.gateway, r.site, JSON.stringify(r.command), r.status, r.attempts, r.createdAt, r.updatedAt, r.deadline, r.code ?? null, r.reason ?? null, r.duplicate === undefined ? null : r.duplicate ? 1 : 0, r.ackedAt ?? null);
  }

  async updateCommand(id: string, patch: CommandPatch, fromStatuses?: readonly CommandStatus[], fromAttempts?: number): Promise<CommandRecord | undefined> {
    const sets: string[] = ['updated_at = @updatedAt'];
    const params: Record<string, string | number | null> = { id, updatedAt: patch.updatedAt };
    const set = (column: string, key: string, value: string | number | null | undefined): void => {
      if (value === undefined) return;
      sets.push(`${column} = @${key}`);
      params[key] = value;
    };
    set('status', 'status', patch.status);
    set('attempts', 'attempts', patch.attempts);
    set('deadline', 'deadline', patch.deadline);
    set('code', 'code', patch.code);
    set('reason', 'reason', patch.reason);
    set('duplicate', 'duplicate', patch.duplicate === undefined ? undefined : patch.duplicate ? 1 : 0);
    set('acked_at', 'ackedAt', patch.ackedAt);
    let guard = '';
    if (fromStatuses) {
      if (fromStatuses.length === 0) return undefined;
      guard = ` AND status IN (${fromStatuses.map((_, i) => `@from${i}`).join(', ')})`;
      fromStatuses.forEach((s, i) => (params[`from${i}`] = s));
    }
    if (fromAttempts !== undefined) {
      guard += ' AND attempts = @fromAttempts';
      params.fromAttempts = fromAttempts;
    }
    const row = this.prepare(`UPDATE commands SET ${sets.join(', ')} WHERE id = @id${guard} RETURNING *`).get(params) as Row | undefined;
    return row ? commandFromRow(row) : undefined;
  }

  async getCommand(id: string): Promise<CommandRecord | undefined> {
    const row = this.prepare('SELECT * FROM commands WHERE id = ?').get(id) as Row | undefined;
    return row ? commandFromRow(row) : undefined;
  }

  async listCommands(query: CommandQuery = {}): Promise<CommandRecord[]> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (query.gateway !== undefined) {
      where.push('gateway = ?');
      args.push(query.gateway);
    }
    if (query.status) {
      if (query.status.length === 0) return [];
      where.push(`status IN (${query.status.map(() => '?').join(', ')})`);
      args.push(...query.status);
    }
    const sql = `SELECT * FROM commands ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id LIMIT ?`;
    return (this.prepare(sql).all(...args, query.limit ?? 100) as Row[]).map(commandFromRow);
  }

  async retention(now: number, policy: RetentionPolicy = this.policy): Promise<RetentionResult> {
    const cutoff = now - policy.rawDays * DAY_MS;
    const recordLevel = this.prepare('INSERT INTO rollup_levels (bucket_s, keep_days) VALUES (?, ?) ON CONFLICT (bucket_s) DO UPDATE SET keep_days = excluded.keep_days');
    const retired = staleLevels(this.prepare('SELECT bucket_s FROM rollup_levels').pluck().all() as number[], policy.rollups);
    const keepRetired = retiredKeepDays(policy);
    this.db.transaction(() => {
      for (const bucketS of retired) recordLevel.run(bucketS, keepRetired);
      for (const level of policy.rollups) recordLevel.run(level.bucketS, level.keepDays);
    })();
    for (const bucketS of retired) this.log.warn({ bucketS, keepDays: keepRetired }, 'rollup level no longer in the retention policy: its rollups stay readable, get nothing new and age out after keepDays');
    const rawDeleted = this.series.retain(cutoff, policy.rollups);
    this.series.compact(Date.now());
    return this.db.transaction((): RetentionResult => {
      this.prepare('DELETE FROM batches WHERE received_at < ?').run(cutoff);
      let rollupRowsDeleted = 0;
      for (const level of this.prepare('SELECT bucket_s, keep_days FROM rollup_levels').all() as { bucket_s: number; keep_days: number }[]) {
        rollupRowsDeleted += this.prepare('DELETE FROM rollups WHERE bucket_s = ? AND start < ?').run(level.bucket_s, now - level.keep_days * DAY_MS).changes;
      }
      for (const bucketS of retired) {
        if (!this.prepare('SELECT 1 FROM rollups WHERE bucket_s = ? LIMIT 1').get(bucketS)) this.prepare('DELETE FROM rollup_levels WHERE bucket_s = ?').run(bucketS);
      }
      return { rawDeleted, rollupRowsDeleted };
    })();
  }

  /** StoreUpkeep.probeWrite: group commits not failing, and a row of store_meta written (fails on a read-only or full file, or a lock held elsewhere). */
  async probeWrite(): Promise<void> {
    const failures = this.series.stats().flushFailures;
    if (failures > 0) throw new SwarmgateError('SWG_ERR_HUB_STORE', `SQLite store: the last ${failures} telemetry flushes failed; writes are not going through`);
    this.prepare("INSERT INTO store_meta (key, value) VALUES ('write_probe', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(String(Date.now()));
  }

  async schemaVersion(): Promise<number> {
    const row = this.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
    return row.v ?? 0;
  }

  async close(): Promise<void> {
    if (!this.db.open) return;
    try {
      this.series.close();
    } finally {
      this.db.close();
    }
  }
}
