/**
 * Row → record mapping shared by both implementations, and the few queries both run alike.
 * Columns are named the same in SQLite and PostgreSQL; JSON columns arrive as text (SQLite) or
 * parsed (PostgreSQL jsonb), flags as 0/1 or booleans, so the mappers accept both.
 */
import type { Command, GatewayEvent, GapRecord } from '../../shared/wire/messages.js';
import { decodeValue } from './aggregate.js';
import type { CommandRecord, CommandStatus, GapPageQuery, GatewayRecord, GatewayStatus, Quality, RawSample, StoredEvent, StoredGap, StoredReading } from './types.js';

export type Row = Record<string, unknown>;

export function json<T>(value: unknown): T | undefined {
  if (value === null || value === undefined) return undefined;
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}

export function num(value: unknown): number {
  return typeof value === 'number' ? value : Number(value);
}

function numOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : num(value);
}

function str(value: unknown): string | undefined {
  return value === null || value === undefined ? undefined : String(value);
}

/** Drops undefined optional fields so records compare equal across implementations. */
function compact<T extends object>(record: T): T {
  for (const key of Object.keys(record) as (keyof T)[]) if (record[key] === undefined) delete record[key];
  return record;
}

export function readingFromRow(row: Row): StoredReading {
  return compact({
    gateway: String(row.gateway),
    device: String(row.device),
    point: String(row.point),
    value: decodeValue(numOrNull(row.num), (row.str as string | null) ?? null, String(row.vtype)),
    quality: row.quality as Quality,
    ts: num(row.ts),
    cause: str(row.cause),
  });
}

export function sampleFromRow(row: Row): RawSample {
  return compact({
    ts: num(row.ts),
    value: decodeValue(numOrNull(row.num), (row.str as string | null) ?? null, String(row.vtype)),
    quality: row.quality as Quality,
    cause: str(row.cause),
  });
}

/** SQL written with `?` placeholders, for PostgreSQL: numbered $1..$n. */
export function numberPlaceholders(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/**
 * One page of a gateway's gaps, newest first (GapCursor's order), as SQL both stores run (`?`
 * placeholders; PostgreSQL numbers them). Each record carries stored_batches (StoredGap
 * storedBatches): the batches of its range the hub keeps a key of, counted on the batches primary
 * key; NULL when its readings are older than `keptSince` (the raw retention's cutoff: their batch
 * keys may have been deleted).
 */
export function gapPageQuery(gateway: string, query: GapPageQuery, keptSince: number): { sql: string; args: (string | number)[] } {
  const stored = 'CASE WHEN gaps.from_ts >= ? THEN (SELECT count(*) FROM batches b WHERE b.gateway = gaps.gateway AND b.boot_id = gaps.boot_id AND b.seq BETWEEN gaps.from_seq AND gaps.to_seq) END';
  const { before, limit } = query;
  const after =
    before === undefined ? { where: '', args: [] } : typeof before === 'number' ? { where: ' AND ts < ?', args: [before] } : { where: ' AND (ts, boot_id, from_seq, to_seq) < (?, ?, ?, ?)', args: [before.ts, before.bootId, before.fromSeq, before.toSeq] };
  return {
    sql: `SELECT *, ${stored} AS stored_batches FROM gaps WHERE gateway = ?${after.where} ORDER BY ts DESC, boot_id DESC, from_seq DESC, to_seq DESC LIMIT ?`,
    args: [keptSince, gateway, ...after.args, limit],
  };
}

export function gapFromRow(row: Row): StoredGap {
  return {
    v: 1,
    gateway: String(row.gateway),
    bootId: String(row.boot_id),
    fromSeq: num(row.from_seq),
    toSeq: num(row.to_seq),
    readingsDropped: num(row.readings_dropped),
    fromTs: num(row.from_ts),
    toTs: num(row.to_ts),
    reason: row.reason as GapRecord['reason'],
    ts: num(row.ts),
    receivedAt: num(row.received_at),
    ...(row.stored_batches === null || row.stored_batches === undefined ? {} : { storedBatches: num(row.stored_batches) }),
  };
}

export function eventFromRow(row: Row): StoredEvent {
  return compact({
    v: 1 as const,
    id: String(row.id),
    gateway: String(row.gateway),
    site: String(row.site),
    ts: num(row.ts),
    kind: row.kind as GatewayEvent['kind'],
    severity: row.severity as GatewayEvent['severity'],
    device: str(row.device),
    point: str(row.point),
    message: String(row.message),
    data: json<Record<string, unknown>>(row.data),
    receivedAt: num(row.received_at),
  });
}

export function gatewayFromRow(row: Row): GatewayRecord {
  return compact({
    gateway: String(row.gateway),
    site: String(row.site),
    status: ((row.status as string | null) ?? 'unknown') as GatewayStatus,
    firstSeen: num(row.first_seen),
    lastSeen: numOrNull(row.last_seen),
    stateTs: numOrNull(row.state_ts),
    bootId: str(row.boot_id),
    version: str(row.version),
    health: json<GatewayRecord['health']>(row.health),
    devices: json<GatewayRecord['devices']>(row.devices),
  });
}

export function commandFromRow(row: Row): CommandRecord {
  const duplicate = row.duplicate === null || row.duplicate === undefined ? undefined : row.duplicate === true || row.duplicate === 1;
  return compact({
    id: String(row.id),
    gateway: String(row.gateway),
    site: String(row.site),
    command: json<Command>(row.command) as Command,
    status: row.status as CommandStatus,
    attempts: num(row.attempts),
    createdAt: num(row.created_at),
    updatedAt: num(row.updated_at),
    deadline: numOrNull(row.deadline),
    code: str(row.code),
    reason: str(row.reason),
    duplicate,
    ackedAt: row.acked_at === null || row.acked_at === undefined ? undefined : num(row.acked_at),
  });
}
