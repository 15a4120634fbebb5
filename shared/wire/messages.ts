/**
 * Schemas of every message on the wire between gateways and the hub. Both sides validate with
 * these; types derive from them. `v` is the message format version (bump on breaking change).
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { ReleaseManifestSchema, ReleaseVersionSchema } from '../release/manifest.js';
import { FleetPriorMessageSchema, PriorMessageSchema, PriorRequestSchema } from './detector-prior.js';

const strict = { additionalProperties: false } as const;
const Id = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$' });
const PointName = Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$' });
/** A Project Haystack tag name (edge/config/haystack.ts holds the vocabulary). */
const Marker = Type.String({ pattern: '^[a-z][a-zA-Z0-9_]{0,31}$' });
/**
 * Every number on the wire is bounded by what both stores hold (PostgreSQL BIGINT / float8, SQLite
 * INTEGER / REAL, JavaScript's exact integers) and by what is physically sensible: timestamps lie
 * between the epoch and 2100 (the hub further checks readings against a window around its own
 * clock, see hub/ingest/plausibility.ts), counters and sequence numbers are exact integers.
 */
export const MAX_TS = Date.UTC(2100, 0, 1);
/** Largest integer both sides represent exactly (and far inside BIGINT). */
export const MAX_COUNT = Number.MAX_SAFE_INTEGER;
/**
 * Point values: finite doubles are what the stores keep; JSON cannot carry NaN or infinities; text
 * holds no NUL (U+0000), which PostgreSQL's text cannot store.
 */
export const MAX_ABS_VALUE = 1e300;
const Millis = Type.Integer({ minimum: 0, maximum: MAX_TS, description: 'milliseconds since the epoch, before 2100' });
const Count = (description?: string) => Type.Integer({ minimum: 0, maximum: MAX_COUNT, ...(description ? { description } : {}) });
const Uuid = Type.String({ minLength: 8, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });

export const QualitySchema = Type.Union([Type.Literal('good'), Type.Literal('uncertain'), Type.Literal('bad')]);
export const PointValueSchema = Type.Union([Type.Number({ minimum: -MAX_ABS_VALUE, maximum: MAX_ABS_VALUE }), Type.Boolean(), Type.String({ maxLength: 1024, pattern: '^[^\\u0000]*$' })]);

/** One reading, compact keys (telemetry is the bulk of the traffic). */
export const WireReadingSchema = Type.Object(
  {
    d: Id,
    p: PointName,
    v: Type.Union([PointValueSchema, Type.Null()]),
    q: QualitySchema,
    ts: Millis,
    c: Type.Optional(Type.String({ maxLength: 512, description: 'cause of a bad/uncertain quality' })),
  },
  strict,
);

export const TelemetryBatchSchema = Type.Object(
  {
    v: Type.Literal(1),
    gateway: Id,
    bootId: Uuid,
    seq: Count('per boot, +1 per batch; (gateway, bootId, seq) identifies a batch'),
    sentAt: Millis,
    historical: Type.Boolean({ description: 'true when replayed from the outbox after an outage' }),
    readings: Type.Array(WireReadingSchema, { minItems: 1, maxItems: 5000 }),
  },
  strict,
);

/** Left where the outbox had to drop data: the hub sees the hole instead of silently missing it. */
export const GapRecordSchema = Type.Object(
  {
    v: Type.Literal(1),
    gateway: Id,
    bootId: Uuid,
    fromSeq: Count(),
    toSeq: Count(),
    readingsDropped: Count(),
    fromTs: Millis,
    toTs: Millis,
    /**
     * Why the batches were dropped: outbox-size / outbox-age: never acknowledged by the broker, so
     * lost. outbox-size-unconfirmed / outbox-age-unconfirmed: the broker had acknowledged them but
     * the hub's stored receipt never came, so the hub may have stored them (the hub's gaps API counts
     * those it has: storedBatches). outbox-write-failed: the outbox could not be written (failing or read-only disk)
     * and the readings were dropped from memory. refused: the broker kept closing the connection on
     * the batch (ACL, message size limit) and the gateway set it aside in its dead-letter table, from
     * where a technician may re-queue it (`swarmgate edge dead-letters`): the hub may still get it
     * then, stores it once and counts it in the record's storedBatches.
     */
    reason: Type.Union([
      Type.Literal('outbox-size'),
      Type.Literal('outbox-age'),
      Type.Literal('outbox-size-unconfirmed'),
      Type.Literal('outbox-age-unconfirmed'),
      Type.Literal('outbox-write-failed'),
      Type.Literal('refused'),
    ]),
    ts: Millis,
  },
  strict,
);

/** Limits a write must keep, in engineering units (either may be absent). */
export const WriteLimitsSchema = Type.Object({ min: Type.Optional(Type.Number()), max: Type.Optional(Type.Number()) }, strict);

export const DeviceStatusSchema = Type.Object(
  {
    id: Id,
    protocol: Type.String(),
    state: Type.Union([Type.Literal('starting'), Type.Literal('up'), Type.Literal('down'), Type.Literal('stopped')]),
    /** Engineering units of the device's points, from its profile (points without a unit are absent). */
    units: Type.Optional(Type.Record(PointName, Type.String({ maxLength: 32 }), { maxProperties: 1000 })),
    /** Project Haystack markers of the device's points, from its profile ("point" implied; untagged points are absent). */
    tags: Type.Optional(Type.Record(PointName, Type.Array(Marker, { minItems: 1, maxItems: 16 }), { maxProperties: 1000 })),
    /**
     * The device's writable points and their write limits (profile and site), so the hub can refuse
     * a write the gateway would refuse; points absent are read-only. Absent from gateways older than
     * this field: the hub then knows nothing of writability.
     */
    writable: Type.Optional(Type.Record(PointName, WriteLimitsSchema, { maxProperties: 1000 })),
  },
  strict,
);

export const HealthStatusSchema = Type.Union([Type.Literal('ok'), Type.Literal('warn'), Type.Literal('critical')]);

/** One verdict of the gateway's health agent (edge/health/checks.ts). */
export const HealthCheckSchema = Type.Object(
  {
    name: Type.Union([Type.Literal('event-loop'), Type.Literal('memory'), Type.Literal('disk'), Type.Literal('outbox'), Type.Literal('devices'), Type.Literal('clock')]),
    status: HealthStatusSchema,
    detail: Type.String({ maxLength: 300 }),
  },
  strict,
);

export const GatewayHealthSchema = Type.Object(
  {
    outboxDepth: Count(),
    outboxBytes: Count(),
    rssBytes: Count(),
    uptimeS: Type.Number({ minimum: 0, maximum: 1e10 }),
    /**
     * Messages the broker kept refusing, set aside in the gateway's outbox dead-letter table for a
     * technician to re-queue or drop (`swarmgate edge dead-letters`): how many, their payload bytes
     * and when the oldest was set aside. Absent when there are none, and from gateways older than
     * this field.
     */
    deadLetters: Type.Optional(Type.Object({ count: Count(), bytes: Count(), oldestSetAsideAt: Millis }, strict)),
    /** The health agent's checks (absent when it is off); `status` is the worst of them. */
    status: Type.Optional(HealthStatusSchema),
    checks: Type.Optional(Type.Array(HealthCheckSchema, { maxItems: 16 })),
  },
  strict,
);

/** Retained birth message; the broker publishes the will (status offline) when the gateway is lost. */
export const GatewayStateSchema = Type.Object(
  {
    v: Type.Literal(1),
    gateway: Id,
    site: Id,
    status: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
    ts: Millis,
    bootId: Type.Optional(Uuid),
    version: Type.Optional(Type.String({ maxLength: 64 })),
    devices: Type.Optional(Type.Array(DeviceStatusSchema, { maxItems: 1000 })),
    health: Type.Optional(GatewayHealthSchema),
  },
  strict,
);

export const EventSchema = Type.Object(
  {
    v: Type.Literal(1),
    id: Uuid,
    gateway: Id,
    ts: Millis,
    kind: Type.Union([Type.Literal('anomaly'), Type.Literal('local-action'), Type.Literal('rule'), Type.Literal('device'), Type.Literal('system')]),
    severity: Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('critical')]),
    device: Type.Optional(Id),
    point: Type.Optional(PointName),
    message: Type.String({ maxLength: 2000 }),
    data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  strict,
);

/** value null relinquishes: releases the gateway's command so the device's own logic takes over (BACnet priorities). */
export const WriteValueSchema = Type.Union([PointValueSchema, Type.Null({ description: 'relinquish the command (drivers with command priorities only)' })]);
export const WriteActionSchema = Type.Object({ kind: Type.Literal('write'), device: Id, point: PointName, value: WriteValueSchema }, strict);
export const ModeActionSchema = Type.Object(
  { kind: Type.Literal('mode'), mode: Type.Union([Type.Literal('auto'), Type.Literal('manual'), Type.Literal('maintenance')]) },
  strict,
);
export const ActionSchema = Type.Union([WriteActionSchema, ModeActionSchema]);

export const CommandSchema = Type.Object(
  {
    v: Type.Literal(1),
    id: Uuid,
    ts: Millis,
    expiresAt: Type.Optional(Millis),
    origin: Type.String({ maxLength: 128, description: 'who asked: user, agent or integration' }),
    action: ActionSchema,
  },
  strict,
);

export const CommandAckSchema = Type.Object(
  {
    v: Type.Literal(1),
    id: Uuid,
    ts: Millis,
    status: Type.Union([Type.Literal('delivered'), Type.Literal('applied'), Type.Literal('rejected')]),
    code: Type.Optional(Type.String({ maxLength: 64 })),
    reason: Type.Optional(Type.String({ maxLength: 1000 })),
    /** true when this id had been applied before: the retry was acknowledged, not applied again. */
    duplicate: Type.Optional(Type.Boolean()),
  },
  strict,
);

/**
 * What every proposed decision carries, on either side of the wire (an edge strategy's proposal, a
 * hub agent's proposal) and in a review request: how sure, why, and on what evidence.
 */
export const ProposalBasisSchema = Type.Object(
  {
    confidence: Type.Number({ minimum: 0, maximum: 1 }),
    rationale: Type.String({ maxLength: 4000 }),
    evidence: Type.Record(Type.String(), Type.Unknown()),
  },
  strict,
);

/** A gateway's recommendation below its local confidence threshold, for a technician to review. */
export const ReviewRequestSchema = Type.Object(
  {
    v: Type.Literal(1),
    id: Uuid,
    gateway: Id,
    ts: Millis,
    expiresAt: Millis,
    actionClass: Type.String({ maxLength: 64 }),
    action: ActionSchema,
    ...ProposalBasisSchema.properties,
  },
  strict,
);

export const ConfigDocumentSchema = Type.Object(
  {
    v: Type.Literal(1),
    version: Count(),
    ts: Millis,
    config: Type.Record(Type.String(), Type.Unknown()),
  },
  strict,
);

/**
 * The hub's receipt for what it has stored (journaled or committed, or kept in quarantine): sent
 * to swarmgate/v1/<site>/<gateway>/stored. A gateway deletes a message from its outbox only on
 * this receipt, never on the broker's PUBACK alone, so a broker that loses what it
 * acknowledged (restart, crash, a lost subscription) costs a resend, not the data.
 */
/** A messageDigest (digest.ts): 12 bytes of SHA-256, base64url. */
export const DIGEST_PATTERN = '^[A-Za-z0-9_-]{16}$';

export const StoredReceiptSchema = Type.Object(
  {
    v: Type.Literal(1),
    ts: Millis,
    /** Inclusive ranges of batch seqs per boot. */
    batches: Type.Array(Type.Object({ bootId: Uuid, from: Count(), to: Count() }, strict), { maxItems: 5000 }),
    /** Other messages (events, gaps, reviews, acks, reported configs) by messageDigest of their payload. */
    messages: Type.Optional(Type.Array(Type.String({ pattern: DIGEST_PATTERN }), { maxItems: 5000 })),
  },
  strict,
);

/**
 * Software update, hub to gateway (retained on update/desired; an empty payload clears it): install
 * this signed release, downloaded from `url` with the bearer `token`. The gateway verifies the
 * manifest against its pinned fleet key and the download against the manifest before unpacking.
 */
export const UpdateDesiredSchema = Type.Object(
  {
    v: Type.Literal(1),
    deployment: Uuid,
    ts: Millis,
    manifest: ReleaseManifestSchema,
    url: Type.String({ maxLength: 2048, pattern: '^https?://' }),
    token: Type.String({ minLength: 16, maxLength: 128, pattern: '^[A-Za-z0-9_-]+$' }),
    downgrade: Type.Optional(Type.Literal(true, { description: 'the deployment asks for an older release than the gateway runs (a fleet going back): without it, a gateway refuses one' })),
  },
  strict,
);

export const UpdateStateSchema = Type.Union([
  Type.Literal('downloading'),
  Type.Literal('installing'),
  Type.Literal('restarting'),
  Type.Literal('checking'),
  Type.Literal('healthy'),
  Type.Literal('rolled-back'),
  Type.Literal('failed'),
]);

/** Progress of one gateway's update, gateway to hub on update/status (through the outbox). */
export const UpdateStatusSchema = Type.Object(
  {
    v: Type.Literal(1),
    gateway: Id,
    deployment: Uuid,
    /** The release being installed. */
    version: ReleaseVersionSchema,
    /** What ran before it (absent when unknown). */
    from: Type.Optional(Type.String({ maxLength: 64 })),
    state: UpdateStateSchema,
    ts: Millis,
    /** SwarmgateError code of a failure or rollback. */
    code: Type.Optional(Type.String({ maxLength: 64 })),
    reason: Type.Optional(Type.String({ maxLength: 1000 })),
    bytes: Type.Optional(Count()),
  },
  strict,
);

/** Plain per-point value for building systems (retained). */
export const PointValueMessageSchema = Type.Object(
  { v: Type.Union([PointValueSchema, Type.Null()]), ts: Millis, q: QualitySchema, unit: Type.Optional(Type.String()) },
  strict,
);
export const PointSetMessageSchema = Type.Object({ v: PointValueSchema }, strict);

/** A point's value as both sides know it (null on the wire where a reading is bad). */
export type PointValue = Static<typeof PointValueSchema>;
/** A write's value: a point value, or null to relinquish. */
export type WriteValue = Static<typeof WriteValueSchema>;
/** How far a reading can be trusted: data, never an exception. */
export type Quality = Static<typeof QualitySchema>;
export type WireReading = Static<typeof WireReadingSchema>;
export type TelemetryBatch = Static<typeof TelemetryBatchSchema>;
export type GapRecord = Static<typeof GapRecordSchema>;
export type GatewayState = Static<typeof GatewayStateSchema>;
export type GatewayHealth = Static<typeof GatewayHealthSchema>;
export type HealthCheck = Static<typeof HealthCheckSchema>;
export type HealthStatus = Static<typeof HealthStatusSchema>;
export type GatewayEvent = Static<typeof EventSchema>;
export type Action = Static<typeof ActionSchema>;
export type Command = Static<typeof CommandSchema>;
export type CommandAck = Static<typeof CommandAckSchema>;
export type ProposalBasis = Static<typeof ProposalBasisSchema>;
export type ReviewRequest = Static<typeof ReviewRequestSchema>;
export type ConfigDocument = Static<typeof ConfigDocumentSchema>;
export type PointValueMessage = Static<typeof PointValueMessageSchema>;
export type PointSetMessage = Static<typeof PointSetMessageSchema>;
export type StoredReceipt = Static<typeof StoredReceiptSchema>;
export type UpdateDesired = Static<typeof UpdateDesiredSchema>;
export type UpdateStatus = Static<typeof UpdateStatusSchema>;
export type UpdateState = Static<typeof UpdateStateSchema>;

/** Which schema validates which channel (the part of the topic after the gateway prefix). */
export const CHANNEL_SCHEMAS = {
  telemetry: TelemetryBatchSchema,
  gaps: GapRecordSchema,
  state: GatewayStateSchema,
  events: EventSchema,
  reviews: ReviewRequestSchema,
  commands: CommandSchema,
  'commands/ack': CommandAckSchema,
  'config/desired': ConfigDocumentSchema,
  'config/reported': ConfigDocumentSchema,
  stored: StoredReceiptSchema,
  'update/desired': UpdateDesiredSchema,
  'update/status': UpdateStatusSchema,
  prior: PriorMessageSchema,
  'prior/request': PriorRequestSchema,
  'prior/fleet': FleetPriorMessageSchema,
} as const satisfies Record<string, TSchema>;
