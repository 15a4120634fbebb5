/**
 * What a schema allows, in words, for the errors people read: TypeBox says only "Expected union
 * value" when a value matches none of a union's members, which names neither what was allowed nor
 * what came. One home for that text: wire messages, config files and the web API use it.
 */
import { Kind, type TSchema } from '@sinclair/typebox';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';

type Described = TSchema & {
  const?: unknown;
  anyOf?: readonly TSchema[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
};

/**
 * "one of: good, uncertain, bad" for literals (`quoted`: `one of "good", "uncertain"`, as they are
 * written in a YAML file); undefined when the schema is not a choice among literals.
 */
export function literalChoice(schema: TSchema, quoted = false): string | undefined {
  const members = (schema as Described).anyOf;
  if (!Array.isArray(members) || members.length === 0 || !members.every((m) => 'const' in m)) return undefined;
  const values = members.map((m) => (quoted ? JSON.stringify((m as Described).const) : String((m as Described).const)));
  return quoted ? `one of ${values.join(', ')}` : `one of: ${values.join(', ')}`;
}

function range(s: Described): string {
  if (s.minimum !== undefined && s.maximum !== undefined) return ` from ${s.minimum} to ${s.maximum}`;
  if (s.minimum !== undefined) return ` of at least ${s.minimum}`;
  if (s.maximum !== undefined) return ` of at most ${s.maximum}`;
  return '';
}

/** One member in words: "a number from -1e300 to 1e300", "a string of at most 1024 characters without NUL characters", "null". */
function member(schema: TSchema): string {
  const s = schema as Described;
  if ('const' in s) return JSON.stringify(s.const);
  switch (s[Kind]) {
    case 'Number':
      return `a number${range(s)}`;
    case 'Integer':
      return `an integer${range(s)}`;
    case 'Boolean':
      return 'true or false';
    case 'Null':
      return 'null';
    case 'String': {
      const length = s.maxLength !== undefined ? ` of at most ${s.maxLength} characters` : '';
      const nul = s.pattern?.includes('\\u0000') ? ' without NUL characters' : '';
      return `a string${length}${nul}`;
    }
    case 'Union':
      return (s.anyOf ?? []).map(member).join(', ');
    default:
      return String(s[Kind]).toLowerCase();
  }
}

/** What a union allows ("one of: a, b" or "a number …, true or false or null"); undefined for other schemas. */
export function allowedText(schema: TSchema): string | undefined {
  const s = schema as Described;
  if (!Array.isArray(s.anyOf) || s.anyOf.length === 0) return undefined;
  const choice = literalChoice(schema);
  if (choice) return choice;
  const parts = s.anyOf.map(member);
  return parts.length === 1 ? parts[0] : `${parts.slice(0, -1).join(', ')} or ${parts[parts.length - 1]}`;
}

/**
 * A value in an error message: strings quoted and cut at 40 characters, objects by kind. Control
 * characters are left for the caller's terminal escaping (config-file problems, logs).
 */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  if (typeof value === 'object') return Array.isArray(value) ? 'a list' : 'a mapping';
  return String(value);
}

/** The field that tells a union's object members apart (an action's `kind`) and its values. */
export function discriminator(schema: TSchema): { readonly key: string; readonly values: readonly unknown[] } | undefined {
  const members = (schema as Described).anyOf;
  if (!Array.isArray(members) || members.length === 0) return undefined;
  const props = members.map((m) => (m as { properties?: Record<string, Described> }).properties);
  const first = props[0];
  if (!first || props.some((p) => p === undefined)) return undefined;
  for (const [key, field] of Object.entries(first)) {
    if (!('const' in field)) continue;
    const values = props.map((p) => p?.[key]?.const);
    if (props.every((p) => p?.[key] !== undefined && 'const' in (p[key] as Described)) && new Set(values).size === values.length) return { key, values };
  }
  return undefined;
}

/**
 * The member of a union of objects told apart by a literal field (an action's `kind`) that a value
 * names, so its errors can be reported field by field instead of "expected union value";
 * undefined when the union is not of that shape or the value names no member.
 */
export function discriminatedMember(schema: TSchema, value: unknown): TSchema | undefined {
  const d = discriminator(schema);
  if (!d || typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const at = d.values.indexOf((value as Record<string, unknown>)[d.key]);
  return at < 0 ? undefined : (schema as Described).anyOf?.[at];
}

/** TypeBox's message, with a union's allowed members and the value that came instead of "Expected union value". */
export function errorText(error: ValueError): string {
  const allowed = error.message.startsWith('Expected union') ? allowedText(error.schema) : undefined;
  return allowed ? `expected ${allowed}; got ${describeValue(error.value)}` : error.message;
}

/**
 * The error to report for a value: for a union of objects told apart by a literal field (an
 * action's `kind`) that the value names, the first error inside that member, with its full path
 * ("/action/value: Expected string length less or equal to 256"), not "/action: expected object
 * or object". Other errors come back as they are.
 */
export function fieldError(error: ValueError): ValueError {
  let current = error;
  for (let depth = 0; depth < 8 && current.type === ValueErrorType.Union; depth++) {
    const member = discriminatedMember(current.schema, current.value);
    const inner = member ? Value.Errors(member, current.value).First() : undefined;
    if (!inner) break;
    current = { ...inner, path: `${current.path}${inner.path}` };
  }
  return current;
}
