/**
 * Config section of the gateway's on-device analytics (`analytics`): which points the anomaly
 * monitor (edge/decisions/anomaly-monitor.ts) scores and how it turns scores into events.
 */
import { Type, type Static } from '@sinclair/typebox';
import { PointRefSchema } from '../drivers/point-ref.js';

const strict = { additionalProperties: false } as const;
const Score = (description: string, dflt?: number) => Type.Number({ minimum: 0, maximum: 1, description, ...(dflt !== undefined ? { default: dflt } : {}) });

export const AnalyticsPointSchema = Type.Object(
  {
    point: PointRefSchema,
    intervalMs: Type.Optional(
      Type.Integer({
        minimum: 100,
        description:
          'Score the latest good value every intervalMs instead of every sample. Use it for points read by subscription (OPC UA, GPIO: no sample while the value does not change, so a stuck sensor would go unseen) and to keep about a day inside the detector history (about 30 s or more)',
      }),
    ),
    threshold: Type.Optional(Score('Score at which this point raises an anomaly event; default analytics.threshold')),
    envelope: Type.Optional(Type.Boolean({ description: 'Check the learned operating range (default true; false for counters and totals)' })),
    flatline: Type.Optional(Type.Boolean({ description: 'Check for a value stuck far longer than ever seen (default true)' })),
  },
  strict,
);

export const FleetLearningSchema = Type.Object(
  {
    share: Type.Optional(Type.Boolean({ default: false, description: 'Publish what each point\'s detector learned (its prior) to the hub once it scores, then at most every shareEveryS: it helps build the fleet prior of its key' })),
    use: Type.Optional(Type.Boolean({ default: false, description: 'A point whose detector has no saved state of its own starts from the fleet prior of its key when the hub has one, then learns its own; a saved state is never replaced' })),
    key: Type.Optional(
      Type.Union([Type.Literal('profile'), Type.Literal('tags')], {
        default: 'profile',
        description: 'What makes points "the same" across gateways: profile = the profile and point name; tags = the point\'s Haystack markers and unit (points of different profiles that mean the same; a point without tags or unit keeps its profile key)',
      }),
    ),
    shareEveryS: Type.Optional(Type.Integer({ minimum: 600, default: 21_600, description: 'Least time between two priors of one point' })),
    requestEveryS: Type.Optional(Type.Integer({ minimum: 60, default: 600, description: 'How often points still waiting for a fleet prior ask the hub again' })),
  },
  { ...strict, description: 'Fleet learning through the hub (needs a federation section); both off by default' },
);

export const AnalyticsConfigSchema = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean({ default: true })),
    threshold: Type.Optional(Score('Calibrated score at which a point raises an anomaly event; score = -log10(tail probability)/24, so 0.25 ≈ once in a million readings of normal data. The default is strict on purpose: the learned-range and stuck-value checks catch slow faults', 0.9)),
    clearBelow: Type.Optional(Score('An incident ends once the score stays below this (hysteresis)', 0.3)),
    cooldownS: Type.Optional(Type.Number({ minimum: 0, default: 3600, description: 'No new anomaly event for a point this long after the last one' })),
    learningHours: Type.Optional(Type.Number({ minimum: 0, default: 24, description: 'Scores are computed but raise no event, and rules, the advisor and metrics get no score, until a point has been observed this long (the time between its readings: wall-clock steps and downtime do not count)' })),
    saveEveryS: Type.Optional(Type.Number({ minimum: 10, default: 600, description: 'Persist the learned models this often (and on stop)' })),
    envelopeMargin: Type.Optional(Type.Number({ minimum: 0, default: 0.5, description: 'Out of range when beyond the learned min/max by this fraction of the learned span' })),
    flatlineFactor: Type.Optional(Type.Number({ minimum: 1, default: 3, description: 'Stuck when unchanged this many times longer than the longest unchanged run learned' })),
    flatlineMinSamples: Type.Optional(Type.Integer({ minimum: 2, default: 20, description: 'Never call a value stuck before this many identical samples' })),
    detector: Type.Optional(
      Type.Object(
        {
          warmup: Type.Optional(Type.Integer({ minimum: 1 })),
          minTrain: Type.Optional(Type.Integer({ minimum: 10 })),
          retrainEvery: Type.Optional(Type.Integer({ minimum: 10 })),
          maxHistory: Type.Optional(Type.Integer({ minimum: 100 })),
          epochs: Type.Optional(Type.Integer({ minimum: 1, maximum: 50 })),
        },
        { ...strict, description: 'Detector budget (defaults from edge/analytics suit a Raspberry Pi 4)' },
      ),
    ),
    fleetLearning: Type.Optional(FleetLearningSchema),
    points: Type.Array(AnalyticsPointSchema, { description: 'Numeric points to score' }),
  },
  { ...strict, description: 'On-device anomaly detection per point' },
);

export type FleetLearningConfig = Static<typeof FleetLearningSchema>;
export type AnalyticsPointConfig = Static<typeof AnalyticsPointSchema>;
export type AnalyticsConfig = Static<typeof AnalyticsConfigSchema>;
