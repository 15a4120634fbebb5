/** Response and parameter schemas shared by the API's plugins (they also make the OpenAPI document). */
import { Type } from '@sinclair/typebox';
import { ActionSchema, DeviceStatusSchema, EventSchema, GapRecordSchema, GatewayHealthSchema, QualitySchema } from '../../shared/wire/messages.js';
import { ReviewItemSchema, ReviewStateSchema } from '../review/schema.js';
import { IndexedPointSchema } from '../registry/points.js';

const strict = { additionalProperties: false } as const;
export const Millis = Type.Integer({ minimum: 0, description: 'milliseconds since the epoch' });
export const IdParam = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9_.:@-]*$' });
/** A stored value as the API returns it (null where the reading was bad). */
export const StoredValueSchema = Type.Union([Type.Number(), Type.Boolean(), Type.String(), Type.Null()]);
export const RoleSchema = Type.Union([Type.Literal('viewer'), Type.Literal('technician'), Type.Literal('admin')]);
export const Ok = Type.Object({ ok: Type.Literal(true) }, strict);
export { ActionSchema, ReviewItemSchema, ReviewStateSchema };

export const GatewaySchema = Type.Object(
  {
    gateway: Type.String(),
    site: Type.String(),
    status: Type.Union([Type.Literal('online'), Type.Literal('offline'), Type.Literal('unknown')]),
    firstSeen: Millis,
    lastSeen: Type.Union([Millis, Type.Null()]),
    stateTs: Type.Union([Millis, Type.Null()]),
    bootId: Type.Optional(Type.String()),
    version: Type.Optional(Type.String()),
    health: Type.Optional(GatewayHealthSchema),
    devices: Type.Optional(Type.Array(DeviceStatusSchema)),
    revoked: Type.Optional(
      Type.Object({ at: Millis, by: Type.String() }, { ...strict, description: 'Its enrollment was revoked: the broker refuses it (shown offline by the broker)' }),
    ),
  },
  strict,
);

export const ReadingSchema = Type.Object(
  { gateway: Type.String(), device: Type.String(), point: Type.String(), value: StoredValueSchema, quality: QualitySchema, ts: Millis, cause: Type.Optional(Type.String()) },
  strict,
);

export const StoredEventSchema = Type.Object(
  { ...EventSchema.properties, site: Type.String(), receivedAt: Millis },
  strict,
);

/** Where a gateway's outbox had to drop telemetry (full or too old): the seqs and readings lost. */
export const StoredGapSchema = Type.Object(
  {
    ...GapRecordSchema.properties,
    receivedAt: Millis,
    storedBatches: Type.Optional(
      Type.Integer({
        minimum: 0,
        description:
          'Batches of fromSeq..toSeq the hub stored after all (a re-queued dead letter; a batch an -unconfirmed record says the hub may have): readingsDropped counts them too. Absent once the readings are older than the raw retention',
      }),
    ),
  },
  strict,
);

export const CommandRecordSchema = Type.Object(
  {
    id: Type.String(),
    gateway: Type.String(),
    site: Type.String(),
    command: Type.Object(
      { v: Type.Literal(1), id: Type.String(), ts: Millis, expiresAt: Type.Optional(Millis), origin: Type.String(), action: ActionSchema },
      strict,
    ),
    status: Type.Union(['pending', 'delivered', 'applied', 'rejected', 'timed-out'].map((s) => Type.Literal(s))),
    attempts: Type.Integer(),
    createdAt: Millis,
    updatedAt: Millis,
    deadline: Type.Union([Millis, Type.Null()]),
    code: Type.Optional(Type.String()),
    reason: Type.Optional(Type.String()),
    duplicate: Type.Optional(Type.Boolean()),
    ackedAt: Type.Optional(Millis),
  },
  strict,
);

/** A queue entry: the item without its evidence (the detail route has it), so lists stay small. */
export const ReviewSummarySchema = Type.Object(
  Object.fromEntries(Object.entries(ReviewItemSchema.properties).filter(([k]) => k !== 'evidence')) as Omit<typeof ReviewItemSchema.properties, 'evidence'>,
  strict,
);

/** Who is signed in (GET /api/v1/auth/me). */
export const MeSchema = Type.Object({ name: Type.String(), role: RoleSchema, via: Type.Union([Type.Literal('session'), Type.Literal('token')]) }, strict);

/** A point's history: raw samples, or buckets when the span is long (whole buckets: the first and last count all their readings, also those outside from..to). */
export const HistorySchema = Type.Object(
  {
    gateway: Type.String(),
    device: Type.String(),
    point: Type.String(),
    from: Millis,
    to: Millis,
    bucketMs: Type.Integer({ description: '0 when samples are raw' }),
    truncated: Type.Optional(Type.Literal(true, { description: 'raw samples were cut: they are the oldest of from..to, up to (not including) `next`' })),
    next: Type.Optional(Type.Integer({ minimum: 0, description: 'with truncated: where the samples not returned start (ms); ask again with from = next for them' })),
    buckets: Type.Optional(Type.Array(Type.Object({ start: Millis, avg: Type.Number(), min: Type.Number(), max: Type.Number(), count: Type.Integer() }, strict))),
    samples: Type.Optional(
      Type.Array(
        Type.Object(
          { ts: Millis, value: Type.Union([Type.Number(), Type.Boolean(), Type.String(), Type.Null()]), quality: Type.Union([Type.Literal('good'), Type.Literal('uncertain'), Type.Literal('bad')]), cause: Type.Optional(Type.String()) },
          strict,
        ),
      ),
    ),
  },
  strict,
);

export const UserSchema = Type.Object(
  { username: Type.String(), role: RoleSchema, disabled: Type.Boolean(), createdAt: Millis, updatedAt: Millis },
  strict,
);

export const TokenSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    role: RoleSchema,
    createdBy: Type.String(),
    createdAt: Millis,
    lastUsedAt: Type.Optional(Millis),
    revokedAt: Type.Optional(Millis),
  },
  strict,
);

export const Username = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$', description: 'letters, digits and . _ @ -' });
export const Password = Type.String({ minLength: 10, maxLength: 256, description: 'at least 10 characters' });

/**
 * Bounds of numbers that come in through the API, so nothing out of range reaches a store (SQLite
 * and PostgreSQL hold 64-bit integers; JavaScript counts exactly to 2^53): a 400 names the field.
 */
export const MAX_MILLIS = 8_640_000_000_000_000; // the last millisecond a JavaScript Date can hold (year 275760)
export const MAX_OFFSET = 1_000_000;
/** A time given to the API (query range, command expiry): ms since the epoch, 0 to MAX_MILLIS. */
export const MillisParam = (description = 'ms since the epoch') => Type.Integer({ minimum: 0, maximum: MAX_MILLIS, description });
/** Page size of a list route. */
export const Limit = (maximum: number, defaultValue: number) => Type.Integer({ minimum: 1, maximum, default: defaultValue });
/** Entries skipped by a list route. */
export const Offset = Type.Integer({ minimum: 0, maximum: MAX_OFFSET, default: 0, description: `entries to skip, at most ${MAX_OFFSET}` });

export { IndexedPointSchema };
/** Where a page of points continues: gateway/device/point of its last item. */
export const PointCursor = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}/[A-Za-z0-9][A-Za-z0-9_-]{0,63}/[a-z][a-z0-9_]{0,63}$', description: 'gateway/device/point of the last item of the previous page (its `next`)' });
/** Markers to match, comma-separated. */
export const MarkerList = Type.String({ pattern: '^[a-z][a-zA-Z0-9_]{0,31}(,[a-z][a-zA-Z0-9_]{0,31}){0,15}$', description: 'Project Haystack markers, comma-separated (e.g. discharge,air,temp): points carrying all of them' });
/** A page of the point index. */
export const PointPageSchema = Type.Object({ items: Type.Array(IndexedPointSchema), next: Type.Optional(PointCursor) }, strict);
