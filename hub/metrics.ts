/**
 * The hub's Prometheus counters for refusals and ingest. One registry per hub instance (not
 * prom-client's global one) so several hubs can live in one test process.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { TelemetryStoreStats } from './store/types.js';

export class HubMetrics {
  readonly registry = new Registry();
  readonly authFailures = new Counter({ name: 'swarmgate_hub_auth_failures_total', help: 'MQTT connections refused for bad credentials', registers: [this.registry] });
  readonly clientIdRejected = new Counter({ name: 'swarmgate_hub_client_id_rejected_total', help: 'MQTT connections refused because the client id is not one this user may use', labelNames: ['role'] as const, registers: [this.registry] });
  readonly publishDenied = new Counter({ name: 'swarmgate_hub_publish_denied_total', help: 'Publishes refused by the broker ACL', labelNames: ['role'] as const, registers: [this.registry] });
  readonly subscribeDenied = new Counter({ name: 'swarmgate_hub_subscribe_denied_total', help: 'Subscriptions refused by the broker ACL', labelNames: ['role'] as const, registers: [this.registry] });
  readonly payloadRejected = new Counter({ name: 'swarmgate_hub_payload_rejected_total', help: 'Messages rejected for size, JSON or schema, by channel and reason', labelNames: ['channel', 'reason'] as const, registers: [this.registry] });
  readonly messages = new Counter({ name: 'swarmgate_hub_messages_total', help: 'Valid messages ingested, by channel', labelNames: ['channel'] as const, registers: [this.registry] });
  readonly duplicates = new Counter({ name: 'swarmgate_hub_duplicate_batches_total', help: 'Telemetry batches received again and not stored twice', registers: [this.registry] });
  readonly batchConflicts = new Counter({
    name: 'swarmgate_hub_batch_conflicts_total',
    help: 'Telemetry batches whose (gateway, bootId, seq) was stored before with other readings (a gateway bug or a reused boot id); the first is kept, these are not stored and are also counted as duplicates',
    registers: [this.registry],
  });
  readonly readingsStored = new Counter({ name: 'swarmgate_hub_readings_stored_total', help: 'Readings stored', registers: [this.registry] });
  readonly quarantined = new Counter({ name: 'swarmgate_hub_quarantined_total', help: 'Messages refused and kept for inspection in the quarantine (new entries: a repeat of one kept is counted on its entry), by channel and reason', labelNames: ['channel', 'reason'] as const, registers: [this.registry] });
  readonly receiptsSent = new Counter({ name: 'swarmgate_hub_stored_receipts_total', help: 'Stored receipts sent to gateways (each covers the batches stored since the previous one)', registers: [this.registry] });
  readonly ingestStalls = new Counter({ name: 'swarmgate_hub_ingest_stalls_total', help: 'Times the ingest subscriptions delivered nothing while gateways were online (resubscribed each time)', registers: [this.registry] });
  readonly resubscribes = new Counter({ name: 'swarmgate_hub_ingest_resubscribes_total', help: 'Ingest subscriptions made again, by cause (reconnect, stall)', labelNames: ['cause'] as const, registers: [this.registry] });
  readonly storeFailures = new Counter({ name: 'swarmgate_hub_store_failures_total', help: 'Store writes that failed; the message waits unacknowledged and is retried until the store takes it', labelNames: ['channel'] as const, registers: [this.registry] });

  /** Gauges of the SQLite store's telemetry buffer and journal, read at scrape time. */
  watchTelemetryStore(stats: () => TelemetryStoreStats): void {
    const gauge = (name: string, help: string, read: (s: TelemetryStoreStats) => number): void => {
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(read(stats()));
        },
      });
    };
    gauge('swarmgate_hub_store_buffered_readings', 'Readings journaled and not yet committed to the database', (s) => s.buffered);
    gauge('swarmgate_hub_store_journal_bytes', 'Bytes in the ingest journal segment being written', (s) => s.journalBytes);
    gauge('swarmgate_hub_store_last_flush_seconds', 'Duration of the last telemetry group commit', (s) => s.lastFlushMs / 1000);
    gauge('swarmgate_hub_store_flush_failures', 'Telemetry group commits failed in a row (0 = healthy)', (s) => s.flushFailures);
  }

  /** Current value of a counter (summed over labels), for tests and health output. */
  async count(counter: Counter<string>): Promise<number> {
    const data = await counter.get();
    return data.values.reduce((sum, v) => sum + v.value, 0);
  }
}
