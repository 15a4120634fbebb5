/**
 * Request validation with TypeBox (the project's schema library) instead of Fastify's Ajv:
 * querystring and params are converted from strings first, defaults are filled in, and each
 * problem keeps its JSON path so the error handler can report it field by field.
 */
import { OptionalKind, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import type { FastifySchemaCompiler } from 'fastify';

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
    const converted = httpPart === 'body' ? input : Value.Convert(schema, input);
    const value = Value.Default(schema, converted);
    if (compiled.Check(value)) return { value };
    const seen = new Set<string>();
    const issues: FieldIssue[] = [];
    for (const e of compiled.Errors(value)) {
      // The first problem per field is the telling one ("required" before "expected string").
      if (seen.has(e.path)) continue;
      seen.add(e.path);
      issues.push({ instancePath: e.path, message: e.message });
    }
    return { error: Object.assign(new Error(issues.map((i) => `${i.instancePath || '/'} ${i.message}`).join('; ')), { validation: issues }) };
  };
};
