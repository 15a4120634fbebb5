/**
 * One message of the outbox as its file stores it: the row of the send queue (outbox-table.ts)
 * and, once set aside, of the dead-letter table (dead-letters.ts), which keeps the same columns.
 */
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
  /** How often an operator re-queued this message from the dead-letter table (0: never). */
  readonly requeues: number;
}

export type NewRow = Omit<OutboxRow, 'seq' | 'createdAt' | 'requeues'> & { readonly requeues?: number };

/** The columns both tables keep of a message, but its payload, as SQLite returns them. */
export interface RawMessageColumns {
  seq: number;
  boot_id: string;
  kind: MessageKind;
  topic: string;
  readings: number;
  batch_seq: number | null;
  first_ts: number | null;
  last_ts: number | null;
  created_at: number;
  requeues: number;
}

export function messageFromRaw(r: RawMessageColumns): Omit<OutboxRow, 'payload'> {
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
    requeues: r.requeues,
  };
}
