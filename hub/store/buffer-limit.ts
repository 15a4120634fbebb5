/**
 * How much telemetry a store takes while its writes to the database fail. Both journaled stores
 * (sqlite/series/series.ts, postgres/journaled.ts) acknowledge a batch once it is journaled and
 * buffered in memory, and write the buffer in group commits; while those commits fail the buffer
 * only grows. Past MAX_BUFFERED_READINGS a store refuses further batches with
 * SWG_ERR_HUB_STORE_BUSY: a transient refusal (store-errors.ts calls it an outage), so ingest
 * leaves the batch unacknowledged and unreceipted and broker and gateway keep it for later,
 * instead of the hub's heap growing until it dies.
 *
 * The check is made before a batch is taken: a store below the limit takes the batch whole, so
 * the buffer may end up one batch over it (the same in both stores).
 */
import { SwarmgateError } from '../../shared/kit/errors.js';
import type { Logger } from '../../shared/kit/log.js';

/** Readings buffered and not yet written past which a store refuses telemetry (ten early-flush thresholds). */
export const MAX_BUFFERED_READINGS = 2_000_000;
/** The metric that shows the buffer (hub/metrics.ts). */
const BUFFER_METRIC = 'swarmgate_hub_store_buffered_readings';
/** While refusing, the warning is repeated at most this often (each refusal is counted in it). */
const WARN_EVERY_MS = 60_000;

export class BufferLimit {
  private refused = 0;
  private lastWarn = 0;

  constructor(
    readonly limit: number,
    /** The store, for messages: 'SQLite', 'PostgreSQL'. */
    private readonly store: string,
    private readonly log: Logger,
  ) {
    if (!(Number.isSafeInteger(limit) && limit > 0)) throw new SwarmgateError('SWG_ERR_INTERNAL', `${store} store: maxBufferedReadings must be a positive integer, not ${limit}`);
  }

  /**
   * Throws SWG_ERR_HUB_STORE_BUSY when `buffered` readings wait already (the batch is not taken);
   * logs a warning naming the limit and the metric when refusing starts (then at most once a
   * minute) and a note when the store takes batches again.
   */
  check(buffered: number, flushFailures: number): void {
    if (buffered < this.limit) {
      if (this.refused > 0) {
        this.log.info({ refused: this.refused, buffered, limit: this.limit }, `${this.store} store: telemetry buffer below its limit again; taking batches`);
        this.refused = 0;
        this.lastWarn = 0;
      }
      return;
    }
    this.refused++;
    const now = Date.now();
    if (now - this.lastWarn >= WARN_EVERY_MS) {
      this.lastWarn = now;
      this.log.warn(
        { buffered, limit: this.limit, metric: BUFFER_METRIC, flushFailures, refused: this.refused },
        `${this.store} store: telemetry buffer full (${buffered} readings not written, limit ${this.limit}, see ${BUFFER_METRIC}); writes to the database are failing, so batches are refused for now and stay with the broker and the gateways`,
      );
    }
    throw new SwarmgateError(
      'SWG_ERR_HUB_STORE_BUSY',
      `${this.store} store: telemetry buffer full (${buffered} readings not yet written, limit ${this.limit}; ${flushFailures} writes to the database failed in a row): batch not taken, the broker and the gateway keep it`,
      { details: { buffered, limit: this.limit, flushFailures } },
    );
  }
}
