/**
 * The quarantine: messages ingest refused (invalid, implausible, or refused by the store every
 * time it was tried) are kept here with the reason, for an operator to inspect, instead of being
 * dropped or retried forever while they hold back every other gateway. One entry per gateway,
 * reason and message (key.ts): a gateway sending it again counts a repeat (seenCount, lastSeenAt)
 * and adds nothing, so one bad message resent a thousand times is one entry seen a thousand times.
 * Bounded: once it holds more than `maxRows` entries the ones seen longest ago go, and a payload
 * is kept up to `maxPayloadBytes` (only a message refused as too large is longer).
 */
import { Type, type Static } from '@sinclair/typebox';
import { SwarmgateError } from '../../shared/kit/errors.js';
import { MAX_PAYLOAD_BYTES } from '../../shared/wire/codec.js';
import { num, optNum, str, type Sql, type SqlRow, type SqlValue } from '../db/sql.js';
import { clean, quarantineKey } from './key.js';

export const QuarantinedMessageSchema = Type.Object(
  {
    id: Type.Integer({ minimum: 1 }),
    receivedAt: Type.Integer({ minimum: 0, description: 'when it was first received (first seen)' }),
    lastSeenAt: Type.Integer({ minimum: 0, description: 'when it was last received: the gateway sent it again' }),
    seenCount: Type.Integer({ minimum: 1, description: 'how many times it was received (refused alike each time) and kept under this entry' }),
    topic: Type.String(),
    site: Type.Optional(Type.String()),
    gateway: Type.Optional(Type.String()),
    channel: Type.String(),
    reason: Type.String({ description: 'too-large, not-json, schema, bad-frame, mismatch, implausible, store-refused ...' }),
    error: Type.String({ description: 'what is wrong and where (field path)' }),
    encoding: Type.Union([Type.Literal('utf8'), Type.Literal('base64')]),
    payload: Type.String({ description: 'the message as first received (base64 when it is not clean text); of a message larger than the hub keeps, its first bytes' }),
    size: Type.Integer({ minimum: 0, description: 'bytes of the message as received' }),
  },
  { additionalProperties: false },
);

export type QuarantinedMessage = Static<typeof QuarantinedMessageSchema>;

export const QuarantineSummarySchema = Type.Object(
  {
    count: Type.Integer({ minimum: 0, description: 'entries: distinct messages kept' }),
    seenCount: Type.Integer({ minimum: 0, description: 'how many times those messages were received, repeats included' }),
    oldestReceivedAt: Type.Optional(Type.Integer({ minimum: 0, description: 'first seen of the oldest entry; absent when the quarantine is empty' })),
    newestReceivedAt: Type.Optional(Type.Integer({ minimum: 0, description: 'first seen of the newest entry; absent when the quarantine is empty' })),
    lastSeenAt: Type.Optional(Type.Integer({ minimum: 0, description: 'when any of them was last received; absent when the quarantine is empty' })),
  },
  { additionalProperties: false },
);

export type QuarantineSummary = Static<typeof QuarantineSummarySchema>;

export interface NewQuarantined {
  readonly topic: string;
  readonly site?: string;
  readonly gateway?: string;
  readonly channel: string;
  readonly reason: string;
  readonly error: string;
  readonly payload: Uint8Array;
}

/** The entry a message was kept under. */
export interface QuarantineOutcome {
  readonly id: number;
  /** 1: a new entry; more: a repeat of a message kept already, counted and not kept again. */
  readonly seenCount: number;
}

/** What ingest needs of the quarantine. */
export interface QuarantinePort {
  /** Keeps the message, or counts a repeat of the one kept already under its key (key.ts). */
  add(message: NewQuarantined, receivedAt: number): Promise<QuarantineOutcome>;
}

export interface QuarantineFilter {
  readonly gateway?: string;
  /** Default 100, at most 1000. */
  readonly limit?: number;
  /** Page: messages with a smaller id (older) than this. */
  readonly before?: number;
}

function encodePayload(payload: Uint8Array): { encoding: 'utf8' | 'base64'; text: string } {
  const buf = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const text = buf.toString('utf8');
  if (!text.includes('\u0000') && !text.includes('\uFFFD') && Buffer.byteLength(text) === buf.length) return { encoding: 'utf8', text };
  return { encoding: 'base64', text: buf.toString('base64') };
}

function conditions(filter: QuarantineFilter): { where: string; args: SqlValue[] } {
  const where: string[] = [];
  const args: SqlValue[] = [];
  if (filter.gateway !== undefined) where.push('gateway = ?') && args.push(filter.gateway);
  if (filter.before !== undefined) where.push('id < ?') && args.push(filter.before);
  return { where: where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '', args };
}

function fromRow(row: SqlRow): QuarantinedMessage {
  const opt = (k: string): string | undefined => (row[k] === null || row[k] === undefined ? undefined : str(row, k));
  const site = opt('site');
  const gateway = opt('gateway');
  return {
    id: num(row, 'id'),
    receivedAt: num(row, 'received_at'),
    lastSeenAt: num(row, 'last_seen_at'),
    seenCount: num(row, 'seen_count'),
    topic: str(row, 'topic'),
    ...(site === undefined ? {} : { site }),
    ...(gateway === undefined ? {} : { gateway }),
    channel: str(row, 'channel'),
    reason: str(row, 'reason'),
    error: str(row, 'error'),
    encoding: str(row, 'encoding') === 'base64' ? 'base64' : 'utf8',
    payload: str(row, 'payload'),
    size: num(row, 'size'),
  };
}

export class QuarantineService implements QuarantinePort {
  private added = 0;

  constructor(
    private readonly sql: Sql,
    private readonly options: {
      /** Entries kept; default 10,000. */
      readonly maxRows?: number;
      /** Bytes of a payload kept; default the wire's limit (MAX_PAYLOAD_BYTES), the hub passes its broker.maxPayloadBytes. */
      readonly maxPayloadBytes?: number;
    } = {},
  ) {}

  async add(m: NewQuarantined, receivedAt: number): Promise<QuarantineOutcome> {
    const maxBytes = this.options.maxPayloadBytes ?? MAX_PAYLOAD_BYTES;
    const cut = m.payload.byteLength > maxBytes;
    const p = encodePayload(cut ? m.payload.subarray(0, maxBytes) : m.payload);
    const error = cut ? `${m.error} (the first ${maxBytes} of its ${m.payload.byteLength} bytes are kept)` : m.error;
    // A repeat counts onto the entry kept first: its payload and error stay those of the first copy.
    const rows = await this.sql.all(
      `INSERT INTO quarantine (received_at, last_seen_at, seen_count, topic, site, gateway, channel, reason, error, encoding, payload, size, dedupe_key)
       VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (dedupe_key) DO UPDATE SET seen_count = quarantine.seen_count + 1,
         received_at = CASE WHEN excluded.received_at < quarantine.received_at THEN excluded.received_at ELSE quarantine.received_at END,
         last_seen_at = CASE WHEN excluded.last_seen_at > quarantine.last_seen_at THEN excluded.last_seen_at ELSE quarantine.last_seen_at END
       RETURNING id, seen_count`,
      [receivedAt, receivedAt, clean(m.topic), m.site ?? null, m.gateway ?? null, clean(m.channel), m.reason, clean(error), p.encoding, p.text, m.payload.byteLength, clean(quarantineKey(m))],
    );
    const outcome = { id: num(rows[0]!, 'id'), seenCount: num(rows[0]!, 'seen_count') };
    // Trim now and then as entries are added (a repeat adds none), not on every one.
    if (outcome.seenCount === 1 && ++this.added % 100 === 1) await this.trim();
    return outcome;
  }

  /** Newest first (by id: the order ingest kept them in). */
  async list(filter: QuarantineFilter = {}): Promise<QuarantinedMessage[]> {
    const limit = Math.min(1000, Math.max(1, filter.limit ?? 100));
    const { where, args } = conditions(filter);
    const rows = await this.sql.all(`SELECT * FROM quarantine${where} ORDER BY id DESC LIMIT ?`, [...args, limit]);
    return rows.map(fromRow);
  }

  async get(id: number): Promise<QuarantinedMessage | undefined> {
    const rows = await this.sql.all('SELECT * FROM quarantine WHERE id = ?', [id]);
    return rows[0] === undefined ? undefined : fromRow(rows[0]);
  }

  /** Removes an inspected message and returns it; SWG_ERR_QUARANTINE_UNKNOWN when there is none with this id. */
  async discard(id: number): Promise<QuarantinedMessage> {
    const rows = await this.sql.all('DELETE FROM quarantine WHERE id = ? RETURNING *', [id]);
    if (rows[0] === undefined) throw new SwarmgateError('SWG_ERR_QUARANTINE_UNKNOWN', `no quarantined message ${id} (discarded already, or trimmed as one of the oldest)`, { details: { id } });
    return fromRow(rows[0]);
  }

  async count(): Promise<number> {
    return (await this.summary()).count;
  }

  /** How many entries are kept (of one gateway, or all), how often they were seen, and the first seen of the oldest and newest. */
  async summary(filter: Pick<QuarantineFilter, 'gateway'> = {}): Promise<QuarantineSummary> {
    const { where, args } = conditions(filter);
    const rows = await this.sql.all(`SELECT COUNT(*) AS n, SUM(seen_count) AS seen, MIN(received_at) AS oldest, MAX(received_at) AS newest, MAX(last_seen_at) AS last FROM quarantine${where}`, args);
    const row = rows[0] ?? { n: 0 };
    const oldest = optNum(row, 'oldest');
    const newest = optNum(row, 'newest');
    const last = optNum(row, 'last');
    return {
      count: num(row, 'n'),
      seenCount: optNum(row, 'seen') ?? 0,
      ...(oldest === undefined ? {} : { oldestReceivedAt: oldest }),
      ...(newest === undefined ? {} : { newestReceivedAt: newest }),
      ...(last === undefined ? {} : { lastSeenAt: last }),
    };
  }

  /** Keeps the maxRows entries seen most recently: an old entry its gateway still sends stays, a stale one goes. */
  private async trim(): Promise<void> {
    const max = this.options.maxRows ?? 10_000;
    const rows = await this.sql.all('SELECT last_seen_at, id FROM quarantine ORDER BY last_seen_at DESC, id DESC LIMIT 1 OFFSET ?', [max]);
    const edge = rows[0];
    if (edge) await this.sql.all('DELETE FROM quarantine WHERE last_seen_at < ? OR (last_seen_at = ? AND id <= ?)', [num(edge, 'last_seen_at'), num(edge, 'last_seen_at'), num(edge, 'id')]);
  }
}
