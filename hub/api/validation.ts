/**
 * Request validation with TypeBox (the project's schema library) instead of Fastify's Ajv:
 * querystring and params are converted from strings first, defaults are filled in, and each
 * problem keeps its JSON path so the error handler can report it field by field.
 */
import { Kind, OptionalKind, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import type { FastifySchemaCompiler } from 'fastify';
import { NUL_MESSAGE, nulPath } from '../../shared/kit/nul.js';
import { describeValue, discriminatedMember, discriminator, errorText, literalChoice } from '../../shared/kit/schema-text.js';
import { pointerSegments } from '../../shared/kit/config-file.js';
import { parseDecimal } from '../../shared/kit/decimal.js';
import { didYouMean } from '../../shared/kit/suggest.js';

export interface FieldIssue {
  readonly instancePath: string;
  readonly message: string;
}

const cache = new WeakMap<object, TypeCheck<TSchema>>();

export const typeboxValidator: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  let check = cache.get(schema);
  if (!check) {
    check = TypeCompiler.Compile(schema);
    cache.set(schema, check);
  }
  const compiled = check;
  const optionalBody = httpPart === 'body' && (schema as unknown as Record<symbol, unknown>)[OptionalKind] === 'Optional';
  return (input: unknown) => {
    if (optionalBody && (input === undefined || input === null)) return { value: undefined };
    // Strings from the URL become numbers/booleans/arrays as the schema says; bodies are JSON already.
    // Value.Convert changes its argument in place: it converts a copy, the original keeps the text.
    const converted = httpPart === 'body' ? input : exactIntegers(schema, input, Value.Convert(schema, structuredClone(input)));
    const value = Value.Default(schema, converted);
    if (compiled.Check(value)) {
      // Valid, but no store can keep a NUL in text: a 400 naming the field, not a database error.
      const nul = nulPath(value);
      if (nul === undefined) return { value };
      const issue: FieldIssue = { instancePath: nul, message: NUL_MESSAGE };
      return { error: Object.assign(new Error(`${nul || '/'} ${NUL_MESSAGE}`), { validation: [issue] }) };
    }
    const seen = new Set<string>();
    const issues: FieldIssue[] = [];
    for (const e of compiled.Errors(value)) {
      const issue = explain(e);
      // The first problem per field is the telling one ("required" before "expected string").
      if (seen.has(issue.instancePath)) continue;
      seen.add(issue.instancePath);
      issues.push(issue);
    }
    return { error: Object.assign(new Error(issues.map((i) => `${i.instancePath || '/'} ${i.message}`).join('; ')), { validation: issues }) };
  };
};

/** One problem in words, at the deepest field that explains it. */
function explain(e: ValueError): FieldIssue {
  // A union of objects told apart by `kind` (an action): the member the value names says what is wrong.
  const member = e.type === ValueErrorType.Union ? discriminatedMember(e.schema, e.value) : undefined;
  const inner = member ? Value.Errors(member, e.value).First() : undefined;
  if (inner) return explain({ ...inner, path: `${e.path}${inner.path}` });
  const d = e.type === ValueErrorType.Union && typeof e.value === 'object' && e.value !== null && !Array.isArray(e.value) ? discriminator(e.schema) : undefined;
  if (d) {
    const got = (e.value as Record<string, unknown>)[d.key];
    return { instancePath: `${e.path}/${d.key}`, message: `must be one of: ${d.values.map(String).join(', ')}; got ${describeValue(got)}` };
  }
  const message = allowedValues(e.schema) ?? (e.type === ValueErrorType.ObjectAdditionalProperties ? unknownKey(e.schema, e.path) : undefined) ?? errorText(e);
  return { instancePath: e.path, message };
}

/**
 * TypeBox converts an integer from a URL with parseInt and truncates, so `limit=1e300` became 1,
 * `offset=2.5` became 2 and `limit=0x10` 16. After its conversion, integer fields get the number
 * their decimal text spells instead (any other text stays text), which the schema then checks
 * (1e300 is over the maximum, 2.5 is not an integer, "0x10" not a number) and names in the 400.
 */
function exactIntegers(schema: TSchema, input: unknown, converted: unknown): unknown {
  const properties = (schema as { properties?: Record<string, TSchema> }).properties;
  if (!properties || typeof input !== 'object' || input === null || Array.isArray(input)) return converted;
  if (typeof converted !== 'object' || converted === null || Array.isArray(converted)) return converted;
  const out: Record<string, unknown> = { ...(converted as Record<string, unknown>) };
  for (const [key, value] of Object.entries(input as Record<string, unknown>)) {
    const field = properties[key];
    if (field === undefined || field[Kind] !== 'Integer') continue;
    // 1e400 is Infinity and 0x10 is 16 by Number(): neither is an integer as written, so both are
    // kept as what they are (Infinity; the string) and refused, rather than parsed as 1 or 16.
    if (typeof value !== 'string' || value.trim() === '' || Number.isNaN(Number(value))) continue;
    out[key] = parseDecimal(value.trim()) ?? value;
  }
  return out;
}

/** "must be one of: pending, approved, …" for a choice among literals (TypeBox says only "Expected union value"). */
function allowedValues(schema: TSchema): string | undefined {
  const choice = literalChoice(schema);
  return choice ? `must be ${choice}` : undefined;
}

/** "is not allowed here; did you mean "reason"?" for a misspelt field, when one is close. */
function unknownKey(schema: TSchema, path: string): string | undefined {
  const properties = (schema as { properties?: Record<string, TSchema> }).properties;
  const key = pointerSegments(path).at(-1);
  if (!properties || typeof key !== 'string') return undefined;
  const hint = didYouMean(key, Object.keys(properties));
  return hint ? `is not allowed here${hint}` : undefined;
}
