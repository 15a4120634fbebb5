/**
 * COV subscriptions of one device: who (address, process id), which object, confirmed or not,
 * and until when (lifetime in real seconds, 0 = no expiry). A subscription is due when the present
 * value moved by at least the object's COV increment since its last notification (any change for
 * binary objects), or when the status flags changed. A restart clears the table.
 */
import type { BACNetObjectID, Receiver } from './bacnet-lib.js';

export interface CovSubscription {
  readonly subscriber: Receiver;
  readonly processId: number;
  readonly object: BACNetObjectID;
  readonly confirmed: boolean;
  /** Real-clock ms when it lapses; undefined = never. */
  readonly expiresAt: number | undefined;
  /** Present value and status flags last notified. */
  lastValue: number;
  lastFlags: string;
}

export interface CovObservation {
  readonly value: number;
  readonly flags: string;
  readonly analog: boolean;
  readonly increment: number;
}

function keyOf(subscriber: Receiver, processId: number, object: BACNetObjectID): string {
  return `${subscriber.address ?? ''}|${subscriber.net ?? ''}|${(subscriber.adr ?? []).join('.')}|${processId}|${object.type}:${object.instance}`;
}

export class CovTable {
  private readonly subs = new Map<string, CovSubscription>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Adds or renews (same subscriber, process id and object) a subscription. */
  subscribe(sub: Omit<CovSubscription, 'expiresAt' | 'lastValue' | 'lastFlags'> & { readonly lifetimeS: number }, current: CovObservation): CovSubscription {
    const entry: CovSubscription = {
      subscriber: sub.subscriber,
      processId: sub.processId,
      object: sub.object,
      confirmed: sub.confirmed,
      expiresAt: sub.lifetimeS > 0 ? this.now() + sub.lifetimeS * 1000 : undefined,
      lastValue: current.value,
      lastFlags: current.flags,
    };
    this.subs.set(keyOf(sub.subscriber, sub.processId, sub.object), entry);
    return entry;
  }

  /** Returns whether there was such a subscription. */
  cancel(subscriber: Receiver, processId: number, object: BACNetObjectID): boolean {
    return this.subs.delete(keyOf(subscriber, processId, object));
  }

  clear(): void {
    this.subs.clear();
  }

  list(): CovSubscription[] {
    return [...this.subs.values()];
  }

  get size(): number {
    return this.subs.size;
  }

  /** Drops lapsed subscriptions. */
  expire(): void {
    const now = this.now();
    for (const [key, sub] of this.subs) if (sub.expiresAt !== undefined && sub.expiresAt <= now) this.subs.delete(key);
  }

  /** Seconds left (0 for a subscription without expiry, as the standard says). */
  timeRemaining(sub: CovSubscription): number {
    return sub.expiresAt === undefined ? 0 : Math.max(0, Math.round((sub.expiresAt - this.now()) / 1000));
  }

  /** Subscriptions to notify now for this object; marks them notified at the observed value. */
  due(object: BACNetObjectID, seen: CovObservation): CovSubscription[] {
    const out: CovSubscription[] = [];
    for (const sub of this.subs.values()) {
      if (sub.object.type !== object.type || sub.object.instance !== object.instance) continue;
      const moved = seen.analog ? Math.abs(seen.value - sub.lastValue) >= Math.max(seen.increment, 1e-9) : seen.value !== sub.lastValue;
      if (!moved && seen.flags === sub.lastFlags) continue;
      sub.lastValue = seen.value;
      sub.lastFlags = seen.flags;
      out.push(sub);
    }
    return out;
  }
}
