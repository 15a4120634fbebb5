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

export interface Restored {
  readonly value: unknown;
  /** Paths still holding REDACTED: the previous config has no secret there. */
  readonly unresolved: (string | number)[][];
}

/** `value` with each REDACTED under a secret key replaced by `previous`'s string at the same path. */
export function restoreSecrets(value: unknown, previous: unknown, path: (string | number)[] = []): Restored {
  const unresolved: (string | number)[][] = [];
  const walk = (v: unknown, prev: unknown, at: (string | number)[]): unknown => {
    if (Array.isArray(v)) return v.map((item, i) => walk(item, Array.isArray(prev) ? prev[i] : undefined, [...at, i]));
    if (v === null || typeof v !== 'object') return v;
    const before = prev !== null && typeof prev === 'object' && !Array.isArray(prev) ? (prev as Record<string, unknown>) : {};
    const out: Record<string, unknown> = {};
    for (const [k, item] of Object.entries(v)) {
      if (isSecretKey(k) && item === REDACTED) {
        const kept = before[k];
        if (typeof kept === 'string' && kept !== REDACTED) out[k] = kept;
        else {
          out[k] = item;
          unresolved.push([...at, k]);
        }
      } else out[k] = walk(item, before[k], [...at, k]);
    }
    return out;
  };
  return { value: walk(value, previous, path), unresolved };
}
