/**
 * The outbox's SQLite storage: one row per wire message, a staging table for strict mode, and
 * the page accounting the size bound works with. WAL with synchronous=NORMAL: a commit survives
 * a process crash (SIGKILL); power loss may lose the last commits, which is the trade the SD card
 * wear budget asks for. Policy (batching, bounds, gap records) lives in outbox.ts.
 *
 * Another process may write the file while the gateway runs: `swarmgate edge dead-letters` asks for
 * re-queues and drops entries of the dead-letter table (dead-letters.ts), never the queue. So every
 * transaction here is IMMEDIATE: one that began by reading and then found the other process had
 * committed in between would fail at its first write (SQLITE_BUSY_SNAPSHOT), a commit failure
 * for nothing.
 */
import Database from 'better-sqlite3';
import { SwarmgateError, errorMessage } from '../../shared/kit/errors.js';
import { DeadLetterTable, ensureDeadLetterTable } from './dead-letters.js';
import { messageFromRaw, type MessageKind, type NewRow, type OutboxRow, type RawMessageColumns } from './outbox-row.js';

export type { MessageKind, NewRow, OutboxRow } from './outbox-row.js';

/** The small columns of a row: what the bound checks read without touching payloads. */
export interface RowSummary {
  seq: number;
  boot_id: string;
  kind: MessageKind;
  batch_seq: number | null;
  readings: number;
  first_ts: number | null;
  last_ts: number | null;
  bytes: number;
}

const COLUMNS = 'seq, boot_id, kind, topic, readings, batch_seq, first_ts, last_ts, created_at, payload, requeues';
const SUMMARY = 'seq, boot_id, kind, batch_seq, readings, first_ts, last_ts, bytes';

export class OutboxTable {
  readonly pageSize: number;
  rows = 0;
  bytes = 0;
  /** The entries set aside as refused (the caller keeps its own transaction around their writes). */
  readonly deadLetters: DeadLetterTable;
  private nextSeq: number;
  private readonly db: Database.Database;
  private readonly stmt: ReturnType<typeof prepare>;
  private readonly dataVersionStmt: Database.Statement;

  /** walBudget: bytes the write-ahead log may keep on disk. */
  constructor(path: string, walBudget: number) {
    try {
      this.db = new Database(path);
    } catch (err) {
      throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `cannot open the outbox database ${path}: ${errorMessage(err)}; check the dataDir permissions`, { cause: err });
    }
    const db = this.db;
    // auto_vacuum must be chosen before the first table exists; it lets a shrinking queue give disk back.
    db.pragma('auto_vacuum = INCREMENTAL');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    this.pageSize = db.pragma('page_size', { simple: true }) as number;
    db.pragma(`journal_size_limit = ${walBudget}`);
    db.pragma(`wal_autocheckpoint = ${Math.max(8, Math.floor(walBudget / this.pageSize / 2))}`);
    // Small columns first: scans for age and drop candidates never touch the payload's overflow pages.
    db.exec(`CREATE TABLE IF NOT EXISTS outbox (
      seq INTEGER PRIMARY KEY, boot_id TEXT NOT NULL, kind TEXT NOT NULL, topic TEXT NOT NULL,
      readings INTEGER NOT NULL, batch_seq INTEGER, first_ts INTEGER, last_ts INTEGER,
      created_at INTEGER NOT NULL, bytes INTEGER NOT NULL, payload BLOB NOT NULL, requeues INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE IF NOT EXISTS staging (id INTEGER PRIMARY KEY, reading TEXT NOT NULL);`);
    // A file an earlier release wrote: the column re-queued rows carry (an earlier release started
    // again on it names the columns it writes, and leaves this one at its default).
    const outboxColumns = db.prepare("SELECT name FROM pragma_table_info('outbox')").pluck().all() as string[];
    if (!outboxColumns.includes('requeues')) db.exec('ALTER TABLE outbox ADD COLUMN requeues INTEGER NOT NULL DEFAULT 0');
    ensureDeadLetterTable(db);
    this.deadLetters = new DeadLetterTable(db);
    this.stmt = prepare(db);
    this.dataVersionStmt = db.prepare('PRAGMA data_version').pluck();
    // Seqs are handed out here, never reused in a run, even when the table empties.
    this.nextSeq = this.recount() + 1;
  }

  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  transaction(fn: () => void): void {
    this.db.transaction(fn).immediate();
  }

  /** Moves when another connection (another process) commits to the file; this one's commits leave it. */
  dataVersion(): number {
    return this.dataVersionStmt.get() as number;
  }

  insert(row: NewRow, createdAt: number): number {
    const seq = this.nextSeq++;
    const r = row;
    this.stmt.insert.run(seq, r.bootId, r.kind, r.topic, r.readings, r.batchSeq, r.firstTs, r.lastTs, createdAt, r.payload.length, r.payload, r.requeues ?? 0);
    this.rows++;
    this.bytes += r.payload.length;
    return seq;
  }

  delete(seq: number): void {
    const gone = this.stmt.remove.get(seq) as { bytes: number } | undefined;
    if (!gone) return;
    this.rows--;
    this.bytes -= gone.bytes;
  }

  /** Reloads the counters from the table (after a rollback); returns the highest seq. */
  recount(): number {
    const t = this.stmt.totals.get() as { n: number; b: number; m: number };
    this.rows = t.n;
    this.bytes = t.b;
    return t.m;
  }

  range(after: number, before: number, limit: number): OutboxRow[] {
    return (this.stmt.range.all(after, before, limit) as RawRow[]).map(fromRaw);
  }

  all(): OutboxRow[] {
    return (this.stmt.all.all() as RawRow[]).map(fromRaw);
  }

  /** The oldest rows after `after` (gap records never), telemetry only or every kind. */
  oldest(after: number, telemetryOnly = false): RowSummary[] {
    return (telemetryOnly ? this.stmt.oldestTelemetry : this.stmt.oldest).all(after) as RowSummary[];
  }

  createdBefore(ts: number): RowSummary[] {
    return this.stmt.aged.all(ts) as RowSummary[];
  }

  /** The newest message's creation time (gap records aside), undefined when there is none. */
  newestCreatedAt(): number | undefined {
    return (this.stmt.newestCreated.get() as number | null | undefined) ?? undefined;
  }

  /** Moves every row's creation time by `ms` (the wall clock stepped: ages stay what they were). */
  shiftCreated(ms: number): void {
    this.stmt.shiftCreated.run(Math.round(ms));
  }

  /** One row with its payload, if it is still queued. */
  get(seq: number): OutboxRow | undefined {
    const r = this.stmt.one.get(seq) as RawRow | undefined;
    return r ? fromRaw(r) : undefined;
  }

  /** The small columns of one row, if it is still queued. */
  summary(seq: number): RowSummary | undefined {
    return this.stmt.summary.get(seq) as RowSummary | undefined;
  }

  /** Pages holding live data (free pages excluded), in bytes. */
  usedBytes(): number {
    return ((this.stmt.pageCount.get() as number) - (this.stmt.freelist.get() as number)) * this.pageSize;
  }

  /** Returns free pages to the file system when the file is larger than `budget`. */
  shrinkTo(budget: number): void {
    if ((this.stmt.pageCount.get() as number) * this.pageSize <= budget) return;
    const free = this.stmt.freelist.get() as number;
    if (free > 0) this.db.pragma(`incremental_vacuum(${free})`);
  }

  /** Returns every free page to the file system and truncates the write-ahead log. */
  compact(): void {
    const free = this.stmt.freelist.get() as number;
    if (free > 0) this.db.pragma(`incremental_vacuum(${free})`);
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  stage(readingJson: string): void {
    this.stmt.stage.run(readingJson);
  }

  staged(): string[] {
    return this.stmt.staged.all() as string[];
  }

  clearStaging(): void {
    this.stmt.unstage.run();
  }

  close(): void {
    this.db.close();
  }
}

function prepare(db: Database.Database) {
  return {
    insert: db.prepare('INSERT INTO outbox (seq, boot_id, kind, topic, readings, batch_seq, first_ts, last_ts, created_at, bytes, payload, requeues) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'),
    remove: db.prepare('DELETE FROM outbox WHERE seq = ? RETURNING bytes'),
    range: db.prepare(`SELECT ${COLUMNS} FROM outbox WHERE seq > ? AND seq < ? ORDER BY seq LIMIT ?`),
    all: db.prepare(`SELECT ${COLUMNS} FROM outbox ORDER BY seq`),
    oldest: db.prepare(`SELECT ${SUMMARY} FROM outbox WHERE kind != 'gap' AND seq > ? ORDER BY seq LIMIT 256`),
    oldestTelemetry: db.prepare(`SELECT ${SUMMARY} FROM outbox WHERE kind = 'telemetry' AND seq > ? ORDER BY seq LIMIT 256`),
    aged: db.prepare(`SELECT ${SUMMARY} FROM outbox WHERE kind != 'gap' AND created_at < ? ORDER BY seq`),
    // Messages only: a gap record's time is when it was written, not data the clock check should judge.
    newestCreated: db.prepare("SELECT max(created_at) FROM outbox WHERE kind != 'gap'").pluck(),
    shiftCreated: db.prepare('UPDATE outbox SET created_at = max(0, created_at + ?)'),
    one: db.prepare(`SELECT ${COLUMNS} FROM outbox WHERE seq = ?`),
    summary: db.prepare(`SELECT ${SUMMARY} FROM outbox WHERE seq = ?`),
    stage: db.prepare('INSERT INTO staging (reading) VALUES (?)'),
    staged: db.prepare('SELECT reading FROM staging ORDER BY id').pluck(),
    unstage: db.prepare('DELETE FROM staging'),
    pageCount: db.prepare('PRAGMA page_count').pluck(),
    freelist: db.prepare('PRAGMA freelist_count').pluck(),
    totals: db.prepare('SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b, coalesce(max(seq), 0) AS m FROM outbox'),
  };
}

interface RawRow extends RawMessageColumns {
  payload: Buffer;
}

function fromRaw(r: RawRow): OutboxRow {
  return { ...messageFromRaw(r), payload: r.payload };
}
