/**
 * The `rules` section of the gateway config: declarative local rules, the outputs they drive (safe
 * state, rate limit) and interlocks checked on every write. Conditions and actions are flat
 * objects selected by `kind` (not schema unions) so a typo is reported at its exact field; what
 * a kind needs is checked afterwards by compile.ts, which names the rule and the field.
 */
import { Type, type Static, type TObject } from '@sinclair/typebox';
import { PointRefSchema, splitRef } from '../../drivers/point-ref.js';

export { PointRefSchema, splitRef };

const strict = { additionalProperties: false } as const;

const RuleIdSchema = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$', description: 'Name: letters, digits, "_" and "-"' });
const ValueSchema = Type.Union([Type.Number(), Type.Boolean(), Type.String({ maxLength: 1024 })], { description: 'A point value: number, boolean or string' });

export const CONDITION_KINDS = ['above', 'below', 'equals', 'range', 'rate', 'anomaly', 'bad', 'all', 'any', 'not'] as const;
export type ConditionKind = (typeof CONDITION_KINDS)[number];

/** How deep all/any/not may nest (a flat schema per level keeps editor hints and errors precise). */
export const MAX_CONDITION_DEPTH = 3;

function conditionSchema(depth: number): TObject {
  return Type.Object(
    {
      kind: Type.Union(
        CONDITION_KINDS.map((k) => Type.Literal(k)),
        {
          description:
            'above/below: threshold with hysteresis (on, off); equals: point == value; range: min <= point <= max; rate: change per minute over windowS (above/below); anomaly: anomaly score above; bad: point or device quality bad (or missing/stale); all/any/not: combine `of`',
        },
      ),
      point: Type.Optional(PointRefSchema),
      device: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$', description: 'bad: the whole device (every point bad)' })),
      on: Type.Optional(Type.Number({ description: 'above/below: becomes true beyond this level' })),
      off: Type.Optional(Type.Number({ description: 'above/below: becomes false again only beyond this level (hysteresis); default: on' })),
      value: Type.Optional(ValueSchema),
      min: Type.Optional(Type.Number({ description: 'range: lowest value that satisfies the condition' })),
      max: Type.Optional(Type.Number({ description: 'range: highest value that satisfies the condition' })),
      above: Type.Optional(Type.Number({ description: 'rate: units per minute; anomaly: score in [0,1]' })),
      below: Type.Optional(Type.Number({ description: 'rate: units per minute (negative = falling)' })),
      windowS: Type.Optional(Type.Number({ minimum: 1, description: 'rate: window the change is measured over, seconds (default 300)' })),
      forS: Type.Optional(Type.Number({ minimum: 0, description: 'true only after the condition has held for this many seconds' })),
      ...(depth > 0 ? { of: Type.Optional(Type.Array(conditionSchema(depth - 1), { minItems: 1, description: 'all/any: conditions to combine; not: exactly one' })) } : {}),
    },
    { ...strict, description: 'A condition on point values, quality or anomaly scores' },
  );
}

export const ConditionSchema = conditionSchema(MAX_CONDITION_DEPTH);

export const ActionSchema = Type.Object(
  {
    write: Type.Optional(PointRefSchema),
    value: Type.Optional(ValueSchema),
    event: Type.Optional(Type.String({ minLength: 1, maxLength: 2000, description: 'Raise an event with this message' })),
    severity: Type.Optional(Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('critical')], { description: 'Event severity (default warning)' })),
  },
  { ...strict, description: 'Either { write: device/point, value } (Modbus, OPC UA, GPIO relay alike) or { event: message, severity }' },
);

export const RuleSchema = Type.Object(
  {
    name: RuleIdSchema,
    description: Type.Optional(Type.String()),
    enabled: Type.Optional(Type.Boolean({ default: true })),
    priority: Type.Optional(Type.Integer({ default: 0, description: 'When two rules want the same output, the higher priority wins' })),
    when: ConditionSchema,
    then: Type.Array(ActionSchema, { minItems: 1, description: 'Writes held while the condition is true; events raised when it becomes true' }),
    else: Type.Optional(Type.Array(ActionSchema, { description: 'Writes held while the condition is false; events raised when it becomes false' })),
  },
  strict,
);

export const OutputSchema = Type.Object(
  {
    point: PointRefSchema,
    safeValue: Type.Optional(ValueSchema),
    rateLimit: Type.Optional(
      Type.Object(
        {
          max: Type.Integer({ minimum: 1, description: 'At most this many writes...' }),
          periodS: Type.Number({ minimum: 1, description: '...per this many seconds' }),
        },
        strict,
      ),
    ),
    inputs: Type.Optional(Type.Array(PointRefSchema, { description: 'Extra inputs whose loss sends the output to its safe value' })),
    reassert: Type.Optional(
      Type.Boolean({
        default: true,
        description: 'Write the output again when it reads back other than written with nobody writing it (false: for points whose read-back differs by design, e.g. a status, not the command)',
      }),
    ),
  },
  { ...strict, description: 'An output driven by rules: its safe value (applied when the inputs of the rules driving it go bad or its device is lost) and rate limit' },
);

export const InterlockSchema = Type.Object(
  {
    name: RuleIdSchema,
    point: PointRefSchema,
    value: Type.Optional(Type.Union(ValueSchema.anyOf, { description: 'Only writes of this value are refused: while `when` holds, or always without `when`' })),
    when: Type.Optional(conditionSchema(MAX_CONDITION_DEPTH - 1)),
    min: Type.Optional(Type.Number({ description: 'While `when` holds, writes below this are refused' })),
    max: Type.Optional(Type.Number({ description: 'While `when` holds, writes above this are refused' })),
    onUnknown: Type.Optional(Type.Union([Type.Literal('refuse'), Type.Literal('allow')], { default: 'refuse', description: 'What to do when an input of `when` is bad or missing' })),
    message: Type.Optional(Type.String({ maxLength: 500 })),
  },
  {
    ...strict,
    description:
      'Checked on every write of `point` (hub command, rule, advisor, operator): while `when` holds, the write is refused (or, with min/max, refused outside them)',
  },
);

export const RulesConfigSchema = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean({ default: true })),
    evaluateEveryMs: Type.Optional(Type.Integer({ minimum: 50, default: 1000, description: 'Period of the evaluation that drives durations and staleness (rules also run on each new reading)' })),
    startupGraceS: Type.Optional(Type.Number({ minimum: 0, default: 30, description: 'Inputs not read yet count as bad only after this long' })),
    staleAfterS: Type.Optional(Type.Number({ minimum: 1, description: 'A reading older than this counts as bad; default: never (on-change points may be quiet for long)' })),
    list: Type.Optional(Type.Array(RuleSchema, { description: 'The rules' })),
    outputs: Type.Optional(Type.Array(OutputSchema)),
    interlocks: Type.Optional(Type.Array(InterlockSchema)),
  },
  { ...strict, description: 'Local rules: run on the gateway, with or without the hub' },
);

export type PointRef = Static<typeof PointRefSchema>;
export type ConditionConfig = {
  readonly kind: ConditionKind;
  readonly point?: string;
  readonly device?: string;
  readonly on?: number;
  readonly off?: number;
  readonly value?: number | boolean | string;
  readonly min?: number;
  readonly max?: number;
  readonly above?: number;
  readonly below?: number;
  readonly windowS?: number;
  readonly forS?: number;
  readonly of?: readonly ConditionConfig[];
};
export type ActionConfig = Static<typeof ActionSchema>;
export type RuleConfig = Omit<Static<typeof RuleSchema>, 'when'> & { readonly when: ConditionConfig };
export type OutputConfig = Static<typeof OutputSchema>;
export type InterlockConfig = Omit<Static<typeof InterlockSchema>, 'when'> & { readonly when?: ConditionConfig };
export type RulesConfig = Omit<Static<typeof RulesConfigSchema>, 'list' | 'interlocks'> & {
  readonly list?: readonly RuleConfig[];
  readonly interlocks?: readonly InterlockConfig[];
};

