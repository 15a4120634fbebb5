/**
 * The broker access policy, deny by default. Identities come from the credentials file:
 * - gateway: publish/subscribe only inside swarmgate/v1/<site>/<gateway>/#, and as its own
 *   Sparkplug edge node in each group its credential carries (default: its site): publish
 *   spBv1.0/<group>/{NBIRTH,NDEATH,NDATA}/<gateway> and {DBIRTH,DDEATH,DDATA}/<gateway>/<device>,
 *   subscribe spBv1.0/<group>/NCMD/<gateway>, DCMD/<gateway>/<device>, its own NBIRTH and the host
 *   applications' spBv1.0/STATE/<host>;
 * - integration: read scopes (subscribe) and write scopes (publish), each a topic filter;
 * - hub: anything (the hub's own clients).
 * The same rules are emitted as a Mosquitto ACL file by mosquitto.ts.
 */
import { gatewayPrefix } from '../../shared/wire/topics.js';
import { filterWithin, isValidFilter, parseShared, topicMatches } from './topic-filter.js';

export type Identity =
  | { readonly role: 'gateway'; readonly username: string; readonly site: string; readonly gateway: string; readonly sparkplugGroups: readonly string[] }
  | { readonly role: 'integration'; readonly username: string; readonly read: readonly string[]; readonly write: readonly string[] }
  | { readonly role: 'hub'; readonly username: string };

export interface GatewayScopes {
  /** Publish and subscribe: the gateway's own Swarmgate subtree. */
  readonly readWrite: readonly string[];
  /** Publish only: its Sparkplug births, deaths and data. */
  readonly write: readonly string[];
  /** Subscribe only: Sparkplug commands to it and host application STATE. */
  readonly read: readonly string[];
}

/** The filters a gateway owns; `sparkplugGroups` are the Sparkplug group ids its credential carries. */
export function gatewayScopes(site: string, gateway: string, sparkplugGroups: readonly string[]): GatewayScopes {
  const node = (group: string, type: string): string => `spBv1.0/${group}/${type}/${gateway}`;
  return {
    readWrite: [`${gatewayPrefix(site, gateway)}/#`],
    write: sparkplugGroups.flatMap((g) => [node(g, 'NBIRTH'), node(g, 'NDEATH'), node(g, 'NDATA'), `${node(g, 'DBIRTH')}/+`, `${node(g, 'DDEATH')}/+`, `${node(g, 'DDATA')}/+`]),
    // Its own NBIRTH too: the node confirms the broker took its births by receiving them back.
    read: sparkplugGroups.length > 0 ? [...sparkplugGroups.flatMap((g) => [node(g, 'NCMD'), `${node(g, 'DCMD')}/+`, node(g, 'NBIRTH')]), 'spBv1.0/STATE/+'] : [],
  };
}

type GatewayIdentity = Extract<Identity, { role: 'gateway' }>;

const NODE_WRITE = new Set(['NBIRTH', 'NDEATH', 'NDATA']);
const DEVICE_WRITE = new Set(['DBIRTH', 'DDEATH', 'DDATA']);
const NODE_READ = new Set(['NCMD', 'NBIRTH']);

/**
 * A gateway's scopes (gatewayScopes) checked on the topic's levels rather than against a list of
 * filters made for it: the broker checks every message a gateway publishes or receives, and a
 * list kept per connected gateway (a dozen strings) was kilobytes of hub memory per gateway.
 * test/hub/acl.test.ts holds this to the filters gatewayScopes writes.
 */
function gatewayMay(identity: GatewayIdentity, topic: string, access: 'read' | 'write'): boolean {
  const prefix = gatewayPrefix(identity.site, identity.gateway);
  if (topic.startsWith(prefix) && (topic.length === prefix.length || topic.charCodeAt(prefix.length) === 47 /* / */)) return true;
  if (!topic.startsWith('spBv1.0/')) return false;
  const levels = topic.split('/');
  if (access === 'read' && levels.length === 3 && levels[1] === 'STATE') return true;
  const [, group = '', type = '', node] = levels;
  if (node !== identity.gateway || !identity.sparkplugGroups.includes(group)) return false;
  if (levels.length === 4) return (access === 'write' ? NODE_WRITE : NODE_READ).has(type);
  if (levels.length === 5) return access === 'write' ? DEVICE_WRITE.has(type) : type === 'DCMD';
  return false;
}

export function readScopes(identity: Identity): readonly string[] {
  switch (identity.role) {
    case 'gateway': {
      const s = gatewayScopes(identity.site, identity.gateway, identity.sparkplugGroups);
      return [...s.readWrite, ...s.read];
    }
    case 'integration':
      return identity.read;
    case 'hub':
      return ['#'];
  }
}

export function writeScopes(identity: Identity): readonly string[] {
  switch (identity.role) {
    case 'gateway': {
      const s = gatewayScopes(identity.site, identity.gateway, identity.sparkplugGroups);
      return [...s.readWrite, ...s.write];
    }
    case 'integration':
      return identity.write;
    case 'hub':
      return ['#'];
  }
}

export type Decision = { allowed: true } | { allowed: false; reason: string };

const allow: Decision = { allowed: true };

export function mayPublish(identity: Identity | undefined, topic: string): Decision {
  if (!identity) return { allowed: false, reason: 'not authenticated' };
  if (topic.startsWith('$')) return identity.role === 'hub' && !topic.startsWith('$SYS') ? allow : { allowed: false, reason: `"${topic}" is reserved` };
  if (identity.role === 'hub') return allow;
  const allowed = identity.role === 'gateway' ? gatewayMay(identity, topic, 'write') : identity.write.some((scope) => topicMatches(scope, topic));
  return allowed ? allow : { allowed: false, reason: `"${topic}" is outside the write scopes of ${identity.username}` };
}

/** Whether a message on this topic may be delivered to the identity (hub: anything). */
export function mayRead(identity: Identity | undefined, topic: string): boolean {
  if (!identity) return false;
  if (identity.role === 'hub') return true;
  if (topic.startsWith('$')) return false;
  return identity.role === 'gateway' ? gatewayMay(identity, topic, 'read') : identity.read.some((scope) => topicMatches(scope, topic));
}

/** Checks a subscription; for `$share/<group>/<filter>` the inner filter is what is checked. */
export function maySubscribe(identity: Identity | undefined, subscription: string): Decision {
  if (!identity) return { allowed: false, reason: 'not authenticated' };
  const shared = parseShared(subscription);
  const filter = shared ? shared.filter : subscription;
  if (subscription.startsWith('$share/') && !shared) return { allowed: false, reason: `malformed shared subscription "${subscription}"` };
  if (!isValidFilter(filter)) return { allowed: false, reason: `malformed topic filter "${filter}"` };
  if (identity.role === 'hub') return allow;
  if (filter.startsWith('$')) return { allowed: false, reason: `"${filter}" is reserved` };
  return readScopes(identity).some((scope) => filterWithin(filter, scope)) ? allow : { allowed: false, reason: `"${filter}" is outside the read scopes of ${identity.username}` };
}
