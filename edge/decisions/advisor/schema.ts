/**
 * Config section of the advisor (`advisor`: the optimisation loop, its strategies bound to points,
 * and the confidence policy per action class). Strategy kinds and their bindings are checked
 * against the strategy registry by edge/decisions/check.ts. The `analytics` section lives with
 * the analytics (edge/analytics/schema.ts).
 */
import { Type, type Static } from '@sinclair/typebox';
import { PointRefSchema } from '../../drivers/point-ref.js';

const strict = { additionalProperties: false } as const;
const Score = (description: string, dflt?: number) => Type.Number({ minimum: 0, maximum: 1, description, ...(dflt !== undefined ? { default: dflt } : {}) });

export const ActionClassPolicySchema = Type.Object(
  {
    threshold: Type.Optional(Score('Confidence at or above which a recommendation of this class may be applied locally')),
    allowLocal: Type.Optional(Type.Boolean({ description: 'false: always send for review, whatever the confidence' })),
  },
  strict,
);

export const StrategyConfigSchema = Type.Object(
  {
    kind: Type.String({ minLength: 1, description: 'Strategy kind (see edge/decisions/advisor/strategies/index.ts): fan-setback, freezer-protection, economizer' }),
    name: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$', description: 'Instance name (default: the kind)' })),
    enabled: Type.Optional(Type.Boolean({ default: true })),
    actionClass: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "Override the strategy's action class" })),
    bindings: Type.Record(Type.String({ pattern: '^[a-zA-Z][a-zA-Z0-9]{0,63}$' }), PointRefSchema, { description: 'Role → point, e.g. zoneTemperature: ahu1/return_air_temp' }),
    params: Type.Optional(Type.Record(Type.String(), Type.Union([Type.Number(), Type.Boolean(), Type.String()]), { description: 'Strategy parameters (see the strategy)' })),
  },
  strict,
);

export const AdvisorConfigSchema = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean({ default: true })),
    intervalS: Type.Optional(Type.Number({ minimum: 1, default: 300, description: 'How often the advisor looks at the facility' })),
    expiryS: Type.Optional(Type.Number({ minimum: 10, default: 900, description: 'How long a recommendation stays valid' })),
    threshold: Type.Optional(Score('Default confidence needed to apply locally', 0.8)),
    classes: Type.Optional(Type.Record(Type.String({ pattern: '^[a-z][a-z0-9-]{0,63}$' }), ActionClassPolicySchema, { description: 'Policy per action class (safety, energy, comfort, ...)' })),
    strategies: Type.Array(StrategyConfigSchema),
  },
  { ...strict, description: 'The optimisation loop: recommendations applied locally when confident and allowed, else sent for review' },
);

export type AdvisorConfig = Static<typeof AdvisorConfigSchema>;
export type StrategyConfig = Static<typeof StrategyConfigSchema>;
export type ActionClassPolicy = Static<typeof ActionClassPolicySchema>;
