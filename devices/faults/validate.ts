/**
 * Validates a fault body in two steps (kind first, then that kind's schema) so the error names
 * the bad field instead of "does not match any of the union members".
 */
import { Value } from '@sinclair/typebox/value';
import { SwarmgateError } from '../../shared/kit/errors.js';
import { FAULT_SCHEMAS, type FaultKind, type FaultSpec } from './types.js';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseFault(body: unknown): FaultSpec {
  if (!isRecord(body)) throw invalid('body', 'expected a JSON object like {"kind":"offline","device":"ahu"}');
  const kind = body.kind;
  const kinds = Object.keys(FAULT_SCHEMAS);
  if (typeof kind !== 'string' || !kinds.includes(kind)) {
    throw invalid('kind', `must be one of ${kinds.join(', ')}`);
  }
  const schema = FAULT_SCHEMAS[kind as FaultKind];
  const first = Value.Errors(schema, body).First();
  if (first) {
    const field = first.path === '' ? 'body' : first.path.replace(/^\//, '').replace(/\//g, '.');
    throw invalid(field, allowedValues(first.schema) ?? first.message);
  }
  if (body.kind === 'slow' && body.device === 'freezer') {
    throw invalid('device', 'slow is not simulated for the OPC UA cold room; use offline or opcua-restart for freezer');
  }
  return body as FaultSpec;
}

/** For a union of literals, say which values are allowed rather than "Expected union value". */
function allowedValues(schema: unknown): string | undefined {
  const anyOf = isRecord(schema) && Array.isArray(schema.anyOf) ? schema.anyOf : undefined;
  const values = anyOf?.map((s: unknown) => (isRecord(s) ? s.const : undefined));
  if (!values || values.length === 0 || values.some((v) => v === undefined)) return undefined;
  return `must be one of ${values.map((v) => String(v)).join(', ')}`;
}

function invalid(field: string, message: string): SwarmgateError {
  return new SwarmgateError('SWG_ERR_SIM_FAULT_INVALID', `fault field "${field}": ${message}`, { details: { field } });
}
