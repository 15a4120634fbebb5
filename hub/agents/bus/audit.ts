/**
 * Every bus message is recorded for audit with who actually received it. The sink is an
 * interface so the lead can persist the trail; the ring buffer keeps the most recent entries.
 */
import type { BusMessage, BusMessageType } from './messages.js';

export interface AuditEntry {
  readonly seq: number;
  readonly message: BusMessage;
  readonly recipients: readonly string[];
  /** Recipients whose handler threw, with the error message. */
  readonly failures: ReadonlyArray<{ readonly agent: string; readonly error: string }>;
  readonly recordedAt: number;
}

export interface AuditSink {
  record(entry: AuditEntry): void;
}

export interface AuditQuery {
  readonly type?: BusMessageType;
  readonly from?: string;
  /** Only entries delivered to this agent. */
  readonly to?: string;
  readonly correlationId?: string;
  readonly sinceSeq?: number;
}

/** Keeps the last `capacity` entries; older ones are overwritten (counted in `dropped`). */
export class RingBufferAudit implements AuditSink {
  private readonly buffer: Array<AuditEntry | undefined>;
  private next = 0;
  private count = 0;
  dropped = 0;

  constructor(readonly capacity = 10_000) {
    this.buffer = new Array<AuditEntry | undefined>(Math.max(1, capacity));
  }

  record(entry: AuditEntry): void {
    if (this.count === this.buffer.length) this.dropped += 1;
    else this.count += 1;
    this.buffer[this.next] = entry;
    this.next = (this.next + 1) % this.buffer.length;
  }

  get size(): number {
    return this.count;
  }

  /** Entries oldest first, optionally filtered. */
  entries(query: AuditQuery = {}): AuditEntry[] {
    const out: AuditEntry[] = [];
    const start = (this.next - this.count + this.buffer.length) % this.buffer.length;
    for (let i = 0; i < this.count; i += 1) {
      const e = this.buffer[(start + i) % this.buffer.length];
      if (e && matches(e, query)) out.push(e);
    }
    return out;
  }
}

function matches(e: AuditEntry, q: AuditQuery): boolean {
  if (q.type !== undefined && e.message.type !== q.type) return false;
  if (q.from !== undefined && e.message.from !== q.from) return false;
  if (q.to !== undefined && !e.recipients.includes(q.to)) return false;
  if (q.correlationId !== undefined && e.message.correlationId !== q.correlationId) return false;
  if (q.sinceSeq !== undefined && e.seq <= q.sinceSeq) return false;
  return true;
}
