/**
 * The durable store-and-forward queue between the gateway and the broker (SQLite, WAL).
 *
 * Readings collect in memory for at most `flushMs` (or until `batchMax`) and are then written in
 * ONE transaction: SD cards wear per write, not per reading. A SIGKILL loses at most that unflushed
 * window. `flushMs: 0` is strict mode: each reading is committed to a staging table on arrival (one
 * WAL append per reading: more wear, nothing lost) and staged readings become a batch every `batchMs`.
 *
 * Every row is a whole wire message (telemetry, gap records, events, reviews, command acks). A
 * telemetry batch gets its (bootId, seq) when it is inserted and keeps it, so a re-publish after a
 * reconnect or restart is the same batch and the hub de-duplicates it. Rows leave only when the
 * publisher reports the broker's PUBACK, or when the size/age bound drops the oldest ones: then a
 * GapRecord per boot tells the hub exactly which batches and how many readings it will never get.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { SwarmgateError, errorMessage } from '../../shared/errors.js';
import { createLogger } from '../../shared/log.js';
import { GapRecordSchema, encode, gatewayTopic, isValidId, type GapRecord } from '../../shared/wire/index.js';
import type { Reading } from '../drivers/driver.js';
import { FederationMetrics } from './metrics.js';
import { MAX_BATCH_BYTES, encodeBatch, toWireReading } from './telemetry.js';

export type MessageKind = 'telemetry' | 'gap' | 'event' | 'review' | 'ack' | 'other';

export interface OutboxRow {
  readonly seq: number;
  /** Boot that wrote the row; for a gap record, the boot whose batches it reports missing. */
  readonly bootId: string;
  readonly kind: MessageKind;
  readonly topic: string;
  readonly readings: number;
  /** Telemetry only: the batch seq on the wire (per boot, +1 per batch). */
  readonly batchSeq: number | null;
  readonly firstTs: number | null;
  readonly lastTs: number | null;
  readonly createdAt: number;
  readonly payload: Buffer;
}

export interface OutboxOptions {
  /** SQLite file; created when missing. */
  readonly path: string;
  readonly site: string;
  readonly gateway: string;
  /** Identifies this process run on the wire; default a random UUID. */
  readonly bootId?: string;
  readonly maxBytes?: number;
  readonly maxAgeS?: number;
  readonly flushMs?: number;
  readonly batchMax?: number;
  readonly batchMs?: number;
  readonly clock?: () => number;
  readonly metrics?: FederationMetrics;
  readonly log?: Logger;
}

export interface CommitInfo {
  /** Readings made durable by this transaction. */
  readonly readings: number;
  readonly lastSeq: number;
}

interface OpenBatch {
  parts: string[];
  bytes: number;
  minTs: number;
  maxTs: number;
}

interface NewRow {
  readonly kind: MessageKind;
  readonly topic: string;
  readonly payload: Buffer;
  readonly readings: number;
  readonly batchSeq: number | null;
  readonly firstTs: number | null;
  readonly lastTs: number | null;
}

interface DropCandidate {
  seq: number;
  boot_id: string;
  kind: MessageKind;
  batch_seq: number | null;
  readings: number;
  first_ts: number | null;
  last_ts: number | null;
  bytes: number;
}

const ROW_OVERHEAD = 64;
const COLUMNS = 'seq, boot_id, kind, topic, readings, batch_seq, first_ts, last_ts, created_at, payload';

export class Outbox {
  readonly bootId: string;
  readonly path: string;
  private readonly db: Database.Database;
  private readonly log: Logger;
  private readonly metrics: FederationMetrics;
  private readonly clock: () => number;
  private readonly maxAgeMs: number;
  private readonly flushMs: number;
  private readonly batchMax: number;
  private readonly batchMs: number;
  private readonly dbBudget: number;
  private readonly pageSize: number;
  private readonly gapTopic: string;
  private readonly telemetryTopic: string;
  private nextRowSeq: number;
  private nextBatchSeq = 0;
  private open: OpenBatch = emptyBatch();
  private readonly sealed: NewRow[] = [];
  private readonly inflight = new Set<number>();
  private readonly pendingAcks = new Set<number>();
  private rowCount = 0;
  private byteCount = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly maintenance: NodeJS.Timeout;
  private ageCheckedAt = 0;
  private closed = false;
  private readonly appendListeners = new Set<() => void>();
  private readonly commitListeners = new Set<(info: CommitInfo) => void>();
  private readonly stmt: Statements;

  constructor(private readonly options: OutboxOptions) {
    if (!isValidId(options.gateway) || !isValidId(options.site)) {
      throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `gateway "${options.gateway}" / site "${options.site}" are not valid ids`);
    }
    this.bootId = options.bootId ?? randomUUID();
    this.path = options.path;
    this.log = options.log ?? createLogger('edge:outbox');
    this.metrics = options.metrics ?? new FederationMetrics();
    this.clock = options.clock ?? Date.now;
    this.maxAgeMs = (options.maxAgeS ?? 7 * 24 * 3600) * 1000;
    this.flushMs = options.flushMs ?? 200;
    this.batchMax = options.batchMax ?? 500;
    this.batchMs = options.batchMs ?? 200;
    const maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    // The bound covers the database and its write-ahead log; the WAL gets a fixed slice of it.
    const walBudget = Math.min(4 * 1024 * 1024, Math.max(64 * 1024, Math.floor(maxBytes / 8)));
    this.dbBudget = maxBytes - walBudget;
    this.gapTopic = gatewayTopic(options.site, options.gateway, 'gaps');
    this.telemetryTopic = gatewayTopic(options.site, options.gateway, 'telemetry');

    try {
      this.db = new Database(options.path);
    } catch (err) {
      throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `cannot open the outbox database ${options.path}: ${errorMessage(err)}`, { cause: err });
    }
    const db = this.db;
    // auto_vacuum must be chosen before the first table exists; it lets a shrinking queue give disk back.
    db.pragma('auto_vacuum = INCREMENTAL');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    this.pageSize = db.pragma('page_size', { simple: true }) as number;
    db.pragma(`journal_size_limit = ${walBudget}`);
    db.pragma(`wal_autocheckpoint = ${Math.max(8, Math.floor(walBudget / this.pageSize / 2))}`);
    // Small columns first: scans for age and drop candidates then never touch the payload's overflow pages.
    db.exec(`CREATE TABLE IF NOT EXISTS outbox (
      seq INTEGER PRIMARY KEY, boot_id TEXT NOT NULL, kind TEXT NOT NULL, topic TEXT NOT NULL,
      readings INTEGER NOT NULL, batch_seq INTEGER, first_ts INTEGER, last_ts INTEGER,
      created_at INTEGER NOT NULL, bytes INTEGER NOT NULL, payload BLOB NOT NULL);
      CREATE TABLE IF NOT EXISTS staging (id INTEGER PRIMARY KEY, reading TEXT NOT NULL);`);
    this.stmt = prepareStatements(db);
    this.nextRowSeq = this.recount() + 1;
    this.recoverStaging();
    this.updateGauges();
    const every = Math.min(60_000, Math.max(1000, Math.floor(this.maxAgeMs / 10)));
    this.maintenance = setInterval(() => this.commitSafely(), every).unref();
  }

  static open(options: OutboxOptions): Outbox {
    return new Outbox(options);
  }

  get strict(): boolean {
    return this.flushMs === 0;
  }

  /** Highest row seq committed so far (0 when none ever was). */
  get lastSeq(): number {
    return this.nextRowSeq - 1;
  }

  stats(): { messages: number; bytes: number; fileBytes: number; buffered: number } {
    return { messages: this.rowCount, bytes: this.byteCount, fileBytes: this.fileBytes(), buffered: this.open.parts.length };
  }

  /** Database plus WAL size on disk. */
  fileBytes(): number {
    const size = (p: string): number => (existsSync(p) ? statSync(p).size : 0);
    return size(this.path) + size(`${this.path}-wal`);
  }

  /** Called after rows were committed (the publisher wakes up). */
  onAppend(listener: () => void): () => void {
    this.appendListeners.add(listener);
    return () => this.appendListeners.delete(listener);
  }

  onCommit(listener: (info: CommitInfo) => void): () => void {
    this.commitListeners.add(listener);
    return () => this.commitListeners.delete(listener);
  }

  addReading(reading: Reading): void {
    if (this.closed) return;
    const wire = toWireReading(reading);
    if (!wire) {
      this.metrics.rejected.inc({ source: 'reading', reason: 'schema' });
      this.log.warn({ device: reading.device, point: reading.point }, 'reading does not fit the wire schema; not forwarded');
      return;
    }
    const json = JSON.stringify(wire);
    if (this.open.parts.length > 0 && this.open.bytes + json.length > MAX_BATCH_BYTES) this.sealOpen();
    if (this.strict) {
      this.stmt.stage.run(json);
      push(this.open, json, wire.ts);
      this.notifyCommit(1);
      if (this.open.parts.length >= this.batchMax) this.commit();
      else this.arm(this.batchMs);
      return;
    }
    push(this.open, json, wire.ts);
    if (this.open.parts.length >= this.batchMax) this.commit();
    else this.arm(this.flushMs);
  }

  /** Queues any other wire message; committed at once (with the readings buffered before it). */
  enqueue(topic: string, kind: Exclude<MessageKind, 'telemetry'>, payload: Buffer): void {
    if (this.closed) throw new SwarmgateError('SWG_ERR_INTERNAL', 'the outbox is closed');
    this.commit({ kind, topic, payload, readings: 0, batchSeq: null, firstTs: null, lastTs: null });
  }

  /** Writes whatever is buffered now. */
  flush(): void {
    if (!this.closed) this.commit();
  }

  /**
   * Rows with after < seq < before, oldest first, skipping rows in flight or acknowledged.
   * `last` is the highest seq looked at, for the caller's cursor.
   */
  next(after: number, before: number, limit: number): { rows: OutboxRow[]; last: number } {
    const raw = this.stmt.next.all(after, before, limit) as RawRow[];
    const rows = raw.filter((r) => !this.inflight.has(r.seq) && !this.pendingAcks.has(r.seq)).map(fromRaw);
    return { rows, last: raw.length > 0 ? (raw[raw.length - 1]?.seq ?? after) : after };
  }

  /** The row is with the broker; it must not be dropped or handed out again. */
  markSent(seq: number): void {
    this.inflight.add(seq);
  }

  /** The publish failed before a PUBACK: the row is eligible again. */
  unmarkSent(seq: number): void {
    this.inflight.delete(seq);
  }

  /** PUBACK received: the row is deleted with the next transaction. */
  ack(seq: number): void {
    this.inflight.delete(seq);
    this.pendingAcks.add(seq);
    this.arm(this.flushMs || 200);
  }

  all(): OutboxRow[] {
    return (this.db.prepare(`SELECT ${COLUMNS} FROM outbox ORDER BY seq`).all() as RawRow[]).map(fromRaw);
  }

  close(): void {
    if (this.closed) return;
    this.commit();
    this.closed = true;
    clearInterval(this.maintenance);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.db.close();
  }

  private arm(ms: number): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.commitSafely();
    }, ms);
  }

  private commitSafely(): void {
    try {
      if (!this.closed) this.commit();
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'outbox commit failed; readings stay buffered');
    }
  }

  private sealOpen(): void {
    if (this.open.parts.length === 0) return;
    const b = this.open;
    const batchSeq = this.nextBatchSeq++;
    const payload = encodeBatch({ gateway: this.options.gateway, bootId: this.bootId, seq: batchSeq, sentAt: this.clock(), historical: false }, b.parts);
    this.sealed.push({ kind: 'telemetry', topic: this.telemetryTopic, payload, readings: b.parts.length, batchSeq, firstTs: b.minTs, lastTs: b.maxTs });
    this.open = emptyBatch();
  }

  /** One transaction: acks, buffered batches, the extra message, then the size and age bounds. */
  private commit(extra?: NewRow): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const now = this.clock();
    const ageDue = now - this.ageCheckedAt >= 1000;
    if (this.open.parts.length === 0 && this.sealed.length === 0 && !extra && this.pendingAcks.size === 0 && !ageDue) return;
    const wasStaged = this.strict;
    this.sealOpen();
    const rows = this.sealed.splice(0);
    if (extra) rows.push(extra);
    const acks = [...this.pendingAcks];
    const readings = rows.reduce((n, r) => n + r.readings, 0);
    try {
      this.db.transaction(() => {
        for (const seq of acks) this.deleteRow(seq);
        const incoming = rows.reduce((n, r) => n + r.payload.length + ROW_OVERHEAD, 0);
        this.enforceSize(incoming, now);
        for (const row of rows) this.insert(row, now);
        if (wasStaged && rows.some((r) => r.kind === 'telemetry')) this.stmt.unstage.run();
        if (ageDue) {
          this.ageCheckedAt = now;
          this.enforceAge(now);
        }
      })();
    } catch (err) {
      // Rolled back (disk full, I/O error): keep the batches for the next attempt, fix the counters.
      this.sealed.unshift(...rows.filter((r) => r !== extra));
      this.recount();
      throw err;
    }
    for (const seq of acks) this.pendingAcks.delete(seq);
    this.releaseDisk();
    this.updateGauges();
    if (!wasStaged && readings > 0) this.notifyCommit(readings);
    if (rows.length > 0) for (const l of this.appendListeners) l();
  }

  private insert(row: NewRow, now: number): void {
    const seq = this.nextRowSeq++;
    this.stmt.insert.run(seq, this.bootId, row.kind, row.topic, row.readings, row.batchSeq, row.firstTs, row.lastTs, now, row.payload.length, row.payload);
    this.rowCount++;
    this.byteCount += row.payload.length;
  }

  private deleteRow(seq: number): void {
    const gone = this.stmt.remove.get(seq) as { bytes: number } | undefined;
    if (!gone) return;
    this.rowCount--;
    this.byteCount -= gone.bytes;
  }

  /** Reloads the counters from the table; returns the highest seq. */
  private recount(): number {
    const totals = this.stmt.totals.get() as { n: number; b: number; m: number };
    this.rowCount = totals.n;
    this.byteCount = totals.b;
    return totals.m;
  }

  private usedBytes(): number {
    return ((this.stmt.pageCount.get() as number) - (this.stmt.freelist.get() as number)) * this.pageSize;
  }

  /** Drops the oldest rows (never in-flight ones, never gap records) until `incoming` fits. */
  private enforceSize(incoming: number, now: number): void {
    for (let round = 0; round < 8; round++) {
      const over = this.usedBytes() + incoming - this.dbBudget;
      if (over <= 0) return;
      // Hysteresis: free 5 % more than needed so the drop does not repeat on every flush.
      const target = over + Math.floor(this.dbBudget * 0.05);
      const victims: DropCandidate[] = [];
      let freed = 0;
      let cursor = 0;
      while (freed < target) {
        const page = this.stmt.candidates.all(cursor) as DropCandidate[];
        if (page.length === 0) break;
        for (const c of page) {
          cursor = c.seq;
          if (this.inflight.has(c.seq)) continue;
          victims.push(c);
          freed += c.bytes + ROW_OVERHEAD;
          if (freed >= target) break;
        }
      }
      if (victims.length === 0) {
        this.log.error({ over }, 'outbox over its size bound with nothing left to drop');
        return;
      }
      this.drop(victims, 'outbox-size', now);
    }
  }

  private enforceAge(now: number): void {
    const victims = (this.stmt.aged.all(now - this.maxAgeMs) as DropCandidate[]).filter((c) => !this.inflight.has(c.seq));
    if (victims.length > 0) this.drop(victims, 'outbox-age', now);
  }

  /** Deletes the rows and leaves one GapRecord per boot the dropped telemetry came from. */
  private drop(victims: readonly DropCandidate[], reason: GapRecord['reason'], now: number): void {
    const gaps = new Map<string, GapRecord>();
    for (const v of victims) {
      this.deleteRow(v.seq);
      this.metrics.dropped.inc({ kind: v.kind, reason });
      if (v.kind !== 'telemetry' || v.batch_seq === null) continue;
      this.metrics.droppedReadings.inc({ reason }, v.readings);
      const g = gaps.get(v.boot_id);
      const fromTs = v.first_ts ?? now;
      const toTs = v.last_ts ?? now;
      if (!g) {
        gaps.set(v.boot_id, { v: 1, gateway: this.options.gateway, bootId: v.boot_id, fromSeq: v.batch_seq, toSeq: v.batch_seq, readingsDropped: v.readings, fromTs, toTs, reason, ts: now });
      } else {
        g.fromSeq = Math.min(g.fromSeq, v.batch_seq);
        g.toSeq = Math.max(g.toSeq, v.batch_seq);
        g.readingsDropped += v.readings;
        g.fromTs = Math.min(g.fromTs, fromTs);
        g.toTs = Math.max(g.toTs, toTs);
      }
    }
    for (const gap of gaps.values()) this.insertGap(this.mergeWithPrevious(gap), now);
    this.log.warn({ reason, messages: victims.length, gaps: [...gaps.values()].map((g) => ({ bootId: g.bootId, fromSeq: g.fromSeq, toSeq: g.toSeq, readings: g.readingsDropped })) }, 'outbox dropped its oldest messages');
  }

  /**
   * A long outage drops a little on many flushes; while the previous gap record of the same boot
   * is unsent and ends right before this one, the two become one record instead of a trail.
   */
  private mergeWithPrevious(gap: GapRecord): GapRecord {
    const prev = this.stmt.lastGap.get(gap.bootId) as { seq: number; payload: Buffer } | undefined;
    if (!prev || this.inflight.has(prev.seq)) return gap;
    const old = JSON.parse(prev.payload.toString('utf8')) as GapRecord;
    if (old.toSeq + 1 !== gap.fromSeq) return gap;
    this.deleteRow(prev.seq);
    return {
      ...gap,
      fromSeq: old.fromSeq,
      readingsDropped: old.readingsDropped + gap.readingsDropped,
      fromTs: Math.min(old.fromTs, gap.fromTs),
      toTs: Math.max(old.toTs, gap.toTs),
    };
  }

  /** Gap rows carry the boot they describe in boot_id, so the merge above can find them. */
  private insertGap(gap: GapRecord, now: number): void {
    const payload = encode(GapRecordSchema, gap);
    const seq = this.nextRowSeq++;
    this.stmt.insert.run(seq, gap.bootId, 'gap', this.gapTopic, 0, null, gap.fromTs, gap.toTs, now, payload.length, payload);
    this.rowCount++;
    this.byteCount += payload.length;
  }

  /** Gives free pages back to the file system when the file outgrew the budget. */
  private releaseDisk(): void {
    const pages = this.stmt.pageCount.get() as number;
    if (pages * this.pageSize <= this.dbBudget) return;
    const free = this.stmt.freelist.get() as number;
    if (free > 0) this.db.pragma(`incremental_vacuum(${free})`);
  }

  /** Strict mode leftovers of a crash: committed readings not yet in a batch become one now. */
  private recoverStaging(): void {
    const staged = this.db.prepare('SELECT reading FROM staging ORDER BY id').pluck().all() as string[];
    if (staged.length === 0) return;
    for (const json of staged) {
      const ts = (JSON.parse(json) as { ts: number }).ts;
      if (this.open.parts.length >= this.batchMax || this.open.bytes + json.length > MAX_BATCH_BYTES) this.sealOpen();
      push(this.open, json, ts);
    }
    this.sealOpen();
    const rows = this.sealed.splice(0);
    const now = this.clock();
    this.db.transaction(() => {
      for (const row of rows) this.insert(row, now);
      this.stmt.unstage.run();
    })();
    this.log.info({ readings: staged.length }, 'recovered readings staged before a crash');
  }

  private notifyCommit(readings: number): void {
    const info = { readings, lastSeq: this.lastSeq };
    for (const l of this.commitListeners) l(info);
  }

  private updateGauges(): void {
    this.metrics.outboxRows.set(this.rowCount);
    this.metrics.outboxBytes.set(this.byteCount);
  }
}

function prepareStatements(db: Database.Database) {
  return {
    insert: db.prepare(
      'INSERT INTO outbox (seq, boot_id, kind, topic, readings, batch_seq, first_ts, last_ts, created_at, bytes, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    remove: db.prepare('DELETE FROM outbox WHERE seq = ? RETURNING bytes'),
    next: db.prepare(`SELECT ${COLUMNS} FROM outbox WHERE seq > ? AND seq < ? ORDER BY seq LIMIT ?`),
    candidates: db.prepare("SELECT seq, boot_id, kind, batch_seq, readings, first_ts, last_ts, bytes FROM outbox WHERE kind != 'gap' AND seq > ? ORDER BY seq LIMIT 256"),
    aged: db.prepare("SELECT seq, boot_id, kind, batch_seq, readings, first_ts, last_ts, bytes FROM outbox WHERE kind != 'gap' AND created_at < ? ORDER BY seq"),
    lastGap: db.prepare("SELECT seq, payload FROM outbox WHERE kind = 'gap' AND boot_id = ? ORDER BY seq DESC LIMIT 1"),
    stage: db.prepare('INSERT INTO staging (reading) VALUES (?)'),
    unstage: db.prepare('DELETE FROM staging'),
    pageCount: db.prepare('PRAGMA page_count').pluck(),
    freelist: db.prepare('PRAGMA freelist_count').pluck(),
    totals: db.prepare('SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b, coalesce(max(seq), 0) AS m FROM outbox'),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

interface RawRow {
  seq: number;
  boot_id: string;
  kind: MessageKind;
  topic: string;
  readings: number;
  batch_seq: number | null;
  first_ts: number | null;
  last_ts: number | null;
  created_at: number;
  payload: Buffer;
}

function fromRaw(r: RawRow): OutboxRow {
  return {
    seq: r.seq,
    bootId: r.boot_id,
    kind: r.kind,
    topic: r.topic,
    readings: r.readings,
    batchSeq: r.batch_seq,
    firstTs: r.first_ts,
    lastTs: r.last_ts,
    createdAt: r.created_at,
    payload: r.payload,
  };
}

function emptyBatch(): OpenBatch {
  return { parts: [], bytes: 0, minTs: Number.POSITIVE_INFINITY, maxTs: 0 };
}

function push(b: OpenBatch, json: string, ts: number): void {
  b.parts.push(json);
  b.bytes += json.length + 1;
  if (ts < b.minTs) b.minTs = ts;
  if (ts > b.maxTs) b.maxTs = ts;
}
