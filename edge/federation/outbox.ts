/**
 * The durable store-and-forward queue between the gateway and the broker.
 *
 * Readings collect in memory for at most `flushMs` (or until `batchMax`) and are then written in
 * ONE transaction: SD cards wear per write, not per reading. A SIGKILL loses at most that unflushed
 * window. `flushMs: 0` is strict mode: each reading is committed to a staging table on arrival (one
 * WAL append per reading: more wear, nothing lost) and staged readings become a batch every `batchMs`.
 *
 * Every row is a whole wire message (telemetry, gap records, events, reviews, command acks). A
 * telemetry batch gets its (bootId, seq) when it is inserted and keeps it, so a re-publish after a
 * reconnect or restart is the same batch and the hub de-duplicates it. Rows leave only when the
 * publisher reports the hub's stored receipt (or the broker's PUBACK with deleteOn puback), or when
 * the size/age bound drops the oldest ones: then a GapRecord per boot tells the hub exactly which
 * batches and how many readings it will never get. Batches waiting for the hub's receipt are passed
 * over (while they hold at most half the bound), and any batch the broker ever acknowledged is
 * reported in a record of its own (reason `…-unconfirmed`): the hub may have it. A gap record once
 * handed to the broker is never merged into a later one.
 *
 * Ages (maxAgeS) and receipt waits are measured on a monotonic clock within a run: a wall-clock
 * step (NTP correcting an RTC-less gateway) moves the stored creation times with it. Across a
 * restart only the wall clock exists: a row is as old as its wall-clock creation time says, except
 * that a clock behind the newest row (it stepped back while the gateway was off) re-stamps the rows
 * so the newest is "now" (no row gets a negative age that would keep it forever).
 *
 * While commits fail (read-only or failing disk) readings wait in memory, at most
 * `maxUnwrittenBytes` of sealed batches; older ones are dropped with an `outbox-write-failed` gap
 * record written once the disk takes writes again. addReading never throws for it.
 *
 * A row the broker keeps refusing is set aside in the file's dead-letter table (setAside). A
 * technician re-queues or drops those entries from a shell (`swarmgate edge dead-letters`, another
 * process): a re-queue is a request in the table that this outbox takes at start and, while it
 * runs, within REQUEST_POLL_MS of the command's commit (dead-letters.ts says why the queue itself
 * is written by this process only).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import type { Logger } from 'pino';
import { SwarmgateError, errorMessage } from '../../shared/kit/errors.js';
import { createLogger } from '../../shared/kit/log.js';
import { GapRecordSchema, binaryReadingBound, encode, encodeTelemetryBinary, gatewayTopic, isValidId, type GapRecord, type TelemetryEncoding, type WireReading } from '../../shared/wire/index.js';
import type { Reading } from '../drivers/driver.js';
import { FederationMetrics } from './metrics.js';
import type { DeadLetterSummary, DeadLetterWithPayload } from './dead-letters.js';
import { OutboxTable, type MessageKind, type NewRow, type OutboxRow, type RowSummary } from './outbox-table.js';
import { MAX_BATCH_BYTES, encodeBatch, toWireReading } from './telemetry.js';

export type { MessageKind, OutboxRow } from './outbox-table.js';

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
  /** How telemetry batches are encoded (default 'json'); rows already written keep theirs. */
  readonly encoding?: TelemetryEncoding;
  /** Wall clock, ms since the epoch (default Date.now): creation times, times on the wire. */
  readonly clock?: () => number;
  /** A clock that never steps, ms (default performance.now): ages and waits within a run. */
  readonly monotonic?: () => number;
  /** Sealed batches kept in memory while commits fail (default min(the outbox's size bound, 16 MiB)). */
  readonly maxUnwrittenBytes?: number;
  readonly metrics?: FederationMetrics;
  readonly log?: Logger;
}

export interface CommitInfo {
  /** Readings made durable by this transaction. */
  readonly readings: number;
  readonly lastSeq: number;
}

/** Readings waiting to become a batch: JSON texts, or (binary encoding) the readings themselves. */
interface OpenBatch {
  parts: string[];
  readings: WireReading[];
  count: number;
  /** Upper bound of the encoded readings' bytes. */
  bytes: number;
  minTs: number;
  maxTs: number;
}

const ROW_OVERHEAD = 64;
/** A wall-clock move this much larger or smaller than the monotonic clock's between two looks is a step. */
const CLOCK_STEP_MS = 1000;
const COMMIT_RETRY_MIN_MS = 1000;
const COMMIT_RETRY_MAX_MS = 30_000;
const FAILURE_LOG_EVERY_MS = 60_000;
/** How often the outbox looks whether another process (`swarmgate edge dead-letters`) wrote its file: one PRAGMA, no disk write. */
const REQUEST_POLL_MS = 1000;

export class Outbox {
  readonly bootId: string;
  readonly path: string;
  private readonly table: OutboxTable;
  private readonly log: Logger;
  private readonly metrics: FederationMetrics;
  private readonly clock: () => number;
  private readonly monotonic: () => number;
  private readonly maxAgeMs: number;
  private readonly maxUnwrittenBytes: number;
  private readonly flushMs: number;
  private readonly batchMax: number;
  private readonly batchMs: number;
  private readonly binary: boolean;
  private readonly dbBudget: number;
  private readonly gapTopic: string;
  private readonly telemetryTopic: string;
  private nextBatchSeq = 0;
  private open: OpenBatch = emptyBatch();
  private readonly sealed: NewRow[] = [];
  private readonly inflight = new Set<number>();
  private readonly pendingAcks = new Set<number>();
  /** Telemetry rows the broker acknowledged, waiting for the hub's stored receipt: row seq -> batch key and since when (monotonic). */
  private readonly awaiting = new Map<number, { key: string; since: number; kind: MessageKind }>();
  /** Rows the broker acknowledged in this run (waiting for a receipt, or waiting to be sent again): the hub may have them. */
  private readonly brokerAcked = new Set<number>();
  /** Gap records written in this run and never handed to the broker, by `${bootId}|${reason}`: the only ones a new drop may merge into. */
  private readonly unsentGaps = new Map<string, { seq: number; gap: GapRecord }>();
  /** Telemetry dropped from memory while commits failed, written with the next commit that works. */
  private unwrittenGap: GapRecord | undefined;
  private lastWall: number | undefined;
  private lastMono = 0;
  /** Wall-clock steps seen and not yet applied to the stored creation times. */
  private pendingShift = 0;
  private commitFailures = 0;
  /** Strict mode: readings the staging table refused, durable only with the next commit that works. */
  private unstaged = 0;
  private commitRetryAt = Number.NEGATIVE_INFINITY;
  private commitBackoffMs = 0;
  private failureLoggedAt = Number.NEGATIVE_INFINITY;
  /** `${bootId}:${batchSeq}` -> row seq of the rows in `awaiting`. */
  private readonly awaitingByKey = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private readonly maintenance: NodeJS.Timeout;
  private readonly requestWatch: NodeJS.Timeout;
  /** The file's data_version when this outbox last looked: it moves when another process commits. */
  private seenDataVersion = 0;
  /** A re-queue request could not be applied (the transaction failed): tried again on the next look. */
  private requestsFailed = false;
  private deadSummary: DeadLetterSummary = { count: 0, bytes: 0, oldestSetAsideAt: undefined };
  /** Monotonic time of the last age check. */
  private ageCheckedAt = Number.NEGATIVE_INFINITY;
  private closed = false;
  private readonly appendListeners = new Set<() => void>();
  private readonly commitListeners = new Set<(info: CommitInfo) => void>();

  constructor(private readonly options: OutboxOptions) {
    if (!isValidId(options.gateway) || !isValidId(options.site)) {
      throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `gateway "${options.gateway}" / site "${options.site}" are not valid ids`);
    }
    this.bootId = options.bootId ?? randomUUID();
    this.path = options.path;
    this.log = options.log ?? createLogger('edge:outbox');
    this.metrics = options.metrics ?? new FederationMetrics();
    this.clock = options.clock ?? Date.now;
    this.monotonic = options.monotonic ?? (() => performance.now());
    this.maxAgeMs = (options.maxAgeS ?? 7 * 24 * 3600) * 1000;
    this.flushMs = options.flushMs ?? 200;
    this.batchMax = options.batchMax ?? 500;
    this.batchMs = options.batchMs ?? 200;
    this.binary = options.encoding === 'binary';
    // The frame's encoder refuses what the wire refuses; better here than at the first batch.
    if (this.binary && !/^[A-Za-z0-9_-]{8,64}$/.test(this.bootId)) throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `boot id "${this.bootId}" is not a wire boot id (8 to 64 of A-Z a-z 0-9 _ -)`);
    const maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    // The bound covers the database and its write-ahead log; the WAL gets a fixed slice of it.
    const walBudget = Math.min(4 * 1024 * 1024, Math.max(64 * 1024, Math.floor(maxBytes / 8)));
    this.dbBudget = maxBytes - walBudget;
    this.maxUnwrittenBytes = options.maxUnwrittenBytes ?? Math.min(this.dbBudget, 16 * 1024 * 1024);
    this.gapTopic = gatewayTopic(options.site, options.gateway, 'gaps');
    this.telemetryTopic = gatewayTopic(options.site, options.gateway, 'telemetry');
    this.table = new OutboxTable(options.path, walBudget);
    this.checkClockAgainstRows();
    this.recoverStaging();
    this.updateGauges();
    this.seenDataVersion = this.table.dataVersion();
    this.refreshDeadLetters();
    // Re-queues asked for while the gateway was stopped.
    this.takeRequeueRequests();
    const every = Math.min(60_000, Math.max(1000, Math.floor(this.maxAgeMs / 10)));
    this.maintenance = setInterval(() => this.commitSafely(), every).unref();
    this.requestWatch = setInterval(() => this.watchOtherWriters(), REQUEST_POLL_MS).unref();
  }

  get strict(): boolean {
    return this.flushMs === 0;
  }

  /** Highest row seq committed so far (0 when none ever was). */
  get lastSeq(): number {
    return this.table.lastSeq;
  }

  /** buffered: readings in memory not committed yet (the open batch, and sealed batches while commits fail). */
  stats(): { messages: number; bytes: number; fileBytes: number; buffered: number } {
    return { messages: this.table.rows, bytes: this.table.bytes, fileBytes: this.fileBytes(), buffered: this.open.count + this.sealed.reduce((n, r) => n + r.readings, 0) };
  }

  /** Database plus WAL size on disk. */
  fileBytes(): number {
    const size = (p: string): number => (existsSync(p) ? statSync(p).size : 0);
    return size(this.path) + size(`${this.path}-wal`);
  }

  /** Called after rows were committed (the publisher wakes up). */
  /** Gives free space back to the file system now (the health agent's remedy when disk runs low); bytes freed. */
  compact(): number {
    const before = this.fileBytes();
    this.table.compact();
    return Math.max(0, before - this.fileBytes());
  }

  /** The size bound of the outbox database (outbox.maxBytes less the write-ahead log's slice). */
  get maxBytes(): number {
    return this.dbBudget;
  }

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
    // JSON text only where it is kept: the JSON encoding, or strict mode's staging table.
    const json = !this.binary || this.strict ? JSON.stringify(wire) : undefined;
    // Bytes on the wire, not characters: a text value of "°C" or "€" is 2-3 bytes a character.
    const size = json === undefined || this.binary ? binaryReadingBound(wire) : Buffer.byteLength(json) + 1;
    if (this.open.count > 0 && this.open.bytes + size > MAX_BATCH_BYTES) this.sealOpen();
    const staged = json !== undefined && this.strict && this.stageSafely(json);
    this.push(wire, json, size);
    if (staged) this.notifyCommit(1);
    else if (this.strict) this.unstaged++;
    // Never throws: a failing disk keeps the readings in memory (bounded) and retries with a backoff.
    if (this.open.count >= this.batchMax) this.commitSafely();
    else this.arm(this.strict ? this.batchMs : this.flushMs);
  }

  /**
   * Queues any other wire message (an event, a command's ack, a review request, a config report);
   * committed at once, after the readings buffered before it. Never throws on a failing disk: the
   * message waits in memory with the readings and goes in with the next commit that works (control
   * messages are small and are the last thing the memory bound drops).
   */
  enqueue(topic: string, kind: Exclude<MessageKind, 'telemetry'>, payload: Buffer): void {
    if (this.closed) throw new SwarmgateError('SWG_ERR_INTERNAL', 'the outbox is closed');
    this.sealOpen();
    this.sealed.push({ bootId: this.bootId, kind, topic, payload, readings: 0, batchSeq: null, firstTs: null, lastTs: null });
    this.commitSafely();
  }

  /** Writes whatever is buffered now, even while backing off a failing disk; never throws (a failure is logged and retried). */
  flush(): void {
    if (this.closed) return;
    try {
      this.commit();
    } catch {
      // commit() counted and logged it and armed the retry.
    }
  }

  /**
   * Rows with after < seq < before, oldest first, skipping rows in flight or acknowledged.
   * `last` is the highest seq looked at, for the caller's cursor.
   */
  next(after: number, before: number, limit: number): { rows: OutboxRow[]; last: number } {
    const raw = this.table.range(after, before, limit);
    return { rows: raw.filter((r) => !this.inflight.has(r.seq) && !this.pendingAcks.has(r.seq) && !this.awaiting.has(r.seq)), last: raw[raw.length - 1]?.seq ?? after };
  }

  /** The row is with the broker; it must not be dropped or handed out again (nor, a gap record, merged into another). */
  markSent(seq: number): void {
    this.inflight.add(seq);
    for (const [key, g] of this.unsentGaps) if (g.seq === seq) this.unsentGaps.delete(key);
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

  /**
   * The broker has the message (PUBACK); the row stays until the hub's stored receipt names it:
   * a telemetry batch by its (bootId, seq), any other message by the digest of its payload.
   */
  awaitStored(seq: number, kind: MessageKind, name: { bootId: string; batchSeq: number } | { digest: string }): void {
    this.inflight.delete(seq);
    const key = 'digest' in name ? `m:${name.digest}` : `${name.bootId}:${name.batchSeq}`;
    this.awaiting.set(seq, { key, since: this.monotonic(), kind });
    this.brokerAcked.add(seq);
    this.awaitingByKey.set(key, seq);
    this.metrics.awaitingStored.set(this.awaiting.size);
  }

  /** The hub stored batches from..to of a boot: their rows go. Returns how many rows that was. */
  stored(bootId: string, from: number, to: number): number {
    let n = 0;
    const take = (key: string): void => {
      const seq = this.awaitingByKey.get(key);
      if (seq === undefined) return;
      this.forget(seq);
      this.ack(seq);
      n++;
    };
    if (to - from < this.awaiting.size) for (let s = from; s <= to; s++) take(`${bootId}:${s}`);
    else
      for (const { key } of [...this.awaiting.values()]) {
        const at = key.lastIndexOf(':');
        const s = Number(key.slice(at + 1));
        if (key.slice(0, at) === bootId && s >= from && s <= to) take(key);
      }
    this.metrics.awaitingStored.set(this.awaiting.size);
    return n;
  }

  /** The hub stored these messages (digests of their payloads): their rows go. Returns the kinds of the rows that went. */
  storedMessages(digests: readonly string[]): MessageKind[] {
    const kinds: MessageKind[] = [];
    for (const d of digests) {
      const seq = this.awaitingByKey.get(`m:${d}`);
      const a = seq === undefined ? undefined : this.awaiting.get(seq);
      if (seq === undefined || !a) continue;
      this.forget(seq);
      this.ack(seq);
      kinds.push(a.kind);
    }
    this.metrics.awaitingStored.set(this.awaiting.size);
    return kinds;
  }

  /**
   * Rows that have waited for a receipt longer than `waitMs` become eligible to send again (at most
   * `limit`, the longest waiting first); their seqs. Waits are measured on the monotonic clock, so
   * a wall-clock step neither holds a resend back nor hurries it.
   */
  expireAwaiting(waitMs: number, limit = Number.POSITIVE_INFINITY): number[] {
    const now = this.monotonic();
    const expired: number[] = [];
    for (const [seq, a] of this.awaiting) {
      if (expired.length >= limit) break;
      if (now - a.since > waitMs) expired.push(seq);
    }
    for (const seq of expired) this.forget(seq);
    this.metrics.awaitingStored.set(this.awaiting.size);
    return expired;
  }

  /**
   * Takes a row the broker keeps refusing (it closes the connection on the row's publish: an ACL
   * refusal, a message size limit) out of the send queue, so the rows behind it flow again. A copy
   * stays in the outbox file's dead-letter table (oldest entries trimmed to 1/16 of maxBytes), and
   * the row is accounted like a drop with reason 'refused': a gap record for telemetry,
   * swarmgate_federation_dropped_total. A row an operator had re-queued from there goes back with
   * its count of re-queues, and an error says the broker still refuses it. Returns the row, or
   * undefined when it is no longer queued.
   */
  setAside(seq: number, reason: 'refused' = 'refused'): OutboxRow | undefined {
    if (this.closed) return undefined;
    const row = this.table.get(seq);
    const summary = this.table.summary(seq);
    if (!row || !summary) return undefined;
    // As commit(): a wall-clock step seen now moves the stored creation times in the same
    // transaction, so the gap record written with this time is not left a step ahead of the rows.
    const now = this.wallNow();
    const shift = this.pendingShift;
    try {
      this.table.transaction(() => {
        if (shift !== 0) this.table.shiftCreated(shift);
        this.table.deadLetters.add(row, reason, now, this.deadLetterBudget, row.requeues);
        this.drop([summary], reason, now);
      });
      this.pendingShift -= shift;
    } catch (err) {
      this.rolledBack();
      throw err;
    }
    this.inflight.delete(seq);
    this.pendingAcks.delete(seq);
    this.metrics.awaitingStored.set(this.awaiting.size);
    this.updateGauges();
    this.refreshDeadLetters();
    if (row.requeues > 0) {
      this.log.error(
        { seq, kind: row.kind, topic: row.topic, bytes: row.payload.length, requeues: row.requeues },
        'a message re-queued from the dead-letter table was refused by the broker again and is set aside again; fix what the broker refuses (ACL, message size limit: see the broker log) before re-queuing it (--force), or drop it: swarmgate edge dead-letters',
      );
    }
    for (const l of this.appendListeners) l();
    return row;
  }

  /** Payload bytes the dead-letter table keeps (its oldest entries are trimmed past it): 1/16 of the bound. */
  private get deadLetterBudget(): number {
    return Math.max(64 * 1024, Math.floor(this.dbBudget / 16));
  }

  /** Rows set aside by setAside(), oldest first, with when and why. */
  deadLetters(): DeadLetterWithPayload[] {
    return this.table.deadLetters.all();
  }

  /** How many rows are set aside, their payload bytes and when the oldest was (as of the last change seen). */
  deadLetterSummary(): DeadLetterSummary {
    return this.deadSummary;
  }

  /**
   * Puts the dead letters a re-queue was asked for (`swarmgate edge dead-letters requeue`) back in
   * the send queue, in the order they were set aside, behind what is queued now; one transaction
   * with the size bound (which may drop the oldest telemetry to make room, as for any commit). A
   * telemetry batch keeps its boot id and seq: the hub stores it once, also when it had it already.
   * Each row counts its re-queues, so a row the broker refuses again is set aside again naming
   * them. Returns how many rows went back.
   */
  takeRequeueRequests(): number {
    if (this.closed) return 0;
    let taken: DeadLetterWithPayload[] = [];
    const after: (() => void)[] = [];
    let shift = 0;
    try {
      // A look without the write lock first: nearly always there is nothing to take.
      if (!this.table.deadLetters.hasRequests()) {
        this.requestsFailed = false;
        return 0;
      }
      const now = this.wallNow();
      shift = this.pendingShift;
      this.table.transaction(() => {
        taken = this.table.deadLetters.requested();
        if (taken.length === 0) return;
        if (shift !== 0) this.table.shiftCreated(shift);
        // Out of the dead-letter table first: the pages they free count towards the room they need.
        for (const d of taken) this.table.deadLetters.remove(d.id);
        this.enforceSize(taken.reduce((n, d) => n + d.payload.length + ROW_OVERHEAD, 0), now, after);
        for (const d of taken) this.table.insert({ bootId: d.bootId, kind: d.kind, topic: d.topic, readings: d.readings, batchSeq: d.batchSeq, firstTs: d.firstTs, lastTs: d.lastTs, payload: d.payload, requeues: d.requeues + 1 }, now);
      });
    } catch (err) {
      this.rolledBack();
      this.requestsFailed = true;
      // Another process held the file's write lock past the busy timeout: not the disk; the next look retries.
      if ((err as { code?: unknown }).code === 'SQLITE_BUSY') this.log.warn({ err: errorMessage(err), path: this.path }, 'dead-letter re-queue requests not taken: another process holds the outbox file locked; retried at the next look');
      else this.commitFailed(err);
      return 0;
    }
    this.requestsFailed = false;
    if (taken.length === 0) return 0;
    this.pendingShift -= shift;
    for (const f of after) f();
    for (const d of taken) this.metrics.requeued.inc({ kind: d.kind });
    this.updateGauges();
    this.refreshDeadLetters();
    this.log.info(
      { messages: taken.length, readings: taken.reduce((n, d) => n + d.readings, 0), ids: taken.map((d) => d.id), refusedAgainBefore: taken.filter((d) => d.requeues > 0).length },
      'dead letters re-queued (swarmgate edge dead-letters requeue): they are sent again, in the order they were set aside',
    );
    for (const l of this.appendListeners) l();
    return taken.length;
  }

  /**
   * Another process committed to the file (data_version moved): re-queue requests to take, or
   * entries dropped (which the gauges and the log then show). Costs one PRAGMA when nothing moved.
   */
  private watchOtherWriters(): void {
    if (this.closed) return;
    let version: number;
    try {
      version = this.table.dataVersion();
    } catch {
      return;
    }
    // A request that failed (the disk) is tried again with the commits' backoff.
    const retry = this.requestsFailed && this.monotonic() >= this.commitRetryAt;
    if (version === this.seenDataVersion && !retry) return;
    this.seenDataVersion = version;
    const before = this.deadSummary.count;
    const taken = this.takeRequeueRequests();
    this.refreshDeadLetters();
    const dropped = before - taken - this.deadSummary.count;
    if (dropped > 0) this.log.warn({ dropped, left: this.deadSummary.count }, 'dead letters dropped by another process (swarmgate edge dead-letters drop): they will not be sent');
  }

  private refreshDeadLetters(): void {
    try {
      this.deadSummary = this.table.deadLetters.summary();
    } catch {
      return;
    }
    this.metrics.deadLetters.set(this.deadSummary.count);
    this.metrics.deadLetterBytes.set(this.deadSummary.bytes);
    this.metrics.deadLetterOldest.set((this.deadSummary.oldestSetAsideAt ?? 0) / 1000);
  }

  get awaitingCount(): number {
    return this.awaiting.size;
  }

  private forget(seq: number): void {
    const a = this.awaiting.get(seq);
    if (!a) return;
    this.awaiting.delete(seq);
    this.awaitingByKey.delete(a.key);
  }

  all(): OutboxRow[] {
    return this.table.all();
  }

  close(): void {
    if (this.closed) return;
    try {
      this.commit();
    } catch (err) {
      this.log.error({ err: errorMessage(err), readings: this.stats().buffered }, 'outbox: the last commit before closing failed; the readings still in memory are lost');
    }
    this.closed = true;
    clearInterval(this.maintenance);
    clearInterval(this.requestWatch);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.table.close();
  }

  private arm(ms: number): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.commitSafely();
    }, ms);
  }

  /**
   * After a transaction of the file rolled back: the row and byte counters are read again, and gap
   * records it may have merged into are not on disk, so nothing merges into them any more.
   */
  private rolledBack(): void {
    this.unsentGaps.clear();
    try {
      this.table.recount();
    } catch {
      // The counters stay as they were; the next commit that works recounts.
    }
  }

  /** Commits unless commits are failing and the retry time has not come; never throws. */
  private commitSafely(): void {
    if (this.closed) return;
    const wait = this.commitRetryAt - this.monotonic();
    if (wait > 0) {
      // Backing off a failing disk: the batch waits in memory (bounded) for the retry.
      if (this.open.count >= this.batchMax) this.sealOpen();
      this.boundUnwritten();
      this.arm(Math.ceil(wait));
      return;
    }
    try {
      this.commit();
    } catch {
      // commit() counted and logged it and armed the retry.
    }
  }

  /** Strict mode's per-reading commit; false (and the reading only in memory) when the disk refuses it. */
  private stageSafely(json: string): boolean {
    if (this.monotonic() < this.commitRetryAt) return false;
    try {
      this.table.stage(json);
      return true;
    } catch (err) {
      this.commitFailed(err);
      return false;
    }
  }

  private commitFailed(err: unknown): void {
    this.commitFailures++;
    this.metrics.commitFailures.inc();
    this.commitBackoffMs = Math.min(COMMIT_RETRY_MAX_MS, Math.max(COMMIT_RETRY_MIN_MS, this.commitBackoffMs * 2));
    const mono = this.monotonic();
    this.commitRetryAt = mono + this.commitBackoffMs;
    this.arm(this.commitBackoffMs);
    if (mono - this.failureLoggedAt < FAILURE_LOG_EVERY_MS) return;
    this.failureLoggedAt = mono;
    this.log.error(
      { err: errorMessage(err), path: this.path, failures: this.commitFailures, unwrittenReadings: this.stats().buffered, droppedFromMemory: this.unwrittenGap?.readingsDropped ?? 0, retryInMs: this.commitBackoffMs },
      'outbox commit failed (disk full, read-only or failing?); readings wait in memory up to a bound, older ones are dropped with an outbox-write-failed gap record',
    );
  }

  /**
   * While commits fail: drops the oldest sealed batches beyond maxUnwrittenBytes into the pending gap
   * record. Other messages (acks, events, reviews: small, and no gap record could tell of them) go
   * only when no telemetry is left to drop, each counted and logged.
   */
  private boundUnwritten(): void {
    let bytes = this.sealed.reduce((n, r) => n + r.payload.length, 0);
    let batches = 0;
    let readings = 0;
    const now = this.clock();
    while (bytes > this.maxUnwrittenBytes && this.sealed.length > 0) {
      const oldestBatch = this.sealed.findIndex((r) => r.kind === 'telemetry' && r.batchSeq !== null);
      const row = this.sealed.splice(Math.max(0, oldestBatch), 1)[0]!;
      bytes -= row.payload.length;
      if (oldestBatch < 0 || row.batchSeq === null) {
        this.metrics.dropped.inc({ kind: row.kind, reason: 'outbox-write-failed' });
        this.log.error({ path: this.path, kind: row.kind, topic: row.topic, bytes: row.payload.length }, 'outbox cannot be written and its memory bound is reached: dropping a message that waited in memory');
        continue;
      }
      batches++;
      readings += row.readings;
      const g = this.unwrittenGap;
      const fromTs = row.firstTs ?? now;
      const toTs = row.lastTs ?? now;
      if (!g) this.unwrittenGap = { v: 1, gateway: this.options.gateway, bootId: row.bootId, fromSeq: row.batchSeq, toSeq: row.batchSeq, readingsDropped: row.readings, fromTs, toTs, reason: 'outbox-write-failed', ts: now };
      else {
        g.fromSeq = Math.min(g.fromSeq, row.batchSeq);
        g.toSeq = Math.max(g.toSeq, row.batchSeq);
        g.readingsDropped += row.readings;
        g.fromTs = Math.min(g.fromTs, fromTs);
        g.toTs = Math.max(g.toTs, toTs);
      }
    }
    if (batches === 0) return;
    this.metrics.dropped.inc({ kind: 'telemetry', reason: 'outbox-write-failed' }, batches);
    this.metrics.droppedReadings.inc({ reason: 'outbox-write-failed' }, readings);
    if (this.unwrittenGap?.readingsDropped === readings) {
      // The first drop of this failure; later ones show in the periodic commit-failure error.
      this.log.error({ path: this.path, batches, readings, maxUnwrittenBytes: this.maxUnwrittenBytes }, 'outbox cannot be written and its memory bound is reached: dropping the oldest unwritten readings (an outbox-write-failed gap record follows once the disk takes writes)');
    }
  }

  private push(wire: WireReading, json: string | undefined, size: number): void {
    const b = this.open;
    if (this.binary) b.readings.push(wire);
    else b.parts.push(json!);
    b.count++;
    b.bytes += size;
    if (wire.ts < b.minTs) b.minTs = wire.ts;
    if (wire.ts > b.maxTs) b.maxTs = wire.ts;
  }

  private sealOpen(): void {
    if (this.open.count === 0) return;
    const b = this.open;
    const batchSeq = this.nextBatchSeq++;
    const head = { gateway: this.options.gateway, bootId: this.bootId, seq: batchSeq, sentAt: this.clock(), historical: false };
    const payload = this.binary ? encodeTelemetryBinary(head, b.readings) : encodeBatch(head, b.parts);
    this.sealed.push({ bootId: this.bootId, kind: 'telemetry', topic: this.telemetryTopic, payload, readings: b.count, batchSeq, firstTs: b.minTs, lastTs: b.maxTs });
    this.open = emptyBatch();
  }

  /** One transaction: clock-step fix-up, acks, the pending gap record, buffered batches and messages, then the size and age bounds. */
  private commit(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const now = this.wallNow();
    const mono = this.monotonic();
    const ageDue = mono - this.ageCheckedAt >= 1000;
    const shift = this.pendingShift;
    const memGap = this.unwrittenGap;
    if (this.open.count === 0 && this.sealed.length === 0 && this.pendingAcks.size === 0 && !ageDue && shift === 0 && !memGap) return;
    this.sealOpen();
    const rows = this.sealed.splice(0);
    const acks = [...this.pendingAcks];
    const readings = rows.reduce((n, r) => n + r.readings, 0);
    const after: (() => void)[] = [];
    try {
      this.table.transaction(() => {
        if (shift !== 0) this.table.shiftCreated(shift);
        for (const seq of acks) this.table.delete(seq);
        if (memGap) this.insertGap({ ...memGap, ts: now }, now);
        this.enforceSize(rows.reduce((n, r) => n + r.payload.length + ROW_OVERHEAD, 0), now, after);
        for (const row of rows) this.table.insert(row, now);
        if (this.strict && readings > 0) this.table.clearStaging();
        if (ageDue) this.enforceAge(now, after);
      });
    } catch (err) {
      // Rolled back (disk full, I/O error): keep the batches for the next attempt (within the memory
      // bound), fix the counters; merges made inside the transaction are void, so merge nothing more.
      this.sealed.unshift(...rows);
      this.rolledBack();
      this.boundUnwritten();
      this.commitFailed(err);
      throw err;
    }
    if (this.commitFailures > 0) {
      this.log.warn({ failures: this.commitFailures, droppedFromMemory: memGap?.readingsDropped ?? 0 }, 'outbox commits work again');
      this.commitFailures = 0;
    }
    this.commitBackoffMs = 0;
    this.commitRetryAt = Number.NEGATIVE_INFINITY;
    this.failureLoggedAt = Number.NEGATIVE_INFINITY;
    this.pendingShift -= shift;
    if (memGap === this.unwrittenGap) this.unwrittenGap = undefined;
    if (ageDue) this.ageCheckedAt = mono;
    for (const seq of acks) {
      this.pendingAcks.delete(seq);
      this.brokerAcked.delete(seq);
    }
    for (const f of after) f();
    this.table.shrinkTo(this.dbBudget);
    this.updateGauges();
    if (!this.strict && readings > 0) this.notifyCommit(readings);
    else if (this.unstaged > 0 && readings > 0) {
      const now = Math.min(this.unstaged, readings);
      this.unstaged = 0;
      this.notifyCommit(now);
    }
    if (rows.length > 0) for (const l of this.appendListeners) l();
  }

  /**
   * Drops the oldest rows (never in-flight ones, never gap records) until `incoming` fits:
   * telemetry first, which the gap records account for. Batches waiting for the hub's stored
   * receipt right now (the broker acknowledged them within storedTimeoutS: the receipt is most
   * likely on its way) are passed over while they hold at most half the bound, and go only when
   * nothing else is left; a batch the broker ever acknowledged is reported in a gap record of its
   * own (`outbox-size-unconfirmed`: the hub may have it). Events, review requests and acks (small,
   * and each one a thing a person or the hub acts on) go only once no telemetry is left to drop.
   */
  private enforceSize(incoming: number, now: number, after: (() => void)[]): void {
    const exemptMax = Math.floor(this.dbBudget / 2);
    for (let round = 0; round < 8; round++) {
      const over = this.table.usedBytes() + incoming - this.dbBudget;
      if (over <= 0) return;
      // Hysteresis: free 5 % more than needed so the drop does not repeat on every flush.
      const target = over + Math.floor(this.dbBudget * 0.05);
      const victims: RowSummary[] = [];
      const taken = new Set<number>();
      let freed = 0;
      let exempt = 0;
      const passes: { telemetryOnly: boolean; take: (c: RowSummary) => boolean }[] = [
        {
          telemetryOnly: true,
          take: (c) => {
            if (!this.awaiting.has(c.seq) || exempt + c.bytes > exemptMax) return true;
            exempt += c.bytes;
            return false;
          },
        },
        { telemetryOnly: true, take: () => true },
        { telemetryOnly: false, take: (c) => c.kind !== 'telemetry' },
      ];
      for (const pass of passes) {
        let cursor = 0;
        while (freed < target) {
          const page = this.table.oldest(cursor, pass.telemetryOnly);
          if (page.length === 0) break;
          for (const c of page) {
            cursor = c.seq;
            if (this.inflight.has(c.seq) || taken.has(c.seq) || !pass.take(c)) continue;
            victims.push(c);
            taken.add(c.seq);
            freed += c.bytes + ROW_OVERHEAD;
            if (freed >= target) break;
          }
        }
      }
      if (victims.length === 0) {
        this.log.error({ over }, 'outbox over its size bound with nothing left to drop');
        return;
      }
      this.drop(victims, 'outbox-size', now, after);
    }
  }

  /** Rows past maxAgeS go, except those with the broker now (in flight, or waiting for their receipt). */
  private enforceAge(now: number, after: (() => void)[]): void {
    const victims = this.table.createdBefore(now - this.maxAgeMs).filter((c) => !this.inflight.has(c.seq) && !this.awaiting.has(c.seq));
    if (victims.length > 0) this.drop(victims, 'outbox-age', now, after);
  }

  /**
   * Deletes the rows and leaves one GapRecord per boot the dropped telemetry came from, and a
   * separate `-unconfirmed` one for batches the broker had acknowledged. Everything but the table
   * (and the merge bookkeeping) waits in `after` for the transaction to commit (runs at once without it).
   */
  private drop(victims: readonly RowSummary[], reason: GapRecord['reason'], now: number, after?: (() => void)[]): void {
    // One gap record per run of consecutive batches of a boot and reason: batches passed over (in
    // flight, waiting for a receipt) or dropped for the other reason split a run, so no record's
    // range covers a batch that is still queued or counted in another record.
    const batches: { bootId: string; reason: GapRecord['reason']; seq: number; readings: number; fromTs: number; toTs: number }[] = [];
    for (const v of victims) {
      this.table.delete(v.seq);
      if (v.kind !== 'telemetry' || v.batch_seq === null) continue;
      batches.push({ bootId: v.boot_id, reason: this.brokerAcked.has(v.seq) ? unconfirmed(reason) : reason, seq: v.batch_seq, readings: v.readings, fromTs: v.first_ts ?? now, toTs: v.last_ts ?? now });
    }
    batches.sort((a, b) => a.bootId.localeCompare(b.bootId) || a.reason.localeCompare(b.reason) || a.seq - b.seq);
    const gaps: GapRecord[] = [];
    for (const b of batches) {
      const g = gaps[gaps.length - 1];
      if (g && g.bootId === b.bootId && g.reason === b.reason && g.toSeq + 1 === b.seq) {
        g.toSeq = b.seq;
        g.readingsDropped += b.readings;
        g.fromTs = Math.min(g.fromTs, b.fromTs);
        g.toTs = Math.max(g.toTs, b.toTs);
      } else {
        gaps.push({ v: 1, gateway: this.options.gateway, bootId: b.bootId, fromSeq: b.seq, toSeq: b.seq, readingsDropped: b.readings, fromTs: b.fromTs, toTs: b.toTs, reason: b.reason, ts: now });
      }
    }
    for (const gap of gaps) this.insertGap(gap, now);
    const account = (): void => {
      for (const v of victims) {
        const r = v.kind === 'telemetry' && this.brokerAcked.has(v.seq) ? unconfirmed(reason) : reason;
        this.forget(v.seq);
        this.brokerAcked.delete(v.seq);
        this.metrics.dropped.inc({ kind: v.kind, reason: r });
        if (v.kind === 'telemetry' && v.batch_seq !== null) this.metrics.droppedReadings.inc({ reason: r }, v.readings);
      }
      this.metrics.awaitingStored.set(this.awaiting.size);
      this.log.warn({ reason, messages: victims.length, gaps: gaps.map((g) => ({ bootId: g.bootId, fromSeq: g.fromSeq, toSeq: g.toSeq, readings: g.readingsDropped, reason: g.reason })) }, 'outbox dropped its oldest messages');
      // No gap record tells the hub of these: the log and swarmgate_federation_dropped_total do.
      const others = victims.filter((v) => v.kind !== 'telemetry');
      if (others.length > 0) {
        const byKind = Object.fromEntries([...new Set(others.map((v) => v.kind))].map((k) => [k, others.filter((v) => v.kind === k).length]));
        if (reason === 'refused') this.log.error({ reason, setAside: byKind }, 'outbox set aside messages other than telemetry (events, review requests or acks): they reach the hub only when re-queued (swarmgate edge dead-letters)');
        else this.log.error({ reason, dropped: byKind }, 'outbox dropped messages other than telemetry (events, review requests or acks): they will never reach the hub');
      }
    };
    if (after) after.push(account);
    else account();
  }

  /** Writes a gap record, merged with the previous one of its boot and reason when that one was never handed to the broker. */
  private insertGap(gap: GapRecord, now: number): void {
    const merged = this.mergeWithPrevious(gap);
    // Gap rows carry the boot they describe.
    const seq = this.table.insert({ bootId: merged.bootId, kind: 'gap', topic: this.gapTopic, payload: encode(GapRecordSchema, merged), readings: 0, batchSeq: null, firstTs: merged.fromTs, lastTs: merged.toTs }, now);
    this.unsentGaps.set(`${merged.bootId}|${merged.reason}`, { seq, gap: merged });
  }

  /**
   * A long outage drops a little on many flushes; while the previous gap record of the same boot
   * and reason was written in this run, was never handed to the broker (the hub cannot have it) and
   * ends right before this one, the two become one record instead of a trail. A record the broker
   * may have is never merged: the hub would store both and count its readings twice.
   */
  private mergeWithPrevious(gap: GapRecord): GapRecord {
    const key = `${gap.bootId}|${gap.reason}`;
    const prev = this.unsentGaps.get(key);
    if (!prev || this.inflight.has(prev.seq) || this.brokerAcked.has(prev.seq)) return gap;
    const old = prev.gap;
    if (old.toSeq + 1 !== gap.fromSeq) return gap;
    this.table.delete(prev.seq);
    this.unsentGaps.delete(key);
    return { ...gap, fromSeq: old.fromSeq, readingsDropped: old.readingsDropped + gap.readingsDropped, fromTs: Math.min(old.fromTs, gap.fromTs), toTs: Math.max(old.toTs, gap.toTs) };
  }

  /**
   * The wall clock, after checking it against the monotonic one: a step since the last look is
   * remembered and moves the rows' creation times with the next transaction, so their ages stay
   * what the monotonic clock measured.
   */
  private wallNow(): number {
    const wall = this.clock();
    const mono = this.monotonic();
    if (this.lastWall !== undefined) {
      const step = wall - this.lastWall - (mono - this.lastMono);
      if (Math.abs(step) >= CLOCK_STEP_MS) {
        this.pendingShift += step;
        this.log.warn({ stepMs: Math.round(step) }, 'the wall clock stepped; queued messages keep the age they had');
      }
    }
    this.lastWall = wall;
    this.lastMono = mono;
    return wall;
  }

  /**
   * Across a restart the wall clock is all there is. A clock behind the newest row (it stepped back
   * while the gateway was off, or an RTC-less board booted with an old time) would give rows a
   * negative age and keep them past maxAgeS once the clock is right: they are re-stamped so the
   * newest is now.
   */
  private checkClockAgainstRows(): void {
    const now = this.wallNow();
    const newest = this.table.newestCreatedAt();
    if (newest === undefined || now >= newest - CLOCK_STEP_MS) return;
    this.pendingShift += now - newest;
    this.log.warn({ behindMs: newest - now }, 'the wall clock is behind the newest outbox row; the queued rows count their age from now');
  }

  /** Strict mode leftovers of a crash: committed readings not yet in a batch become batches now. */
  private recoverStaging(): void {
    const staged = this.table.staged();
    if (staged.length === 0) return;
    for (const json of staged) {
      const wire = JSON.parse(json) as WireReading;
      const size = this.binary ? binaryReadingBound(wire) : Buffer.byteLength(json) + 1;
      if (this.open.count >= this.batchMax || this.open.bytes + size > MAX_BATCH_BYTES) this.sealOpen();
      this.push(wire, json, size);
    }
    this.sealOpen();
    const rows = this.sealed.splice(0);
    const now = this.wallNow();
    const shift = this.pendingShift;
    this.table.transaction(() => {
      if (shift !== 0) this.table.shiftCreated(shift);
      for (const row of rows) this.table.insert(row, now);
      this.table.clearStaging();
    });
    this.pendingShift -= shift;
    this.log.info({ readings: staged.length }, 'recovered readings staged before a crash');
  }

  private notifyCommit(readings: number): void {
    const info = { readings, lastSeq: this.lastSeq };
    for (const l of this.commitListeners) l(info);
  }

  private updateGauges(): void {
    this.metrics.outboxRows.set(this.table.rows);
    this.metrics.outboxBytes.set(this.table.bytes);
  }
}

/** The reason of a gap record for batches the broker had acknowledged (the hub may have them). */
function unconfirmed(reason: GapRecord['reason']): GapRecord['reason'] {
  if (reason === 'outbox-size') return 'outbox-size-unconfirmed';
  if (reason === 'outbox-age') return 'outbox-age-unconfirmed';
  return reason;
}

function emptyBatch(): OpenBatch {
  return { parts: [], readings: [], count: 0, bytes: 0, minTs: Number.POSITIVE_INFINITY, maxTs: 0 };
}
