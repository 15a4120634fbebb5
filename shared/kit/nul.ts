/**
 * NUL (U+0000) in text: PostgreSQL's text and jsonb cannot store one, so what arrives from outside
 * (MQTT messages, API bodies and queries) is refused with the field that holds it.
 */

/** JSON pointer ("/a/0/b", "" for the value itself) of the first string, value or key, holding a NUL; undefined when none does. */
export function nulPath(value: unknown, path = ''): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path : undefined;
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [key, v] of Object.entries(value)) {
    const at = `${path}/${key}`;
    if (key.includes('\u0000')) return at;
    const found = nulPath(v, at);
    if (found !== undefined) return found;
  }
  return undefined;
}

export const NUL_MESSAGE = 'text must not contain NUL characters (U+0000)';
