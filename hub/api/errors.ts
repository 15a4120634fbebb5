/**
 * The API's one error format, derived from the project's error table:
 *   { error: { code, message, hint, fields?: [{ path, message }] } }
 * SwarmgateErrors map 1:1 (status from ERROR_TABLE); TypeBox validation failures (validation.ts)
 * become 400 SWG_ERR_API_VALIDATION with one entry per field; anything else is a 500 that is logged.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_TABLE, SwarmgateError, isSwarmgateError, type ErrorCode } from '../../shared/kit/errors.js';
import type { Logger } from '../../shared/kit/log.js';
import { classifyStoreError } from '../ingest/store-errors.js';

const strict = { additionalProperties: false } as const;

export const ErrorBodySchema = Type.Object(
  {
    error: Type.Object(
      {
        code: Type.String({ description: 'SWG_ERR_* code from the error table' }),
        message: Type.String(),
        hint: Type.String({ description: 'what to do about it' }),
        fields: Type.Optional(Type.Array(Type.Object({ path: Type.String({ description: 'e.g. body.reason' }), message: Type.String() }, strict))),
      },
      strict,
    ),
  },
  { ...strict, description: 'Every error of the API' },
);
export type ErrorBody = Static<typeof ErrorBodySchema>;

/** 200 (or `code`) with the given schema, plus the error body for 4xx and 5xx. */
export function responses(ok: TSchema, code = 200): Record<string, TSchema> {
  return { [code]: ok, '4xx': ErrorBodySchema, '5xx': ErrorBodySchema };
}

/** `hint` defaults to the code's own; a SwarmgateError's hint is its (the code's, or one the thrower gave). */
export function errorBody(code: ErrorCode, message: string, fields?: { path: string; message: string }[], hint?: string): ErrorBody {
  return { error: { code, message, hint: hint ?? ERROR_TABLE[code].hint, ...(fields && fields.length > 0 ? { fields } : {}) } };
}

interface Issue {
  instancePath?: string;
  message?: string;
}

function fieldPath(context: string | undefined, issue: Issue): string {
  return [context ?? 'body', ...(issue.instancePath ?? '').split('/').filter(Boolean).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))].join('.');
}

/** TypeBox's messages, in the words a form would use. */
function fieldMessage(issue: Issue): string {
  const m = issue.message ?? 'is invalid';
  if (m === 'Expected required property') return 'is required';
  if (m === 'Unexpected property') return 'is not allowed here';
  return m.charAt(0).toLowerCase() + m.slice(1);
}

/** Fastify's own client errors (bad JSON, wrong content type, body too large). */
function clientStatus(err: FastifyError): number | undefined {
  const s = err.statusCode;
  return s !== undefined && s >= 400 && s < 500 ? s : undefined;
}

export function makeErrorHandler(log: Logger) {
  return function handle(err: FastifyError | SwarmgateError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
    if (isSwarmgateError(err)) {
      if (err.status >= 500) log.error({ err, url: request.url }, 'request failed');
      // A refusal that names a field of the request (details.field, in the body unless details.part
      // says querystring or params) lists it as the validators do.
      const field = err.details.field;
      const part = typeof err.details.part === 'string' ? err.details.part : 'body';
      const fields = err.status === 400 && typeof field === 'string' ? [{ path: `${part}.${field}`, message: err.message.replace(`${field}: `, '') }] : undefined;
      return reply.status(err.status).send(errorBody(err.code, err.message, fields, err.hint));
    }
    const fe = err as FastifyError & { validation?: Issue[]; validationContext?: string };
    if (Array.isArray(fe.validation)) {
      const seen = new Set<string>();
      const fields = fe.validation
        .map((issue) => ({ path: fieldPath(fe.validationContext, issue), message: fieldMessage(issue) }))
        .filter((f) => (seen.has(`${f.path}|${f.message}`) ? false : (seen.add(`${f.path}|${f.message}`), true)));
      const summary = fields.map((f) => `${f.path} ${f.message}`).join('; ');
      return reply.status(400).send(errorBody('SWG_ERR_API_VALIDATION', `invalid request: ${summary}`, fields));
    }
    const status = clientStatus(fe);
    if (status !== undefined) {
      if (status === 404) return reply.status(404).send(errorBody('SWG_ERR_API_NOT_FOUND', fe.message));
      return reply.status(status).send({ error: { code: 'SWG_ERR_API_VALIDATION', message: fe.message, hint: ERROR_TABLE.SWG_ERR_API_VALIDATION.hint } });
    }
    if (classifyStoreError(err) === 'outage') {
      // The database cannot serve the request now (disk full, read-only, locked, unreachable):
      // an honest 503 the caller may retry, not "a bug".
      log.error({ err, url: request.url }, 'request failed: the store cannot serve it now');
      return reply.status(503).send(errorBody('SWG_ERR_HUB_STORE', `the hub's database cannot serve this request now (${storeCause(err)}); try again later`));
    }
    log.error({ err, url: request.url }, 'request failed');
    return reply.status(500).send(errorBody('SWG_ERR_INTERNAL', 'internal error'));
  };
}

/** The database's error code and first line, for a 503 (no SQL text, no stack). */
function storeCause(err: Error): string {
  const code = 'code' in err ? String((err as { code: unknown }).code) : '';
  const first = err.message.split('\n')[0]?.slice(0, 200) ?? '';
  return code && !first.includes(code) ? `${code}: ${first}` : first;
}
