/**
 * Retained messages of the embedded broker, looked up by topic. aedes' memory persistence answers
 * each SUBSCRIBE by testing every retained message against every filter of the subscription, so
 * each gateway's connect (three exact-topic subscriptions, and every gateway keeps a retained
 * state) cost time in proportion to the fleet: connecting N gateways was O(N^2), 8,000 took 111 s.
 * Here an exact filter (no '+' or '#', which is what gateways subscribe to) is one map lookup;
 * only a wildcard filter (the hub's own, integrations') walks the retained messages.
 *
 * Installed over the persistence's three retained-message methods; nothing else of the
 * persistence reads retained messages.
 */
import { Readable } from 'node:stream';
import { topicMatches } from './topic-filter.js';

/** What aedes stores as a retained message (it copies the fields it needs from the packet). */
interface RetainedPacket {
  readonly topic: string;
  readonly payload: Buffer | string;
}

/** The part of aedes' persistence interface this replaces. */
export interface RetainedPersistence {
  storeRetained(packet: RetainedPacket, cb?: (err?: Error | null) => void): Promise<void> | void;
  createRetainedStream(pattern: string): Readable;
  createRetainedStreamCombi(patterns: string[]): Readable;
}

function isWildcard(filter: string): boolean {
  return filter.includes('+') || filter.includes('#');
}

export class RetainedIndex {
  private readonly byTopic = new Map<string, RetainedPacket>();

  get size(): number {
    return this.byTopic.size;
  }

  store(packet: RetainedPacket): void {
    if (packet.payload.length === 0) this.byTopic.delete(packet.topic);
    else this.byTopic.set(packet.topic, { ...packet });
  }

  /** Retained messages matching any of the filters, each once. */
  *match(filters: readonly string[]): Generator<RetainedPacket> {
    const wild = filters.filter(isWildcard);
    const exact = filters.filter((f) => !isWildcard(f));
    const seen = wild.length > 0 ? new Set<string>() : undefined;
    for (const f of exact) {
      const p = this.byTopic.get(f);
      if (!p) continue;
      seen?.add(f);
      yield p;
    }
    if (wild.length === 0) return;
    for (const [topic, p] of this.byTopic) {
      if (!seen?.has(topic) && wild.some((f) => topicMatches(f, topic))) yield p;
    }
  }

  /** Replaces the persistence's retained-message methods with this index. */
  install(persistence: RetainedPersistence): void {
    persistence.storeRetained = (packet, cb) => {
      this.store(packet);
      if (cb) {
        cb(null);
        return;
      }
      return Promise.resolve();
    };
    persistence.createRetainedStream = (pattern) => Readable.from(this.match([pattern]));
    persistence.createRetainedStreamCombi = (patterns) => Readable.from(this.match(patterns));
  }
}
