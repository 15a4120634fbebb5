/**
 * The hub's callback registry: what ingest receives (events, review requests, acks, gaps, state,
 * rejections) and command status changes, for later features (agents, review queue, web API)
 * to consume. Listeners may be async: ingest awaits them before acknowledging the MQTT message,
 * so a listener that persists (e.g. the review queue) gets at-least-once delivery. A throwing
 * listener is logged and never stops ingest or other listeners.
 */
import type { Logger } from '../shared/kit/log.js';
import type { CommandAck, GapRecord, GatewayEvent, GatewayState, ReviewRequest, TelemetryBatch } from '../shared/wire/messages.js';
import type { CommandRecord, GatewayRecord } from './store/types.js';

export interface HubEventMap {
  /** A telemetry batch arrived; stored=false for a duplicate (already stored before). */
  telemetry: { site: string; gateway: string; batch: TelemetryBatch; stored: boolean };
  /** A gap record arrived (emitted once per distinct gap). */
  gap: { site: string; gateway: string; gap: GapRecord };
  /** A gateway event arrived (emitted once per event id, after it is stored). */
  event: { site: string; gateway: string; event: GatewayEvent };
  /** A review request arrived. Not stored by ingest: the consumer persists it; may repeat, dedupe by id. */
  review: { site: string; gateway: string; review: ReviewRequest };
  /** A command ack arrived (after the command record was updated). */
  ack: { site: string; gateway: string; ack: CommandAck };
  /** A state (birth/will) message was applied to the registry. */
  state: { site: string; gateway: string; state: GatewayState; record: GatewayRecord };
  /** A gateway went online/offline (status changed). */
  gateway: { record: GatewayRecord; previous: GatewayRecord['status'] | undefined };
  /** A command was created or changed status. */
  command: { record: CommandRecord };
  /** A software deployment was created or moved on (a gateway reported, a wave was told, it halted or finished). */
  deployment: { id: string; version: string; state: string; gateway?: string; gatewayState?: string };
  /** A message was refused (size, JSON, schema, topic/payload mismatch). */
  rejected: { topic: string; channel: string; reason: string; error: string };
}

export type HubEventName = keyof HubEventMap;
export type HubListener<K extends HubEventName> = (payload: HubEventMap[K]) => void | Promise<void>;

export class HubEvents {
  private readonly listeners = new Map<HubEventName, Set<HubListener<HubEventName>>>();

  constructor(private readonly log?: Logger) {}

  /** Registers a listener; returns the function that removes it. */
  on<K extends HubEventName>(name: K, listener: HubListener<K>): () => void {
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(listener as HubListener<HubEventName>);
    return () => this.off(name, listener);
  }

  off<K extends HubEventName>(name: K, listener: HubListener<K>): void {
    this.listeners.get(name)?.delete(listener as HubListener<HubEventName>);
  }

  /** Calls every listener and waits for async ones; failures are logged, never thrown. */
  async emit<K extends HubEventName>(name: K, payload: HubEventMap[K]): Promise<void> {
    const set = this.listeners.get(name);
    if (!set || set.size === 0) return;
    await Promise.all(
      [...set].map(async (listener) => {
        try {
          await listener(payload);
        } catch (err) {
          this.log?.error({ err, event: name }, 'hub event listener failed');
        }
      }),
    );
  }

  listenerCount(name: HubEventName): number {
    return this.listeners.get(name)?.size ?? 0;
  }
}
