/**
 * Which MQTT client ids a user may connect with. A broker keys sessions (subscriptions, queued
 * messages) by client id alone and throws off a connected client when another connects under its
 * id, so a client id is bound to an identity:
 * - a gateway connects only as its gateway id (its federation link) or `<gateway id>-spb` (its
 *   Sparkplug node), the ids edge/federation uses;
 * - no other user may use a gateway's ids;
 * - a session belongs to the user that opened it: while it is connected, or kept (clean session
 *   off), another user presenting its client id is refused.
 * Integrations and other hub processes otherwise choose their client ids freely.
 * The check runs in the CONNECT's authenticate hook, before the broker takes a session over.
 */
import type { Identity } from './acl.js';
import type { CredentialsFile } from './credentials.js';

/** The client ids a gateway connects with: its federation link and its Sparkplug node. */
export function gatewayClientIds(gateway: string): readonly [string, string] {
  return [gateway, `${gateway}-spb`];
}

/** Per credentials file: client id -> usernames of the gateways it belongs to. */
const reservedCache = new WeakMap<CredentialsFile, ReadonlyMap<string, readonly string[]>>();

function reservedIds(creds: CredentialsFile): ReadonlyMap<string, readonly string[]> {
  let reserved = reservedCache.get(creds);
  if (!reserved) {
    const map = new Map<string, string[]>();
    for (const user of creds.users) {
      if (user.role !== 'gateway') continue;
      for (const id of gatewayClientIds(user.gateway)) map.set(id, [...(map.get(id) ?? []), user.username]);
    }
    reserved = map;
    reservedCache.set(creds, reserved);
  }
  return reserved;
}

export class ClientIdBinding {
  /** Client id -> username, for sessions the broker keeps (connected now or clean session off). */
  private readonly owners = new Map<string, string>();
  /** Connected clients per id, so a disconnect that a takeover caused does not forget the new owner. */
  private readonly live = new Map<string, object>();

  /** Why this identity may not connect as clientId, or undefined when it may. */
  problem(identity: Identity, clientId: string, creds: CredentialsFile): string | undefined {
    if (identity.role === 'gateway') {
      const own = gatewayClientIds(identity.gateway);
      if (!own.includes(clientId)) return `client id "${clientId}" is not gateway ${identity.gateway}'s (${own.join(' or ')}); set no federation.mqtt.clientId`;
    } else {
      const gateways = reservedIds(creds).get(clientId);
      if (gateways) return `client id "${clientId}" belongs to gateway user ${gateways.join(', ')}`;
    }
    const owner = this.owners.get(clientId);
    if (owner !== undefined && owner !== identity.username) return `client id "${clientId}" is a session of user ${owner}`;
    return undefined;
  }

  /** A client got in (CONNACK sent): its id is now its user's; a clean session replaces a kept one. */
  connected(client: object, clientId: string, username: string): void {
    this.live.set(clientId, client);
    this.owners.set(clientId, username);
  }

  /** A client left: a clean session is gone with it, a persistent one stays its user's. */
  disconnected(client: object, clientId: string, clean: boolean): void {
    if (this.live.get(clientId) !== client) return; // taken over by a later connection of the same user
    this.live.delete(clientId);
    if (clean) this.owners.delete(clientId);
  }
}
