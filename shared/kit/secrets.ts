/**
 * Secrets inside config documents (a broker password, an OPC UA user's password, an enrollment
 * token) are write-only: every copy of a config that leaves the gateway's disk for others to read
 * (the reported config on MQTT, the hub's API) carries REDACTED in their place. A desired config
 * built from such a copy may keep REDACTED where it did not change a secret: the gateway puts back
 * the value it runs with at the same place (restoreSecrets), and refuses one it does not have.
 */

export const REDACTED = '(redacted)';

/** Keys whose string values are secrets, wherever they appear in a config. */
const SECRET_KEY = /^(password|token|secret|passphrase|privatekey|apikey)$/i;

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

/** A deep copy with every string under a secret key replaced by REDACTED. */
export function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = isSecretKey(k) && typeof v === 'string' ? REDACTED : redactSecrets(v);
  return out;
}

/** A REDACTED secret that could not be put back, and why (said after `is "(redacted)" but`). */
export interface UnresolvedSecret {
  readonly path: (string | number)[];
  readonly reason: string;
}

export interface Restored {
  readonly value: unknown;
  /** Paths still holding REDACTED: the previous config has no secret there for this item. */
  readonly unresolved: (string | number)[][];
  /** The same paths with the reason of each. */
  readonly reasons: readonly UnresolvedSecret[];
}

/** What a secret was given for: a kept secret goes only to the same server and user. */
const IDENTITY_KEYS = ['id', 'endpointUrl', 'url', 'host', 'username'] as const;
/** Identity fields holding a URL: the server it names counts (mqtt:// to mqtts:// on the same host keeps the secret). */
const URL_KEYS: ReadonlySet<string> = new Set(['endpointUrl', 'url']);

type Item = Record<string, unknown>;

function isItem(value: unknown): value is Item {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function itemId(value: unknown): string | number | undefined {
  const id = isItem(value) ? value.id : undefined;
  return typeof id === 'string' || typeof id === 'number' ? id : undefined;
}

/** The server a URL names (host and port), or the text itself when it is no URL. */
function server(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    const url = new URL(value);
    return url.host === '' ? value : url.host.toLowerCase();
  } catch {
    return value;
  }
}

/** The first identity field (id, endpointUrl, url, host, username) that differs between the object holding a secret and the previous one. */
function changedIdentity(now: Item, before: Item): string | undefined {
  for (const key of IDENTITY_KEYS) {
    const a = URL_KEYS.has(key) ? server(now[key]) : now[key];
    const b = URL_KEYS.has(key) ? server(before[key]) : before[key];
    if (a !== b) return `${key} ${b === undefined ? '(none)' : JSON.stringify(before[key])} is now ${a === undefined ? '(none)' : JSON.stringify(now[key])}`;
  }
  return undefined;
}

const GIVE_IT = 'give the secret itself (or a file holding it, such as passwordFile)';

/**
 * `value` with each REDACTED under a secret key replaced by `previous`'s string at the same place.
 * List items are matched by their `id` (devices, rules), never by position: a device removed or
 * moved in the list must not hand another device its password; an item without an id, or whose id
 * the previous list lacks, has no secret to keep. A secret is kept only when the object holding it
 * still names the same server and user (id, endpointUrl, url, host, username): otherwise a changed
 * endpoint would receive a password given for another.
 */
export function restoreSecrets(value: unknown, previous: unknown, path: (string | number)[] = []): Restored {
  const reasons: UnresolvedSecret[] = [];
  // Why the items under this place have no previous item: set when a list item found no match.
  const walk = (v: unknown, prev: unknown, at: (string | number)[], missing: string | undefined): unknown => {
    if (Array.isArray(v)) {
      const before = Array.isArray(prev) ? prev : [];
      return v.map((item, i) => {
        const id = itemId(item);
        if (!isItem(item)) return walk(item, undefined, [...at, i], missing ?? 'the running config has no secret here to keep');
        if (id === undefined) return walk(item, undefined, [...at, i], missing ?? 'this list item has no id, so the running config\'s secret cannot be matched to it');
        const match = before.find((p) => itemId(p) === id);
        return walk(item, match, [...at, i], match === undefined ? (missing ?? `the running config has no item with id ${JSON.stringify(id)} here whose secret to keep`) : missing);
      });
    }
    if (!isItem(v)) return v;
    const before = isItem(prev) ? prev : undefined;
    const out: Record<string, unknown> = {};
    for (const [k, item] of Object.entries(v)) {
      if (isSecretKey(k) && item === REDACTED) {
        const kept = before?.[k];
        const changed = before ? changedIdentity(v, before) : undefined;
        if (typeof kept === 'string' && kept !== REDACTED && changed === undefined) {
          out[k] = kept;
          continue;
        }
        out[k] = item;
        const why =
          before === undefined || typeof kept !== 'string' || kept === REDACTED
            ? (missing ?? 'the running config has no secret here to keep')
            : `${changed ?? ''}: a kept secret goes only to the server and user it was given for`;
        reasons.push({ path: [...at, k], reason: `${why}; ${GIVE_IT}` });
      } else out[k] = walk(item, before?.[k], [...at, k], missing);
    }
    return out;
  };
  const restored = walk(value, previous, path, undefined);
  return { value: restored, unresolved: reasons.map((r) => r.path), reasons };
}
