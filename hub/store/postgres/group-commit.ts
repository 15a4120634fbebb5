/**
 * Group commit: ingestBatch calls that arrive while a write is running are written together by
 * the next one (one transaction, multi-row statements), and each call resolves once its batch is
 * committed, so the batch is durable in PostgreSQL before the hub acknowledges it. Up to LANES
 * writes run at once (their transactions overlap in the server, on as many connections). A write that fails is retried batch by batch, so one batch the database
 * refuses (a poison message) fails alone and the others are stored.
 */
import type { PendingBatch, WriteOutcome } from './writer.js';

/** Readings per write at most. */
const MAX_GROUP_READINGS = 100_000;
/** Writes in flight at once: one connection of the default five is left for reads and the journal's flush. */
const LANES = 4;

interface Waiting {
  readonly entry: PendingBatch;
  readonly resolve: (outcome: WriteOutcome) => void;
  readonly reject: (err: unknown) => void;
}

export class GroupCommit {
  private queue: Waiting[] = [];
  private readonly lanes = new Set<Promise<void>>();

  constructor(private readonly write: (entries: readonly PendingBatch[]) => Promise<WriteOutcome[]>) {}

  submit(entry: PendingBatch): Promise<WriteOutcome> {
    return new Promise<WriteOutcome>((resolve, reject) => {
      this.queue.push({ entry, resolve, reject });
      if (this.lanes.size < LANES) {
        const lane: Promise<void> = this.drain().finally(() => this.lanes.delete(lane));
        this.lanes.add(lane);
      }
    });
  }

  /** Resolves once everything submitted so far is written (or failed). */
  async idle(): Promise<void> {
    while (this.lanes.size > 0) await Promise.all([...this.lanes]);
  }

  private take(): Waiting[] {
    let readings = 0;
    let n = 0;
    while (n < this.queue.length && (n === 0 || readings + this.queue[n]!.entry.batch.readings.length <= MAX_GROUP_READINGS)) readings += this.queue[n++]!.entry.batch.readings.length;
    return this.queue.splice(0, n);
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const group = this.take();
      try {
        const outcomes = await this.write(group.map((w) => w.entry));
        group.forEach((w, i) => w.resolve(outcomes[i]!));
      } catch (err) {
        if (group.length === 1) {
          group[0]!.reject(err);
          continue;
        }
        for (const w of group) {
          try {
            w.resolve((await this.write([w.entry]))[0]!);
          } catch (one) {
            w.reject(one);
          }
        }
      }
    }
  }
}
