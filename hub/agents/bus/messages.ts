/**
 * Typed messages between agents on the in-process bus: a discriminated union on `type`, each with
 * its own payload schema. The envelope says who sent it and how it is routed.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { VoteSchema } from '../types.js';

const strict = { additionalProperties: false } as const;
const AgentId = Type.String({ minLength: 1, maxLength: 128, description: 'agent id (or a role such as "coordinator")' });
const Ref = Type.String({ minLength: 1, maxLength: 128 });
const Severity = Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('critical')]);

export const RouteSchema = Type.Union([
  Type.Object({ mode: Type.Literal('direct'), to: AgentId }, strict),
  Type.Object(
    {
      mode: Type.Literal('multicast'),
      group: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'a named group joined with bus.join' })),
      to: Type.Optional(Type.Array(AgentId, { maxItems: 1000, description: 'explicit recipients' })),
    },
    strict,
  ),
  Type.Object({ mode: Type.Literal('broadcast') }, strict),
]);
export type Route = Static<typeof RouteSchema>;

const PAYLOADS = {
  'task-assignment': Type.Object(
    {
      taskId: Ref,
      description: Type.String({ maxLength: 2000 }),
      proposalId: Type.Optional(Ref),
      deadline: Type.Optional(Type.Integer({ minimum: 0 })),
    },
    strict,
  ),
  'progress-update': Type.Object(
    {
      taskId: Ref,
      progress: Type.Number({ minimum: 0, maximum: 1 }),
      status: Type.Union([Type.Literal('running'), Type.Literal('done'), Type.Literal('failed')]),
      note: Type.Optional(Type.String({ maxLength: 2000 })),
    },
    strict,
  ),
  'resource-request': Type.Object(
    { resource: Type.String({ maxLength: 256 }), amount: Type.Optional(Type.Number()), reason: Type.String({ maxLength: 2000 }) },
    strict,
  ),
  'collaboration-invite': Type.Object(
    { topic: Type.String({ maxLength: 256 }), proposalId: Type.Optional(Ref), deadline: Type.Optional(Type.Integer({ minimum: 0 })) },
    strict,
  ),
  'escalation-alert': Type.Object(
    {
      severity: Severity,
      subject: Type.String({ maxLength: 256 }),
      reason: Type.String({ maxLength: 4000 }),
      decisionId: Type.Optional(Ref),
      site: Type.Optional(Ref),
      evidence: Type.Record(Type.String(), Type.Unknown()),
    },
    strict,
  ),
  'knowledge-share': Type.Object({ topic: Type.String({ maxLength: 256 }), facts: Type.Record(Type.String(), Type.Unknown()) }, strict),
  'consensus-vote': Type.Object({ vote: VoteSchema }, strict),
  'emergency-broadcast': Type.Object(
    { severity: Severity, message: Type.String({ maxLength: 2000 }), site: Type.Optional(Ref), zone: Type.Optional(Ref) },
    strict,
  ),
} as const satisfies Record<string, TSchema>;

export type BusMessageType = keyof typeof PAYLOADS;
export const BUS_MESSAGE_TYPES = Object.keys(PAYLOADS) as BusMessageType[];

function envelope<K extends BusMessageType>(type: K) {
  return Type.Object(
    {
      id: Ref,
      type: Type.Literal(type),
      from: AgentId,
      route: RouteSchema,
      ts: Type.Integer({ minimum: 0 }),
      correlationId: Type.Optional(Ref),
      payload: PAYLOADS[type],
    },
    strict,
  );
}

export const BusMessageSchema = Type.Union([
  envelope('task-assignment'),
  envelope('progress-update'),
  envelope('resource-request'),
  envelope('collaboration-invite'),
  envelope('escalation-alert'),
  envelope('knowledge-share'),
  envelope('consensus-vote'),
  envelope('emergency-broadcast'),
]);

export type BusMessage = Static<typeof BusMessageSchema>;
export type BusMessageOf<K extends BusMessageType> = Extract<BusMessage, { type: K }>;
export type PayloadOf<K extends BusMessageType> = BusMessageOf<K>['payload'];

export const busMessageCheck = TypeCompiler.Compile(BusMessageSchema);
