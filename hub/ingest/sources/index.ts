/**
 * THE list of ingest sources beside the hub's MQTT subscriptions, by broker mode. Embedded and
 * external (MQTT shared subscriptions) need none: Ingest subscribes itself. A new source is a
 * file in this folder behind IngestSource and one case here (and its variant in hub/config.ts).
 */
import type { Logger } from '../../../shared/kit/log.js';
import type { HubConfig } from '../../config.js';
import { SHARED_CHANNELS } from '../ingest.js';
import { JetStreamSource } from './jetstream.js';
import type { IngestSource } from './source.js';

export type { IngestSource, MessageHandler } from './source.js';

/** The source that delivers the shared channels in this broker mode, or undefined when Ingest's MQTT subscriptions do. */
export function openIngestSource(broker: HubConfig['broker'], clientId: string, log: Logger): IngestSource | undefined {
  if (broker.mode !== 'nats' || !broker.nats) return undefined;
  const n = broker.nats;
  return new JetStreamSource({
    servers: n.servers,
    user: n.username,
    pass: n.password,
    stream: n.stream,
    consumer: n.consumer,
    replicas: n.replicas,
    channels: SHARED_CHANNELS,
    ackWaitMs: n.ackWaitS * 1000,
    concurrency: n.concurrency,
    maxAckPending: n.maxAckPending,
    name: clientId,
    log,
  });
}
