/**
 * The highest seq this store holds per (gateway, bootId): a batch above it is new for sure, so the
 * duplicate check skips its database lookup (about a tenth of a batch's ingest CPU). A gateway's
 * batches come in seq order, so nearly every batch is above the mark; only resends (and the first
 * batch of a boot this process has not seen yet, which reads the mark once) look up their key.
 * Marks only rise, and raising one is always safe (it only costs a lookup); retention deleting old
 * keys leaves them true (nothing above a mark was ever stored). This process is the store's only
 * telemetry writer (it owns the ingest journal; without one, every write goes through here too).
 * Every batch buffered for storing raises its mark (note()), so a mark covers what is buffered as
 * well as what is stored. Past MAX_MARKS they are forgotten, but only right after a flush
 * (trim()), when the database holds everything and a mark read again from it is complete.
 */
import type { Database as Db, Statement } from 'better-sqlite3';

const MAX_MARKS = 100_000;

export class KeyWatermarks {
  private readonly marks = new Map<string, number>();
  private readonly maxSeq: Statement;

  constructor(db: Db) {
    this.maxSeq = db.prepare('SELECT MAX(seq) FROM batches WHERE gateway = ? AND boot_id = ?').pluck();
  }

  /** True when no batch of this gateway and boot with this seq or a later one is stored or buffered. */
  isNew(gateway: string, bootId: string, seq: number): boolean {
    return seq > this.mark(gateway, bootId);
  }

  /** A batch is buffered for storing: the mark rises to its seq. */
  note(gateway: string, bootId: string, seq: number): void {
    if (seq > this.mark(gateway, bootId)) this.marks.set(`${gateway}\u0000${bootId}`, seq);
  }

  /** After a flush (nothing buffered): forgets every mark when there are too many. */
  trim(): void {
    if (this.marks.size > MAX_MARKS) this.marks.clear();
  }

  private mark(gateway: string, bootId: string): number {
    const key = `${gateway}\u0000${bootId}`;
    let mark = this.marks.get(key);
    if (mark === undefined) {
      mark = (this.maxSeq.get(gateway, bootId) as number | null) ?? -1;
      this.marks.set(key, mark);
    }
    return mark;
  }
}
