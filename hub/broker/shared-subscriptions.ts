/**
 * Shared subscriptions (`$share/<group>/<filter>`) for the embedded broker, which aedes does not
 * implement: the subscription is granted on the inner filter and, per message, only one member
 * of the group is let through authorizeForward. The member is picked by the broker's per-message
 * counter, so deliveries rotate over the members and every message goes to exactly one of them.
 * Limits: members are clean-session clients (a leaving member's in-flight messages are not
 * handed over); unsubscribing the `$share/...` form does not remove the inner subscription
 * (disconnect instead, as hub processes do); retained messages reach every member.
 */
import { topicMatches } from './topic-filter.js';

interface Group {
  readonly filter: string;
  readonly members: object[];
}

export class SharedSubscriptions {
  private readonly groups = new Map<string, Group>();
  private readonly byClient = new Map<object, Set<string>>();

  join(client: object, group: string, filter: string): void {
    const key = `${group}\u0000${filter}`;
    let entry = this.groups.get(key);
    if (!entry) {
      entry = { filter, members: [] };
      this.groups.set(key, entry);
    }
    if (!entry.members.includes(client)) entry.members.push(client);
    let keys = this.byClient.get(client);
    if (!keys) {
      keys = new Set();
      this.byClient.set(client, keys);
    }
    keys.add(key);
  }

  leave(client: object): void {
    const keys = this.byClient.get(client);
    if (!keys) return;
    for (const key of keys) {
      const entry = this.groups.get(key);
      if (!entry) continue;
      const i = entry.members.indexOf(client);
      if (i >= 0) entry.members.splice(i, 1);
      if (entry.members.length === 0) this.groups.delete(key);
    }
    this.byClient.delete(client);
  }

  /** False when the message belongs to another member of a group this client shares. */
  shouldForward(client: object, topic: string, counter: number): boolean {
    const keys = this.byClient.get(client);
    if (!keys) return true;
    for (const key of keys) {
      const entry = this.groups.get(key);
      if (!entry || !topicMatches(entry.filter, topic)) continue;
      const chosen = entry.members[counter % entry.members.length];
      if (chosen !== client) return false;
    }
    return true;
  }

  get size(): number {
    return this.groups.size;
  }
}
