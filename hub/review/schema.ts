/**
 * The one definition of a review item: the API's response schema, and the type (review/types.ts
 * derives ReviewItem from it; the web page imports that type at build time).
 */
import { Type } from '@sinclair/typebox';
import { ActionSchema } from '../../shared/wire/messages.js';

const strict = { additionalProperties: false } as const;
const Millis = Type.Integer({ minimum: 0, description: 'milliseconds since the epoch' });

export const ReviewStateSchema = Type.Union([
  Type.Literal('pending'),
  Type.Literal('approved'),
  Type.Literal('rejected'),
  Type.Literal('expired'),
  Type.Literal('executed'),
  Type.Literal('failed'),
]);

export const ReviewItemSchema = Type.Object(
  {
    id: Type.String(),
    state: ReviewStateSchema,
    site: Type.String(),
    gateway: Type.String(),
    priority: Type.Number({ minimum: 0, maximum: 100, description: 'higher first' }),
    source: Type.Union([Type.Literal('gateway'), Type.Literal('hub')]),
    sourceAgent: Type.Optional(Type.String()),
    actionClass: Type.String(),
    action: ActionSchema,
    modifiedAction: Type.Optional(ActionSchema),
    confidence: Type.Number(),
    rationale: Type.String(),
    evidence: Type.Record(Type.String(), Type.Unknown(), { description: 'telemetry windows [{device, point, samples: [{ts, value}]}], votes, dissent' }),
    createdAt: Millis,
    expiresAt: Millis,
    decidedBy: Type.Optional(Type.String()),
    decidedAt: Type.Optional(Millis),
    reason: Type.Optional(Type.String()),
    commandId: Type.Optional(Type.String()),
    version: Type.Integer(),
  },
  strict,
);
