/**
 * Replays ingest-journal segments not yet materialised (a crash or kill before their flush), one
 * segment per transaction, so memory stays bounded by one segment however long the backlog.
 */
import { errorMessage } from '../../../../shared/kit/errors.js';
import type { Logger } from '../../../../shared/kit/log.js';
import type { TelemetryBatch } from '../../../../shared/wire/messages.js';
import { readJournaledTelemetry } from '../../../../shared/wire/codec.js';
import { batchContentHash } from '../../batch-conflicts.js';
import type { IngestJournal } from '../../ingest-journal.js';
import { batchKey } from './buffer.js';

/** What replay feeds: the series coordinator's dedupe, buffer and commit. */
export interface ReplayTarget {
  /** The content hash a key was buffered or stored with, undefined when new. */
  seenHash(key: string, batch: TelemetryBatch): string | undefined;
  buffer(batch: TelemetryBatch, receivedAt: number, key: string, hash: string): void;
  /** Commits the buffer with the journal mark at `segment`. */
  flushNow(segment: number): void;
}

export function replayJournal(journal: IngestJournal, flushed: number, target: ReplayTarget, log: Logger): void {
  let replayed = 0;
  let skipped = 0;
  for (const segment of journal.pending(flushed)) {
    const { records, torn } = journal.read(segment);
    if (torn) log.warn(torn, 'ingest journal: torn record at the end of a segment cut off (the process stopped mid-write; that batch was never acknowledged)');
    for (const rec of records) {
      // Written by this store from batches its caller had validated, and checksummed: parsed, not
      // validated again.
      let b: TelemetryBatch;
      try {
        // As received: JSON, or the binary frame.
        b = readJournaledTelemetry(rec.payload);
      } catch (err) {
        log.error({ segment: rec.segment, err: errorMessage(err) }, 'ingest journal: record is not a telemetry batch; skipped');
        continue;
      }
      const key = batchKey(b.gateway, b.bootId, b.seq);
      // Already materialised (a crash between the commit and deleting the segment): the same batch.
      if (target.seenHash(key, b) !== undefined) {
        skipped++;
        continue;
      }
      target.buffer(b, rec.receivedAt, key, batchContentHash(b));
      replayed++;
    }
    // Materialised with the mark at this segment; a failure keeps it (and the later ones) for the next start.
    target.flushNow(segment);
  }
  if (replayed + skipped > 0) log.info({ batches: replayed, duplicates: skipped }, 'ingest journal replayed');
  // Replayed, duplicate-only and empty segments alike are done with.
  journal.discardThrough(journal.segment - 1);
}
