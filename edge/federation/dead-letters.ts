/**
 * The outbox file's dead-letter table: messages the broker kept refusing, set aside by the gateway
 * (Outbox.setAside), and what a technician asks of them from a shell (`swarmgate edge dead-letters`):
 * list, re-queue, drop.
 *
 * Two processes share the table. The running gateway alone writes the send queue (its seqs, counters
 * and in-flight bookkeeping live in its memory); the command never touches the queue. A re-queue is
 * therefore a request: the command marks the entries (requeue_requested_at) and the gateway moves
 * them into its queue, at start or, while it runs, within a second of the command's commit (it
 * watches PRAGMA data_version, which moves only when another connection commits). A drop deletes
 * entries, which the gateway never caches. Both sides write in IMMEDIATE transactions (the write lock
 * from the start, so neither finds its snapshot stale at its first write) and wait on each other's
 * lock (busy timeout), which lasts milliseconds.
 *
 * Ids are AUTOINCREMENT: an id once shown to a technician never names another message later.
 */
import Database from 'better-sqlite3';
import { SwarmgateError, errorMessage } from '../../shared/kit/errors.js';
import { messageFromRaw, type OutboxRow, type RawMessageColumns } from './outbox-row.js';

/** A message set aside: its queue row's columns (seq: where it was in the send queue), and why and when. */
export interface DeadLetter extends Omit<OutboxRow, 'payload'> {
  /** The entry's id in the table (what the command takes). */
  readonly id: number;
  readonly setAsideAt: number;
  readonly reason: string;
  readonly bytes: number;
  /** When a re-queue was asked for that the gateway has not taken yet; null when none is. */
  readonly requeueRequestedAt: number | null;
}

export type DeadLetterWithPayload = DeadLetter & { readonly payload: Buffer };

export interface DeadLetterSummary {
  readonly count: number;
  readonly bytes: number;
  /** When the oldest entry was set aside; undefined when there is none. */
  readonly oldestSetAsideAt: number | undefined;
}

/** Which entries a command means: these ids, or every one. */
export type DeadLetterSelection = readonly number[] | 'all';

const COLUMNS = 'id, seq, boot_id, kind, topic, readings, batch_seq, first_ts, last_ts, created_at, set_aside_at, reason, bytes, requeues, requeue_requested_at';
const DATA_COLUMNS = 'seq, boot_id, kind, topic, readings, batch_seq, first_ts, last_ts, created_at, set_aside_at, reason, bytes, payload';
/** Small columns first: listing and looking for requests never reads the payloads' overflow pages. */
const TABLE = `(
  id INTEGER PRIMARY KEY AUTOINCREMENT, seq INTEGER NOT NULL, boot_id TEXT NOT NULL, kind TEXT NOT NULL, topic TEXT NOT NULL,
  readings INTEGER NOT NULL, batch_seq INTEGER, first_ts INTEGER, last_ts INTEGER, created_at INTEGER NOT NULL,
  set_aside_at INTEGER NOT NULL, reason TEXT NOT NULL, bytes INTEGER NOT NULL,
  requeues INTEGER NOT NULL DEFAULT 0, requeue_requested_at INTEGER, payload BLOB NOT NULL)`;

/**
 * Creates the table, or brings one an earlier release wrote (ids reused after the newest entry
 * left, no re-queue columns) to this shape, keeping its entries and their ids. An earlier release
 * started again on the file (a rollback) still works with it: it names the columns it writes.
 */
export function ensureDeadLetterTable(db: Database.Database): void {
  const current = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'dead_letter'").pluck();
  const upToDate = (sql: string): boolean => /AUTOINCREMENT/i.test(sql) && /requeue_requested_at/.test(sql);
  const sql = current.get() as string | undefined;
  if (sql !== undefined && upToDate(sql)) return;
  // Looked at again inside the write lock: the gateway and the command may both be opening the file.
  db.transaction(() => {
    const now = current.get() as string | undefined;
    if (now === undefined) db.exec(`CREATE TABLE dead_letter ${TABLE}`);
    else if (!upToDate(now)) {
      db.exec(`CREATE TABLE dead_letter_next ${TABLE}`);
      db.exec(`INSERT INTO dead_letter_next (id, ${DATA_COLUMNS}) SELECT id, ${DATA_COLUMNS} FROM dead_letter ORDER BY id`);
      db.exec('DROP TABLE dead_letter');
      db.exec('ALTER TABLE dead_letter_next RENAME TO dead_letter');
    }
  }).immediate();
}

/**
 * The dead-letter table of an outbox file, for a process other than the gateway's (the command):
 * the file must exist and be an outbox; nothing else of it is touched. The connection waits up to
 * 5 s for the gateway's write lock (held for milliseconds).
 */
export function openDeadLetters(path: string): { readonly table: DeadLetterTable; close(): void } {
  let db: Database.Database;
  try {
    db = new Database(path, { fileMustExist: true, timeout: 5000 });
  } catch (err) {
    throw new SwarmgateError('SWG_ERR_OUTBOX_FILE', `cannot open the outbox ${path}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    const isOutbox = db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'outbox'").pluck().get() === 1;
    if (!isOutbox) throw new SwarmgateError('SWG_ERR_OUTBOX_FILE', `${path} is not a gateway outbox (it has no outbox table)`);
    ensureDeadLetterTable(db);
    return { table: new DeadLetterTable(db), close: () => db.close() };
  } catch (err) {
    db.close();
    if (err instanceof SwarmgateError) throw err;
    throw new SwarmgateError('SWG_ERR_OUTBOX_FILE', `cannot read the outbox ${path}: ${errorMessage(err)}`, { cause: err });
  }
}

export class DeadLetterTable {
  private readonly stmt: ReturnType<typeof prepare>;

  /** The table must exist (ensureDeadLetterTable). */
  constructor(private readonly db: Database.Database) {
    this.stmt = prepare(db);
  }

  /**
   * Keeps a copy of a row taken out of the send queue (the caller deletes it there, in the same
   * transaction), then trims the oldest entries to `maxBytes` of payload (the entry just added, and
   * entries with a re-queue request pending, always stay). `requeues`: how often an operator had re-queued it already.
   */
  add(row: OutboxRow, reason: string, at: number, maxBytes: number, requeues = 0): number {
    const r = row;
    const id = Number(this.stmt.insert.run(r.seq, r.bootId, r.kind, r.topic, r.readings, r.batchSeq, r.firstTs, r.lastTs, r.createdAt, at, reason, r.payload.length, r.payload, requeues).lastInsertRowid);
    let total = this.stmt.bytes.get() as number;
    for (const old of this.stmt.oldest.all(id) as { id: number; bytes: number }[]) {
      if (total <= maxBytes) break;
      this.stmt.remove.run(old.id);
      total -= old.bytes;
    }
    return id;
  }

  /** Every entry, oldest first, without payloads. */
  list(): DeadLetter[] {
    return (this.stmt.list.all() as RawDeadLetter[]).map(fromRaw);
  }

  /** Every entry with its payload, oldest first. */
  all(): DeadLetterWithPayload[] {
    return (this.stmt.all.all() as (RawDeadLetter & { payload: Buffer })[]).map((r) => ({ ...fromRaw(r), payload: r.payload }));
  }

  /** Whether a re-queue was asked for that the gateway has not taken yet. */
  hasRequests(): boolean {
    return this.stmt.anyRequest.get() !== undefined;
  }

  /** The entries a re-queue was asked for, oldest first, with their payloads. */
  requested(): DeadLetterWithPayload[] {
    return (this.stmt.requested.all() as (RawDeadLetter & { payload: Buffer })[]).map((r) => ({ ...fromRaw(r), payload: r.payload }));
  }

  summary(): DeadLetterSummary {
    const s = this.stmt.summary.get() as { n: number; b: number; oldest: number | null };
    return { count: s.n, bytes: s.b, oldestSetAsideAt: s.oldest ?? undefined };
  }

  remove(id: number): void {
    this.stmt.remove.run(id);
  }

  /**
   * Asks the gateway to put the selected entries back in its send queue (one transaction: all or
   * none). Refuses ids that are not in the table, and (unless `force`) entries the broker refused
   * again after an earlier re-queue: sending them again would only hold the queue up once more.
   */
  requestRequeue(selection: DeadLetterSelection, at: number, options: { force?: boolean } = {}): DeadLetter[] {
    return this.inTransaction(() => {
      const chosen = this.select(selection);
      const again = chosen.filter((d) => d.requeues > 0);
      if (again.length > 0 && !options.force) {
        const which = again.map((d) => `${d.id} (re-queued ${d.requeues} time${d.requeues === 1 ? '' : 's'})`).join(', ');
        throw new SwarmgateError('SWG_ERR_DEAD_LETTER_REFUSED_AGAIN', `the broker refused dead letter${again.length === 1 ? '' : 's'} ${which} again after a re-queue; nothing was re-queued`);
      }
      for (const d of chosen) this.stmt.request.run(at, d.id);
      return chosen.map((d) => ({ ...d, requeueRequestedAt: at }));
    });
  }

  /** Deletes the selected entries for good (one transaction: all or none); what was deleted. */
  drop(selection: DeadLetterSelection): DeadLetter[] {
    return this.inTransaction(() => {
      const chosen = this.select(selection);
      for (const d of chosen) this.stmt.remove.run(d.id);
      return chosen;
    });
  }

  /** Of these ids, those still waiting for the gateway to take their re-queue. */
  stillRequested(ids: readonly number[]): number[] {
    const waiting = new Set(this.stmt.requestedIds.all() as number[]);
    return ids.filter((id) => waiting.has(id));
  }

  private select(selection: DeadLetterSelection): DeadLetter[] {
    const present = this.list();
    if (selection === 'all') return present;
    const byId = new Map(present.map((d) => [d.id, d]));
    const unknown = selection.filter((id) => !byId.has(id));
    if (unknown.length > 0) throw new SwarmgateError('SWG_ERR_DEAD_LETTER_UNKNOWN', `no dead letter ${unknown.join(', ')} in this outbox${present.length === 0 ? ' (it holds none)' : ''}`);
    return [...new Set(selection)].map((id) => byId.get(id)!);
  }

  private inTransaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }
}

interface RawDeadLetter extends RawMessageColumns {
  id: number;
  set_aside_at: number;
  reason: string;
  bytes: number;
  requeue_requested_at: number | null;
}

function fromRaw(r: RawDeadLetter): DeadLetter {
  return { id: r.id, ...messageFromRaw(r), setAsideAt: r.set_aside_at, reason: r.reason, bytes: r.bytes, requeueRequestedAt: r.requeue_requested_at };
}

function prepare(db: Database.Database) {
  return {
    insert: db.prepare(`INSERT INTO dead_letter (${DATA_COLUMNS}, requeues) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    bytes: db.prepare('SELECT coalesce(sum(bytes), 0) FROM dead_letter').pluck(),
    // An entry an operator asked to re-queue is not trimmed before the gateway takes it (within a second).
    oldest: db.prepare('SELECT id, bytes FROM dead_letter WHERE id != ? AND requeue_requested_at IS NULL ORDER BY id'),
    remove: db.prepare('DELETE FROM dead_letter WHERE id = ?'),
    list: db.prepare(`SELECT ${COLUMNS} FROM dead_letter ORDER BY id`),
    all: db.prepare(`SELECT ${COLUMNS}, payload FROM dead_letter ORDER BY id`),
    requested: db.prepare(`SELECT ${COLUMNS}, payload FROM dead_letter WHERE requeue_requested_at IS NOT NULL ORDER BY id`),
    anyRequest: db.prepare('SELECT 1 FROM dead_letter WHERE requeue_requested_at IS NOT NULL LIMIT 1').pluck(),
    requestedIds: db.prepare('SELECT id FROM dead_letter WHERE requeue_requested_at IS NOT NULL').pluck(),
    request: db.prepare('UPDATE dead_letter SET requeue_requested_at = ? WHERE id = ?'),
    summary: db.prepare('SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b, min(set_aside_at) AS oldest FROM dead_letter'),
  };
}
