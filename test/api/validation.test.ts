/**
 * The API's request validation in words: a union of objects told apart by their keys (a deployment
 * target) is explained by the member the request meant, or by which keys it takes.
 */
import { Type, type TSchema } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { typeboxValidator, type FieldIssue } from '../../hub/api/validation.js';

const strict = { additionalProperties: false } as const;
const Target = Type.Union([
  Type.Object({ site: Type.String({ minLength: 1 }) }, strict),
  Type.Object({ gateways: Type.Array(Type.String(), { minItems: 1 }) }, strict),
  Type.Object({ percent: Type.Number({ exclusiveMinimum: 0, maximum: 100 }) }, strict),
]);
const Body = Type.Object({ version: Type.String(), target: Target }, strict);

function issues(schema: TSchema, body: unknown): FieldIssue[] {
  const validate = typeboxValidator({ schema, httpPart: 'body', method: 'POST', url: '/x' });
  const result = validate(body) as { error?: Error & { validation?: FieldIssue[] } };
  return result.error?.validation ?? [];
}

describe('API validation: unions of objects told apart by their keys', () => {
  it('explains the member the request meant, at its field', () => {
    expect(issues(Body, { version: '1', target: { percent: 0 } })).toEqual([{ instancePath: '/target/percent', message: expect.stringMatching(/greater than 0/) as string }]);
    expect(issues(Body, { version: '1', target: { percent: 1e308 } })).toEqual([{ instancePath: '/target/percent', message: expect.stringMatching(/less or equal to 100/) as string }]);
    expect(issues(Body, { version: '1', target: { gateways: [] } })).toEqual([{ instancePath: '/target/gateways', message: expect.stringMatching(/greater or equal to 1/) as string }]);
  });

  it('says which keys it takes when the request mixes them or has none', () => {
    expect(issues(Body, { version: '1', target: { site: 'hq', gateways: ['gw-1'] } })).toEqual([
      { instancePath: '/target', message: 'must have exactly one of: site, or gateways, or percent; got site, gateways' },
    ]);
    expect(issues(Body, { version: '1', target: {} })).toEqual([{ instancePath: '/target', message: 'must have exactly one of: site, or gateways, or percent; got an empty mapping' }]);
    expect(issues(Body, { version: '1', target: { site: 'hq' } })).toEqual([]);
  });
});
