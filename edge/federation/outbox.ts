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
 * publisher reports the broker's PUBACK, or when the size/age bound drops the oldest ones: then a
 * GapRecord per boot tells the hub exactly which batches and how many readings it will never get.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import type { Logger } from 'pino';
import { SwarmgateError, errorMessage } from '../../shared/kit/errors.js';
import { createLogger } from '../../shared/kit/log.js';
import { GapRecordSchema, binaryReadingBound, encode, encodeTelemetryBinary, gatewayTopic, isValidId, type GapRecord, type TelemetryEncoding, type WireReading } from '../../shared/wire/index.js';
import type { Reading } from '../drivers/driver.js';
import { FederationMetrics } from './metrics.js';
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
  readonly clock?: () => number;
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

export class Outbox {
  readonly bootId: string;
  readonly path: string;
  private readonly table: OutboxTable;
  private readonly log: Logger;
  private readonly metrics: FederationMetrics;
  private readonly clock: () => number;
  private readonly maxAgeMs: number;
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
  /** Telemetry rows the broker acknowledged, waiting for the hub's stored receipt: row seq -> batch key and since when. */
  private readonly awaiting = new Map<number, { key: string; since: number; kind: MessageKind }>();
  /** `${bootId}:${batchSeq}` -> row seq of the rows in `awaiting`. */
  private readonly awaitingByKey = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private readonly maintenance: NodeJS.Timeout;
  private ageCheckedAt = 0;
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
    this.gapTopic = gatewayTopic(options.site, options.gateway, 'gaps');
    this.telemetryTopic = gatewayTopic(options.site, options.gateway, 'telemetry');
    this.table = new OutboxTable(options.path, walBudget);
    this.recoverStaging();
    this.updateGauges();
    const every = Math.min(60_000, Math.max(1000, Math.floor(this.maxAgeMs / 10)));
    this.maintenance = setInterval(() => this.commitSafely(), every).unref();
  }

  get strict(): boolean {
    return this.flushMs === 0;
  }

  /** Highest row seq committed so far (0 when none ever was). */
  get lastSeq(): number {
    return this.table.lastSeq;
  }

  stats(): { messages: number; bytes: number; fileBytes: number; buffered: number } {
    return { messages: this.table.rows, bytes: this.table.bytes, fileBytes: this.fileBytes(), buffered: this.open.count };
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
    const size = json === undefined ? binaryReadingBound(wire) : json.length + 1;
    if (this.open.count > 0 && this.open.bytes + size > MAX_BATCH_BYTES) this.sealOpen();
    if (json !== undefined && this.strict) this.table.stage(json);
    this.push(wire, json, size);
    if (this.strict) this.notifyCommit(1);
    if (this.open.count >= this.batchMax) this.commit();
    else this.arm(this.strict ? this.batchMs : this.flushMs);
  }

  /** Queues any other wire message; committed at once (with the readings buffered before it). */
  enqueue(topic: string, kind: Exclude<MessageKind, 'telemetry'>, payload: Buffer): void {
    if (this.closed) throw new SwarmgateError('SWG_ERR_INTERNAL', 'the outbox is closed');
    this.commit({ bootId: this.bootId, kind, topic, payload, readings: 0, batchSeq: null, firstTs: null, lastTs: null });
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
    const raw = this.table.range(after, before, limit);
    return { rows: raw.filter((r) => !this.inflight.has(r.seq) && !this.pendingAcks.has(r.seq) && !this.awaiting.has(r.seq)), last: raw[raw.length - 1]?.seq ?? after };
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

  /**
   * The broker has the message (PUBACK); the row stays until the hub's stored receipt names it:
   * a telemetry batch by its (bootId, seq), any other message by the digest of its payload.
   */
  awaitStored(seq: number, kind: MessageKind, name: { bootId: string; batchSeq: number } | { digest: string }): void {
    this.inflight.delete(seq);
    const key = 'digest' in name ? `m:${name.digest}` : `${name.bootId}:${name.batchSeq}`;
    this.awaiting.set(seq, { key, since: this.clock(), kind });
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

  /** Rows waiting for a receipt since before `before` become eligible to send again (at most `limit`, the longest waiting first); their seqs. */
  expireAwaiting(before: number, limit = Number.POSITIVE_INFINITY): number[] {
    const expired: number[] = [];
    for (const [seq, a] of this.awaiting) {
      if (expired.length >= limit) break;
      if (a.since < before) expired.push(seq);
    }
    for (const seq of expired) this.forget(seq);
    this.metrics.awaitingStored.set(this.awaiting.size);
    return expired;
  }

  /** Every row waiting for a receipt becomes eligible again (a new connection: the broker may have lost them). */
  releaseAwaiting(): number {
    const n = this.awaiting.size;
    this.awaiting.clear();
    this.awaitingByKey.clear();
    this.metrics.awaitingStored.set(0);
    return n;
  }

  /**
   * Takes a row the broker keeps refusing (it closes the connection on the row's publish: an ACL
   * refusal, a message size limit) out of the send queue, so the rows behind it flow again. A copy
   * stays in the outbox file's dead-letter table (oldest entries trimmed to 1/16 of maxBytes), and
   * the row is accounted like a drop with reason 'refused': a gap record for telemetry,
   * swarmgate_federation_dropped_total. Returns the row, or undefined when it is no longer queued.
   */
  setAside(seq: number, reason: 'refused' = 'refused'): OutboxRow | undefined {
    if (this.closed) return undefined;
    const row = this.table.get(seq);
    const summary = this.table.summary(seq);
    if (!row || !summary) return undefined;
    const now = this.clock();
    try {
      this.table.transaction(() => {
        this.table.deadLetter(row, reason, now, Math.max(64 * 1024, Math.floor(this.dbBudget / 16)));
        this.drop([summary], reason, now);
      });
    } catch (err) {
      this.table.recount();
      throw err;
    }
    this.inflight.delete(seq);
    this.pendingAcks.delete(seq);
    this.metrics.awaitingStored.set(this.awaiting.size);
    this.updateGauges();
    for (const l of this.appendListeners) l();
    return row;
  }

  /** Rows set aside by setAside(), oldest first, with when and why. */
  deadLetters(): (OutboxRow & { setAsideAt: number; reason: string })[] {
    return this.table.deadLetters();
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
    this.commit();
    this.closed = true;
    clearInterval(this.maintenance);
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

  private commitSafely(): void {
    try {
      if (!this.closed) this.commit();
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'outbox commit failed; readings stay buffered');
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

  /** One transaction: acks, buffered batches, the extra message, then the size and age bounds. */
  private commit(extra?: NewRow): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const now = this.clock();
    const ageDue = now - this.ageCheckedAt >= 1000;
    if (this.open.count === 0 && this.sealed.length === 0 && !extra && this.pendingAcks.size === 0 && !ageDue) return;
    this.sealOpen();
    const rows = this.sealed.splice(0);
    if (extra) rows.push(extra);
    const acks = [...this.pendingAcks];
    const readings = rows.reduce((n, r) => n + r.readings, 0);
    try {
      this.table.transaction(() => {
        for (const seq of acks) this.table.delete(seq);
        this.enforceSize(rows.reduce((n, r) => n + r.payload.length + ROW_OVERHEAD, 0), now);
        for (const row of rows) this.table.insert(row, now);
        if (this.strict && readings > 0) this.table.clearStaging();
        if (ageDue) {
          this.ageCheckedAt = now;
          this.enforceAge(now);
        }
      });
    } catch (err) {
      // Rolled back (disk full, I/O error): keep the batches for the next attempt, fix the counters.
      this.sealed.unshift(...rows.filter((r) => r !== extra));
      this.table.recount();
      throw err;
    }
    for (const seq of acks) this.pendingAcks.delete(seq);
    this.table.shrinkTo(this.dbBudget);
    this.updateGauges();
    if (!this.strict && readings > 0) this.notifyCommit(readings);
    if (rows.length > 0) for (const l of this.appendListeners) l();
  }

  /**
   * Drops the oldest rows (never in-flight ones, never gap records) until `incoming` fits:
   * telemetry first, which the gap records account for; events, review requests and acks (small,
   * and each one a thing a person or the hub acts on) only once no telemetry is left to drop.
   */
  private enforceSize(incoming: number, now: number): void {
    for (let round = 0; round < 8; round++) {
      const over = this.table.usedBytes() + incoming - this.dbBudget;
      if (over <= 0) return;
      // Hysteresis: free 5 % more than needed so the drop does not repeat on every flush.
      const target = over + Math.floor(this.dbBudget * 0.05);
      const victims: RowSummary[] = [];
      let freed = 0;
      for (const telemetryOnly of [true, false]) {
        let cursor = 0;
        while (freed < target) {
          const page = this.table.oldest(cursor, telemetryOnly);
          if (page.length === 0) break;
          for (const c of page) {
            cursor = c.seq;
            if (this.inflight.has(c.seq) || (!telemetryOnly && c.kind === 'telemetry')) continue;
            victims.push(c);
            freed += c.bytes + ROW_OVERHEAD;
            if (freed >= target) break;
          }
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
    const victims = this.table.createdBefore(now - this.maxAgeMs).filter((c) => !this.inflight.has(c.seq));
    if (victims.length > 0) this.drop(victims, 'outbox-age', now);
  }

  /** Deletes the rows and leaves one GapRecord per boot the dropped telemetry came from. */
  private drop(victims: readonly RowSummary[], reason: GapRecord['reason'], now: number): void {
    const gaps = new Map<string, GapRecord>();
    for (const v of victims) {
      this.table.delete(v.seq);
      this.forget(v.seq);
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
    for (const gap of gaps.values()) {
      const merged = this.mergeWithPrevious(gap);
      // Gap rows carry the boot they describe, so the next merge can find them.
      this.table.insert({ bootId: merged.bootId, kind: 'gap', topic: this.gapTopic, payload: encode(GapRecordSchema, merged), readings: 0, batchSeq: null, firstTs: merged.fromTs, lastTs: merged.toTs }, now);
    }
    this.log.warn({ reason, messages: victims.length, gaps: [...gaps.values()].map((g) => ({ bootId: g.bootId, fromSeq: g.fromSeq, toSeq: g.toSeq, readings: g.readingsDropped })) }, 'outbox dropped its oldest messages');
    // No gap record tells the hub of these: the log and swarmgate_federation_dropped_total do.
    const others = victims.filter((v) => v.kind !== 'telemetry');
    if (others.length > 0) {
      const byKind = Object.fromEntries([...new Set(others.map((v) => v.kind))].map((k) => [k, others.filter((v) => v.kind === k).length]));
      this.log.error({ reason, dropped: byKind }, 'outbox dropped messages other than telemetry (events, review requests or acks): they will never reach the hub');
    }
  }

  /**
   * A long outage drops a little on many flushes; while the previous gap record of the same boot
   * is unsent and ends right before this one, the two become one record instead of a trail.
   */
  private mergeWithPrevious(gap: GapRecord): GapRecord {
    const prev = this.table.lastGap(gap.bootId);
    if (!prev || this.inflight.has(prev.seq)) return gap;
    const old = JSON.parse(prev.payload.toString('utf8')) as GapRecord;
    if (old.toSeq + 1 !== gap.fromSeq) return gap;
    this.table.delete(prev.seq);
    return { ...gap, fromSeq: old.fromSeq, readingsDropped: old.readingsDropped + gap.readingsDropped, fromTs: Math.min(old.fromTs, gap.fromTs), toTs: Math.max(old.toTs, gap.toTs) };
  }

  /** Strict mode leftovers of a crash: committed readings not yet in a batch become batches now. */
  private recoverStaging(): void {
    const staged = this.table.staged();
    if (staged.length === 0) return;
    for (const json of staged) {
      const wire = JSON.parse(json) as WireReading;
      const size = this.binary ? binaryReadingBound(wire) : json.length + 1;
      if (this.open.count >= this.batchMax || this.open.bytes + size > MAX_BATCH_BYTES) this.sealOpen();
      this.push(wire, json, size);
    }
    this.sealOpen();
    const rows = this.sealed.splice(0);
    const now = this.clock();
    this.table.transaction(() => {
      for (const row of rows) this.table.insert(row, now);
      this.table.clearStaging();
    });
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

function emptyBatch(): OpenBatch {
  return { parts: [], readings: [], count: 0, bytes: 0, minTs: Number.POSITIVE_INFINITY, maxTs: 0 };
}
