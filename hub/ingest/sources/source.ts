/**
 * An ingest source: something other than the hub's own MQTT subscriptions that delivers gateway
 * messages (topic and payload as the gateway published them) to Ingest.handle, and acknowledges
 * each to its broker only once handle resolved true (stored, or refused for good).
 */
/** Ingest.handle: false means not handled (stopping while the store failed); the message must go back to the broker. */
export type MessageHandler = (topic: string, payload: Buffer) => Promise<boolean>;

export interface IngestSource {
  /** Resolves once messages flow to `handle`; rejects (SWG_ERR_HUB_BROKER) when the broker cannot be reached or set up. */
  start(handle: MessageHandler): Promise<void>;
  /** Stops taking messages, waits for those being handled, gives the rest back to the broker. */
  stop(): Promise<void>;
}
