/**
 * HubStore on SQLite (better-sqlite3, WAL). The default store: one file, no server. Writes are
 * synchronous inside better-sqlite3 transactions, so a batch's dedup key and its readings commit
 * together or not at all.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database, { type Database as Db } from 'better-sqlite3';
import { SwarmgateError, errorMessage } from '../../shared/errors.js';
import type { GapRecord, GatewayEvent, TelemetryBatch } from '../../shared/wire/messages.js';
import { DAY_MS, checkHistoryArgs, encodeValue, mergeBuckets, rollupLevelFor, type PartialBucket } from './aggregate.js';
import { commandFromRow, eventFromRow, gapFromRow, gatewayFromRow, readingFromRow, sampleFromRow, type Row } from './rows.js';
import { SQLITE_MIGRATIONS, type Migration } from './sqlite-migrations.js';
import {
  DEFAULT_RETENTION,
  type CommandPatch,
  type CommandQuery,
  type CommandRecord,
  type CommandStatus,
  type EventQuery,
  type GatewayPatch,
  type GatewayRecord,
  type HistoryBucket,
  type HubStore,
  type IngestResult,
  type RawSample,
  type RetentionPolicy,
  type RetentionResult,
  type StoredEvent,
  type StoredGap,
  type StoredReading,
} from './types.js';

export interface SqliteStoreOptions {
  /** File path, or ':memory:'. */
  readonly path: string;
  readonly retention?: RetentionPolicy;
  /** Extra migrations appended after the built-in ones (versions must be higher). */
  readonly migrations?: readonly Migration[];
}

function migrate(db: Db, migrations: readonly Migration[]): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const applied = new Set((db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version));
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.version, m.name, Date.now());
    })();
  }
}

export class SqliteStore implements HubStore {
  readonly kind = 'sqlite' as const;
  private readonly db: Db;
  private readonly policy: RetentionPolicy;
  private readonly statements = new Map<string, Database.Statement>();

  private constructor(db: Db, policy: RetentionPolicy) {
    this.db = db;
    this.policy = policy;
  }

  static open(options: SqliteStoreOptions): SqliteStore {
    try {
      if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
      const db = new Database(options.path);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      migrate(db, [...SQLITE_MIGRATIONS, ...(options.migrations ?? [])]);
      return new SqliteStore(db, options.retention ?? DEFAULT_RETENTION);
    } catch (err) {
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

  async ingestBatch(batch: TelemetryBatch, receivedAt = Date.now()): Promise<IngestResult> {
    const insertKey = this.prepare('INSERT OR IGNORE INTO batches (gateway, boot_id, seq, received_at, readings, historical) VALUES (?, ?, ?, ?, ?, ?)');
    const insertReading = this.prepare('INSERT INTO readings (gateway, device, point, ts, num, str, vtype, quality, cause) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    const upsertLatest = this.prepare(`
      INSERT INTO latest (gateway, device, point, ts, num, str, vtype, quality, cause) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (gateway, device, point) DO UPDATE SET ts = excluded.ts, num = excluded.num, str = excluded.str,
        vtype = excluded.vtype, quality = excluded.quality, cause = excluded.cause
      WHERE excluded.ts >= latest.ts`);
    return this.db.transaction((): IngestResult => {
      const key = insertKey.run(batch.gateway, batch.bootId, batch.seq, receivedAt, batch.readings.length, batch.historical ? 1 : 0);
      if (key.changes === 0) return { stored: false, readings: 0 };
      for (const r of batch.readings) {
        const v = encodeValue(r.v);
        const args = [batch.gateway, r.d, r.p, r.ts, v.num, v.str, v.vtype, r.q, r.c ?? null] as const;
        insertReading.run(...args);
        upsertLatest.run(...args);
      }
      return { stored: true, readings: batch.readings.length };
    })();
  }

  async latest(gateway?: string): Promise<StoredReading[]> {
    const rows = gateway
      ? this.prepare('SELECT * FROM latest WHERE gateway = ? ORDER BY device, point').all(gateway)
      : this.prepare('SELECT * FROM latest ORDER BY gateway, device, point').all();
    return (rows as Row[]).map(readingFromRow);
  }

  history(gateway: string, device: string, point: string, from: number, to: number): Promise<RawSample[]>;
  history(gateway: string, device: string, point: string, from: number, to: number, bucketMs: number): Promise<HistoryBucket[]>;
  async history(gateway: string, device: string, point: string, from: number, to: number, bucketMs?: number): Promise<RawSample[] | HistoryBucket[]> {
    checkHistoryArgs(from, to, bucketMs);
    if (bucketMs === undefined) {
      const rows = this.prepare('SELECT ts, num, str, vtype, quality, cause FROM readings WHERE gateway = ? AND device = ? AND point = ? AND ts >= ? AND ts <= ? ORDER BY ts, id').all(gateway, device, point, from, to);
      return (rows as Row[]).map(sampleFromRow);
    }
    const raw = this.prepare(`SELECT (ts / CAST(@b AS INTEGER)) * CAST(@b AS INTEGER) AS start, SUM(num) AS sum, MIN(num) AS min, MAX(num) AS max, COUNT(*) AS count FROM readings
        WHERE gateway = @g AND device = @d AND point = @p AND ts >= @from AND ts <= @to AND vtype IN ('n', 'b') AND quality != 'bad'
        GROUP BY start`)
      .all({ b: bucketMs, g: gateway, d: device, p: point, from, to }) as PartialBucket[];
    const levels = (this.prepare('SELECT bucket_s, keep_days FROM rollup_levels').all() as { bucket_s: number; keep_days: number }[]).map((r) => ({ bucketS: r.bucket_s, keepDays: r.keep_days }));
    const level = rollupLevelFor(levels, bucketMs);
    const rolled = level
      ? (this.prepare('SELECT start, sum, min, max, count FROM rollups WHERE bucket_s = ? AND gateway = ? AND device = ? AND point = ? AND start >= ? AND start <= ?')
          .all(level.bucketS, gateway, device, point, Math.floor(from / bucketMs) * bucketMs, to) as PartialBucket[])
      : [];
    return mergeBuckets([...raw, ...rolled], bucketMs);
  }

  async insertGap(gap: GapRecord, receivedAt = Date.now()): Promise<{ stored: boolean }> {
    const result = this.prepare('INSERT OR IGNORE INTO gaps (gateway, boot_id, from_seq, to_seq, readings_dropped, from_ts, to_ts, reason, ts, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(gap.gateway, gap.bootId, gap.fromSeq, gap.toSeq, gap.readingsDropped, gap.fromTs, gap.toTs, gap.reason, gap.ts, receivedAt);
    return { stored: result.changes > 0 };
  }

  async gaps(gateway: string): Promise<StoredGap[]> {
    return (this.prepare('SELECT * FROM gaps WHERE gateway = ? ORDER BY from_ts, from_seq').all(gateway) as Row[]).map(gapFromRow);
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

  async updateCommand(id: string, patch: CommandPatch, fromStatuses?: readonly CommandStatus[]): Promise<CommandRecord | undefined> {
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
    return this.db.transaction((): RetentionResult => {
      const recordLevel = this.prepare('INSERT INTO rollup_levels (bucket_s, keep_days) VALUES (?, ?) ON CONFLICT (bucket_s) DO UPDATE SET keep_days = excluded.keep_days');
      for (const level of policy.rollups) {
        recordLevel.run(level.bucketS, level.keepDays);
        const ms = level.bucketS * 1000;
        this.prepare(`
            INSERT INTO rollups (bucket_s, gateway, device, point, start, sum, min, max, count)
            SELECT @s, gateway, device, point, (ts / CAST(@ms AS INTEGER)) * CAST(@ms AS INTEGER) AS bucket, SUM(num), MIN(num), MAX(num), COUNT(*) FROM readings
            WHERE ts < @cutoff AND vtype IN ('n', 'b') AND quality != 'bad'
            GROUP BY gateway, device, point, bucket
            ON CONFLICT (bucket_s, gateway, device, point, start) DO UPDATE SET
              sum = rollups.sum + excluded.sum, min = MIN(rollups.min, excluded.min),
              max = MAX(rollups.max, excluded.max), count = rollups.count + excluded.count`)
          .run({ s: level.bucketS, ms, cutoff });
      }
      const rawDeleted = this.prepare('DELETE FROM readings WHERE ts < ?').run(cutoff).changes;
      this.prepare('DELETE FROM batches WHERE received_at < ?').run(cutoff);
      let rollupRowsDeleted = 0;
      for (const level of policy.rollups) {
        rollupRowsDeleted += this.prepare('DELETE FROM rollups WHERE bucket_s = ? AND start < ?').run(level.bucketS, now - level.keepDays * DAY_MS).changes;
      }
      return { rawDeleted, rollupRowsDeleted };
    })();
  }

  async schemaVersion(): Promise<number> {
    const row = this.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
    return row.v ?? 0;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
