/**
 * A detector prior: what one point's anomaly detector has learned, in a portable, versioned and
 * size-bounded document, so a new gateway (or a new point) on the same equipment starts from what
 * its peers learned instead of from nothing. Carries the forecaster (weights and normalisation),
 * the calibration of each surprise (its history, thinned, and fitted location/scale), a bounded
 * sample of remembered shapes and the operating range; never the readings themselves beyond what
 * the calibration and the shapes need. The gateway builds and loads it (edge/analytics/prior.ts);
 * the hub validates the same schema when it stores and serves priors.
 */
import { Type, type Static } from '@sinclair/typebox';

export const DETECTOR_PRIOR_VERSION = 1;
/** Upper bound of one encoded prior (it travels in one MQTT payload of at most MAX_PAYLOAD_BYTES, with its envelope). */
export const DETECTOR_PRIOR_MAX_BYTES = 240 * 1024;
/** Calibration history kept per signal in a prior. */
export const PRIOR_HISTORY_MAX = 500;
/** Pattern vectors kept per novelty scale in a prior. */
export const PRIOR_PATTERNS_MAX = 250;

const strict = { additionalProperties: false } as const;
const Finite = Type.Number({ minimum: -1e300, maximum: 1e300 });
const Positive = Type.Number({ exclusiveMinimum: 0, maximum: 1e300 });

export const PriorModelSchema = Type.Object(
  {
    inputSize: Type.Integer({ minimum: 1, maximum: 256 }),
    hidden: Type.Integer({ minimum: 1, maximum: 256 }),
    w1: Type.Array(Finite, { maxItems: 256 * 256 }),
    b1: Type.Array(Finite, { maxItems: 256 }),
    w2: Type.Array(Finite, { maxItems: 256 }),
    b2: Finite,
    mean: Finite,
    std: Positive,
    dayLag: Type.Integer({ minimum: 0 }),
    weekLag: Type.Integer({ minimum: 0 }),
    trainedOn: Type.Integer({ minimum: 0 }),
    loss: Type.Number({ minimum: 0 }),
  },
  { ...strict, description: 'The forecaster: one hidden ReLU layer, w1 inputSize × hidden row-major, values normalised by mean/std' },
);

export const PriorCalibrationSchema = Type.Object(
  {
    history: Type.Array(Type.Number({ minimum: 0, maximum: 1e300 }), { minItems: 1, maxItems: PRIOR_HISTORY_MAX, description: 'Surprises of normal operation, oldest first: the calibration history thinned evenly, newest kept' }),
    mean1: Finite,
    std1: Positive,
    meanK: Finite,
    stdK: Positive,
    evt1: Type.Tuple([Finite, Positive]),
    evtK: Type.Tuple([Finite, Positive]),
  },
  { ...strict, description: 'The calibration of one surprise (likelihood.ts): its recent distribution and the fitted location/scale' },
);

export const PriorPatternsSchema = Type.Object(
  {
    window: Type.Integer({ minimum: 1, maximum: 256 }),
    step: Type.Integer({ minimum: 1, maximum: 256 }),
    vectors: Type.Array(Finite, { maxItems: PRIOR_PATTERNS_MAX * 256, description: 'Remembered shapes (block means), window numbers each, oldest first' }),
    calibration: PriorCalibrationSchema,
  },
  strict,
);

export const DetectorPriorSchema = Type.Object(
  {
    kind: Type.Literal('swarmgate.detector-prior'),
    version: Type.Literal(DETECTOR_PRIOR_VERSION),
    createdAt: Type.Integer({ minimum: 0, description: 'ms since epoch' }),
    readings: Type.Integer({ minimum: 0, description: 'Readings the learning came from' }),
    intervalMs: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1e12, description: 'Median time between the readings it learned from (ms): its lags and shapes are counted in readings, so a point read at another rate gains nothing from it' })),
    spanMs: Type.Optional(Type.Number({ minimum: 0, maximum: 1e15, description: 'Time its remembered shapes cover (ms): a new point judges novelty at once only when they cover a day; until then, for the rest of the day' })),
    range: Type.Tuple([Finite, Finite], { description: 'Lowest and highest value seen' }),
    model: Type.Optional(PriorModelSchema),
    forecast: PriorCalibrationSchema,
    patterns: Type.Array(PriorPatternsSchema, { minItems: 1, maxItems: 2, description: 'Pattern novelty per scale (short, then long)' }),
  },
  { ...strict, description: 'What one point\'s anomaly detector has learned, portable between gateways' },
);

export type PriorModel = Static<typeof PriorModelSchema>;
export type PriorCalibration = Static<typeof PriorCalibrationSchema>;
export type PriorPatterns = Static<typeof PriorPatternsSchema>;
export type DetectorPrior = Static<typeof DetectorPriorSchema>;


/**
 * The fleet key of a point's prior: the same equipment's same point on every gateway. From the
 * profile's name and the point name (`profile:ahu-modbus#supply_air_temp`), or, for points of
 * different profiles that mean the same, from their Haystack markers and unit
 * (`tags:air,discharge,sensor,temp|degC`). Both sides compute it with this function.
 */
export function priorKey(of: { readonly profile: string; readonly point: string } | { readonly markers: readonly string[]; readonly unit: string }): string {
  if ('profile' in of) return `profile:${of.profile}#${of.point}`;
  return `tags:${[...new Set(of.markers)].sort().join(',')}|${of.unit}`;
}

export const PriorKeySchema = Type.String({ minLength: 3, maxLength: 300, pattern: '^(profile|tags):[^\\u0000-\\u001f]+$', description: 'Fleet key of the point (priorKey): profile:<profile>#<point> or tags:<markers>|<unit>' });

/** Gateway to hub on `prior`: what one point's detector learned, under the point's fleet key. */
export const PriorMessageSchema = Type.Object(
  {
    v: Type.Literal(1),
    key: PriorKeySchema,
    device: Type.String({ minLength: 1, maxLength: 128 }),
    point: Type.String({ minLength: 1, maxLength: 128 }),
    prior: DetectorPriorSchema,
  },
  { ...strict, description: 'A detector prior published by a gateway that shares (analytics.fleetLearning)' },
);
export type PriorMessage = Static<typeof PriorMessageSchema>;

/** Most keys one prior/request names (a gateway's points waiting for a prior). */
export const PRIOR_REQUEST_MAX_KEYS = 500;

/** Gateway to hub on `prior/request`: the keys whose fleet prior this gateway's new points wait for. */
export const PriorRequestSchema = Type.Object(
  {
    v: Type.Literal(1),
    keys: Type.Array(PriorKeySchema, { minItems: 1, maxItems: PRIOR_REQUEST_MAX_KEYS, uniqueItems: true }),
    have: Type.Optional(
      Type.Array(Type.Object({ key: PriorKeySchema, version: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }) }, strict), {
        maxItems: PRIOR_REQUEST_MAX_KEYS,
        description: 'Fleet prior versions this gateway already has for keys it names (one that fitted none of its points): the hub answers those keys only with a newer version',
      }),
    ),
  },
  { ...strict, description: 'Fleet priors a gateway that uses them (analytics.fleetLearning.use) waits for' },
);
export type PriorRequest = Static<typeof PriorRequestSchema>;

/** Hub to gateway on `prior/fleet`: the fleet prior of one key (hub/priors builds it from the sharing gateways' priors). */
export const FleetPriorMessageSchema = Type.Object(
  {
    v: Type.Literal(1),
    key: PriorKeySchema,
    version: Type.Integer({ minimum: 1, maximum: 2_147_483_647, description: 'Fleet prior version of this key (increases with each rebuild that changes it)' }),
    members: Type.Integer({ minimum: 1, maximum: 2_147_483_647, description: 'Gateways\' priors it was built from' }),
    prior: DetectorPriorSchema,
  },
  { ...strict, description: 'The fleet prior of one key, for a gateway whose new points start from it' },
);
export type FleetPriorMessage = Static<typeof FleetPriorMessageSchema>;

/**
 * What the schema cannot say about a prior that passed it: its encoded size beyond
 * DETECTOR_PRIOR_MAX_BYTES. Undefined when fine; the hub quarantines a prior with a problem.
 */
export function priorSizeProblem(prior: DetectorPrior): string | undefined {
  const bytes = Buffer.byteLength(JSON.stringify(prior));
  return bytes > DETECTOR_PRIOR_MAX_BYTES ? `/prior: ${bytes} bytes exceeds the detector prior limit of ${DETECTOR_PRIOR_MAX_BYTES}` : undefined;
}
