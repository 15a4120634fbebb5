/**
 * Prometheus metrics of the federation link. Registered on the gateway's registry when one is
 * given; a second federation on the same registry (tests, restarts in one process) reuses the
 * metrics instead of failing on duplicate names.
 */
import { Counter, Gauge, Registry, type Metric } from 'prom-client';

function reuse<T extends Metric>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export class FederationMetrics {
  readonly published: Counter<'kind'>;
  readonly acked: Counter<'kind'>;
  readonly dropped: Counter<'kind' | 'reason'>;
  readonly droppedReadings: Counter<'reason'>;
  readonly rejected: Counter<'source' | 'reason'>;
  readonly commands: Counter<'status'>;
  readonly outboxRows: Gauge;
  readonly outboxBytes: Gauge;
  readonly inflight: Gauge;
  readonly awaitingStored: Gauge;
  readonly resent: Counter<'cause'>;
  readonly commitFailures: Counter;
  readonly connected: Gauge<'link'>;
  readonly sparkplugRefused: Counter<'operation' | 'reason'>;
  readonly sparkplugBorn: Gauge;
  readonly deadLetters: Gauge;
  readonly deadLetterBytes: Gauge;
  readonly deadLetterOldest: Gauge;
  readonly requeued: Counter<'kind'>;

  constructor(readonly registry: Registry = new Registry()) {
    const registers = [registry];
    this.published = reuse(registry, 'swarmgate_federation_published_total', () => new Counter({ name: 'swarmgate_federation_published_total', help: 'Outbox messages handed to the broker, by kind (replays included)', labelNames: ['kind'] as const, registers }));
    this.acked = reuse(registry, 'swarmgate_federation_acked_total', () => new Counter({ name: 'swarmgate_federation_acked_total', help: 'Outbox messages delivered and deleted, by kind (on the hub stored receipt, or the PUBACK with deleteOn puback)', labelNames: ['kind'] as const, registers }));
    this.dropped = reuse(registry, 'swarmgate_federation_dropped_total', () => new Counter({ name: 'swarmgate_federation_dropped_total', help: 'Outbox messages dropped unsent: the outbox was over its size or age bound (reason outbox-size, outbox-age), or the broker kept closing the connection on the message and it was set aside in the dead-letter table (refused), or the disk refused writes and the memory bound was reached (outbox-write-failed)', labelNames: ['kind', 'reason'] as const, registers }));
    this.droppedReadings = reuse(registry, 'swarmgate_federation_dropped_readings_total', () => new Counter({ name: 'swarmgate_federation_dropped_readings_total', help: 'Readings inside dropped telemetry messages', labelNames: ['reason'] as const, registers }));
    this.rejected = reuse(registry, 'swarmgate_federation_rejected_total', () => new Counter({ name: 'swarmgate_federation_rejected_total', help: 'Incoming messages or requests refused, by source and reason', labelNames: ['source', 'reason'] as const, registers }));
    this.commands = reuse(registry, 'swarmgate_federation_commands_total', () => new Counter({ name: 'swarmgate_federation_commands_total', help: 'Hub commands by final status', labelNames: ['status'] as const, registers }));
    this.outboxRows = reuse(registry, 'swarmgate_federation_outbox_messages', () => new Gauge({ name: 'swarmgate_federation_outbox_messages', help: 'Messages waiting in the outbox', registers }));
    this.outboxBytes = reuse(registry, 'swarmgate_federation_outbox_bytes', () => new Gauge({ name: 'swarmgate_federation_outbox_bytes', help: 'Payload bytes waiting in the outbox', registers }));
    this.inflight = reuse(registry, 'swarmgate_federation_inflight', () => new Gauge({ name: 'swarmgate_federation_inflight', help: 'Messages published and awaiting PUBACK', registers }));
    this.awaitingStored = reuse(registry, 'swarmgate_federation_awaiting_stored', () => new Gauge({ name: 'swarmgate_federation_awaiting_stored', help: 'Outbox messages the broker acknowledged and the hub has not yet receipted as stored', registers }));
    this.resent = reuse(registry, 'swarmgate_federation_resent_total', () => new Counter({ name: 'swarmgate_federation_resent_total', help: 'Outbox messages sent again because no stored receipt came: in time (timeout), at all (probe), or after a reconnect while the hub receipted newer ones (reconnect)', labelNames: ['cause'] as const, registers }));
    this.commitFailures = reuse(registry, 'swarmgate_federation_outbox_commit_failures_total', () => new Counter({ name: 'swarmgate_federation_outbox_commit_failures_total', help: 'Outbox transactions that failed (disk full, read-only or failing storage); readings wait in memory up to a bound, then are dropped with an outbox-write-failed gap record', registers }));
    this.sparkplugRefused = reuse(registry, 'swarmgate_federation_sparkplug_refused_total', () => new Counter({ name: 'swarmgate_federation_sparkplug_refused_total', help: 'Sparkplug subscriptions and publishes the broker refused (operation subscribe|publish; reason suback: SUBACK failure code, closed: the broker closed the connection on the births, no-echo: the births never came back)', labelNames: ['operation', 'reason'] as const, registers }));
    this.sparkplugBorn = reuse(registry, 'swarmgate_federation_sparkplug_born', () => new Gauge({ name: 'swarmgate_federation_sparkplug_born', help: '1 while the Sparkplug births of the current session are confirmed by the broker', registers }));
    this.deadLetters = reuse(registry, 'swarmgate_federation_dead_letters', () => new Gauge({ name: 'swarmgate_federation_dead_letters', help: 'Messages set aside in the outbox dead-letter table (the broker kept refusing them), waiting for a technician to re-queue or drop them: swarmgate edge dead-letters', registers }));
    this.deadLetterBytes = reuse(registry, 'swarmgate_federation_dead_letter_bytes', () => new Gauge({ name: 'swarmgate_federation_dead_letter_bytes', help: 'Payload bytes in the outbox dead-letter table', registers }));
    this.deadLetterOldest = reuse(registry, 'swarmgate_federation_dead_letter_oldest_timestamp_seconds', () => new Gauge({ name: 'swarmgate_federation_dead_letter_oldest_timestamp_seconds', help: 'When the oldest message in the outbox dead-letter table was set aside, Unix seconds; 0 when it holds none', registers }));
    this.requeued = reuse(registry, 'swarmgate_federation_requeued_total', () => new Counter({ name: 'swarmgate_federation_requeued_total', help: 'Dead letters a technician re-queued (swarmgate edge dead-letters requeue), by kind', labelNames: ['kind'] as const, registers }));
    this.connected = reuse(registry, 'swarmgate_federation_connected', () => new Gauge({ name: 'swarmgate_federation_connected', help: '1 while the MQTT link is up', labelNames: ['link'] as const, registers }));
  }
}
