/**
 * The quarantine: messages ingest refused (invalid, implausible, or refused by the store every
 * time it was tried) are kept here with the reason, for an operator to inspect, instead of being
 * dropped or retried forever while they hold back every other gateway. Bounded: the oldest rows
 * go once it holds more than `maxRows`.
 */
import { Type, type Static } from '@sinclair/typebox';
import { SwarmgateError } from '../../shared/kit/errors.js';
import { num, optNum, str, type Sql, type SqlRow, type SqlValue } from '../db/sql.js';

export const QuarantinedMessageSchema = Type.Object(
  {
    id: Type.Integer({ minimum: 1 }),
    receivedAt: Type.Integer({ minimum: 0 }),
    topic: Type.String(),
    site: Type.Optional(Type.String()),
    gateway: Type.Optional(Type.String()),
    channel: Type.String(),
    reason: Type.String({ description: 'too-large, not-json, schema, bad-frame, mismatch, implausible, store-refused ...' }),
    error: Type.String({ description: 'what is wrong and where (field path)' }),
    encoding: Type.Union([Type.Literal('utf8'), Type.Literal('base64')]),
    payload: Type.String({ description: 'the message as received (base64 when it is not clean text)' }),
    size: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);

export type QuarantinedMessage = Static<typeof QuarantinedMessageSchema>;

export const QuarantineSummarySchema = Type.Object(
  {
    count: Type.Integer({ minimum: 0 }),
    oldestReceivedAt: Type.Optional(Type.Integer({ minimum: 0, description: 'absent when the quarantine is empty' })),
    newestReceivedAt: Type.Optional(Type.Integer({ minimum: 0, description: 'absent when the quarantine is empty' })),
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
  /**
   * Names the message once (e.g. `telemetry/implausible/site/gateway/bootId/seq`): a message with a
   * key already kept is not kept again. Absent: every add keeps a row.
   */
  readonly key?: string;
}

/** What ingest needs of the quarantine. */
export interface QuarantinePort {
  /** Keeps the message; false when one with the same key is kept already (nothing added). */
  add(message: NewQuarantined, receivedAt: number): Promise<boolean>;
}

export interface QuarantineFilter {
  readonly gateway?: string;
  /** Default 100, at most 1000. */
  readonly limit?: number;
  /** Page: messages with a smaller id (older) than this. */
  readonly before?: number;
}

/** PostgreSQL text cannot hold NUL; neither should a log line. */
const clean = (s: string): string => s.replace(/\u0000/g, '\\u0000');

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
    private readonly options: { readonly maxRows?: number } = {},
  ) {}

  async add(m: NewQuarantined, receivedAt: number): Promise<boolean> {
    const p = encodePayload(m.payload);
    const rows = await this.sql.all('INSERT INTO quarantine (received_at, topic, site, gateway, channel, reason, error, encoding, payload, size, dedupe_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id', [
      receivedAt,
      clean(m.topic),
      m.site ?? null,
      m.gateway ?? null,
      clean(m.channel),
      m.reason,
      clean(m.error),
      p.encoding,
      p.text,
      m.payload.byteLength,
      m.key === undefined ? null : clean(m.key),
    ]);
    if (rows.length === 0) return false;
    // Trim now and then, not on every insert.
    if (++this.added % 100 === 1) await this.trim();
    return true;
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

  /** How many are kept (of one gateway, or all) and the receivedAt of the oldest and newest. */
  async summary(filter: Pick<QuarantineFilter, 'gateway'> = {}): Promise<QuarantineSummary> {
    const { where, args } = conditions(filter);
    const rows = await this.sql.all(`SELECT COUNT(*) AS n, MIN(received_at) AS oldest, MAX(received_at) AS newest FROM quarantine${where}`, args);
    const row = rows[0] ?? { n: 0 };
    const oldest = optNum(row, 'oldest');
    const newest = optNum(row, 'newest');
    return { count: num(row, 'n'), ...(oldest === undefined ? {} : { oldestReceivedAt: oldest }), ...(newest === undefined ? {} : { newestReceivedAt: newest }) };
  }

  private async trim(): Promise<void> {
    const max = this.options.maxRows ?? 10_000;
    const rows = await this.sql.all('SELECT id FROM quarantine ORDER BY id DESC LIMIT 1 OFFSET ?', [max]);
    if (rows.length > 0) await this.sql.all('DELETE FROM quarantine WHERE id <= ?', [num(rows[0]!, 'id')]);
  }
}
