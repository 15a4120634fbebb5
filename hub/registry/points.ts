/**
 * The point index: what each gateway's birth says about its points (unit, Project Haystack
 * markers), kept per (gateway, device, point) so integrators and agents find "every discharge air
 * temp" across sites without knowing each vendor's names. A birth replaces the gateway's entries
 * (points gone from its profiles go from the index); a will (offline) leaves them as they were.
 */
import { Type, type Static } from '@sinclair/typebox';
import { WriteLimitsSchema, type Action, type GatewayState } from '../../shared/wire/messages.js';
import { parseDecimal } from '../../shared/kit/decimal.js';
import { num, str, type Sql, type SqlRow, type SqlValue } from '../db/sql.js';

type DeviceStatus = NonNullable<GatewayState['devices']>[number];

export const IndexedPointSchema = Type.Object(
  {
    site: Type.String(),
    gateway: Type.String(),
    device: Type.String(),
    point: Type.String(),
    unit: Type.Optional(Type.String()),
    tags: Type.Array(Type.String(), { description: 'Project Haystack markers ("point" implied), in reading order; empty when the profile gives none' }),
    writable: Type.Optional(Type.Boolean({ description: 'whether the gateway accepts writes of it; absent when its birth does not say (an older gateway)' })),
    limits: Type.Optional(WriteLimitsSchema),
    updatedAt: Type.Integer({ minimum: 0, description: 'when the birth that described the point was applied' }),
  },
  { additionalProperties: false },
);

export type IndexedPoint = Static<typeof IndexedPointSchema>;

export interface PointQuery {
  /** Every point carrying all of these markers ("point" is implied and ignored). */
  readonly tags?: readonly string[];
  readonly site?: string;
  readonly gateway?: string;
  /** Default 100, at most 1000. */
  readonly limit?: number;
  /** Page: points after this one in (gateway, device, point) order. */
  readonly after?: { readonly gateway: string; readonly device: string; readonly point: string };
}

export interface PointPage {
  readonly items: IndexedPoint[];
  /** Present when there may be more: the (gateway, device, point) of the last item. */
  readonly next?: { readonly gateway: string; readonly device: string; readonly point: string };
}

/** What the registry needs of the index. */
export interface PointIndexPort {
  applyBirth(site: string, gateway: string, devices: readonly DeviceStatus[], now: number): Promise<void>;
}

/** Rows per INSERT statement (PostgreSQL allows 65535 parameters). */
const CHUNK = 200;

function fromRow(row: SqlRow): IndexedPoint {
  const unit = row.unit === null || row.unit === undefined ? undefined : str(row, 'unit');
  const tags = str(row, 'tags');
  const writable = row.writable === null || row.writable === undefined ? undefined : num(row, 'writable') === 1;
  const min = optionalNumber(row.min_value);
  const max = optionalNumber(row.max_value);
  return {
    site: str(row, 'site'),
    gateway: str(row, 'gateway'),
    device: str(row, 'device'),
    point: str(row, 'point'),
    ...(unit === undefined ? {} : { unit }),
    tags: tags === '' ? [] : tags.split(' '),
    ...(writable === undefined ? {} : { writable }),
    ...(min === undefined && max === undefined ? {} : { limits: { ...(min === undefined ? {} : { min }), ...(max === undefined ? {} : { max }) } }),
    updatedAt: num(row, 'updated_at'),
  };
}

function optionalNumber(v: unknown): number | undefined {
  return v === null || v === undefined ? undefined : Number(v);
}

interface Entry {
  readonly device: string;
  readonly point: string;
  readonly unit?: string;
  readonly tags: readonly string[];
  /** Undefined: the birth does not say. */
  readonly writable?: boolean;
  readonly min?: number;
  readonly max?: number;
}

function entriesOf(devices: readonly DeviceStatus[]): Entry[] {
  const out: Entry[] = [];
  for (const d of devices) {
    const names = new Set([...Object.keys(d.units ?? {}), ...Object.keys(d.tags ?? {}), ...Object.keys(d.writable ?? {})]);
    for (const point of [...names].sort()) {
      const unit = d.units?.[point];
      const limits = d.writable?.[point];
      out.push({
        device: d.id,
        point,
        ...(unit !== undefined ? { unit } : {}),
        tags: [...new Set((d.tags?.[point] ?? []).filter((t) => t !== 'point'))],
        ...(d.writable === undefined ? {} : { writable: limits !== undefined }),
        ...(limits?.min === undefined ? {} : { min: limits.min }),
        ...(limits?.max === undefined ? {} : { max: limits.max }),
      });
    }
  }
  return out;
}

/** Why the hub refuses a write before sending it: the field at fault and the reason. */
export interface WriteProblem {
  readonly field: 'kind' | 'point' | 'value';
  readonly message: string;
}

/** The check the review queue and the command API make of a write (the point index implements it). */
export interface WriteCheckPort {
  checkWrite(gateway: string, action: Action): Promise<WriteProblem | undefined>;
}

export class PointIndex implements PointIndexPort, WriteCheckPort {
  /** What each gateway's last applied birth said, so the periodic births that change nothing write nothing. */
  private readonly applied = new Map<string, string>();

  constructor(private readonly sql: Sql) {}

  async applyBirth(site: string, gateway: string, devices: readonly DeviceStatus[], now: number): Promise<void> {
    const entries = entriesOf(devices);
    const digest = JSON.stringify([site, entries]);
    if (this.applied.get(gateway) === digest) return;
    // Every hub process applies every birth (a gateway's state is not a shared-stream message):
    // two processes replacing one gateway's rows at once end with the same rows, a key the other
    // process inserted first being skipped, not refused.
    await this.sql.all('DELETE FROM point_markers WHERE gateway = ?', [gateway]);
    await this.sql.all('DELETE FROM point_index WHERE gateway = ?', [gateway]);
    for (let i = 0; i < entries.length; i += CHUNK) {
      const chunk = entries.slice(i, i + CHUNK);
      await this.sql.all(
        `INSERT INTO point_index (gateway, device, point, site, unit, tags, writable, min_value, max_value, updated_at) VALUES ${chunk.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')} ON CONFLICT DO NOTHING`,
        chunk.flatMap((e): SqlValue[] => [gateway, e.device, e.point, site, e.unit ?? null, e.tags.join(' '), e.writable === undefined ? null : e.writable ? 1 : 0, e.min ?? null, e.max ?? null, now]),
      );
    }
    const markers = entries.flatMap((e) => e.tags.map((marker) => [marker, e.device, e.point] as const));
    for (let i = 0; i < markers.length; i += CHUNK) {
      const chunk = markers.slice(i, i + CHUNK);
      await this.sql.all(
        `INSERT INTO point_markers (marker, gateway, device, point) VALUES ${chunk.map(() => '(?, ?, ?, ?)').join(', ')} ON CONFLICT DO NOTHING`,
        chunk.flatMap(([marker, device, point]): SqlValue[] => [marker, gateway, device, point]),
      );
    }
    this.applied.set(gateway, digest);
  }

  /** Points in (gateway, device, point) order, filtered by markers, site and gateway. */
  async find(query: PointQuery = {}): Promise<PointPage> {
    const limit = Math.min(1000, Math.max(1, query.limit ?? 100));
    const markers = [...new Set((query.tags ?? []).filter((t) => t !== 'point'))];
    const where: string[] = [];
    const args: SqlValue[] = [];
    let from = 'point_index p';
    if (markers.length > 0) {
      from += ` JOIN (SELECT gateway, device, point FROM point_markers WHERE marker IN (${markers.map(() => '?').join(', ')}) GROUP BY gateway, device, point HAVING COUNT(*) = ?) m ON m.gateway = p.gateway AND m.device = p.device AND m.point = p.point`;
      args.push(...markers, markers.length);
    }
    if (query.site !== undefined) where.push('p.site = ?') && args.push(query.site);
    if (query.gateway !== undefined) where.push('p.gateway = ?') && args.push(query.gateway);
    if (query.after) {
      const a = query.after;
      where.push('(p.gateway > ? OR (p.gateway = ? AND (p.device > ? OR (p.device = ? AND p.point > ?))))');
      args.push(a.gateway, a.gateway, a.device, a.device, a.point);
    }
    const rows = await this.sql.all(
      `SELECT p.site, p.gateway, p.device, p.point, p.unit, p.tags, p.writable, p.min_value, p.max_value, p.updated_at FROM ${from}${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY p.gateway, p.device, p.point LIMIT ?`,
      [...args, limit + 1],
    );
    const items = rows.slice(0, limit).map(fromRow);
    const last = items[items.length - 1];
    return rows.length > limit && last ? { items, next: { gateway: last.gateway, device: last.device, point: last.point } } : { items };
  }

  /** The unit and markers of one point, as its gateway's last birth gave them. */
  async describe(gateway: string, device: string, point: string): Promise<Pick<IndexedPoint, 'site' | 'unit' | 'tags'> | undefined> {
    const rows = await this.sql.all('SELECT site, gateway, device, point, unit, tags, updated_at FROM point_index WHERE gateway = ? AND device = ? AND point = ?', [gateway, device, point]);
    if (!rows[0]) return undefined;
    const p = fromRow(rows[0]);
    return { site: p.site, tags: p.tags, ...(p.unit === undefined ? {} : { unit: p.unit }) };
  }

  /**
   * Whether the gateway, by its last birth, would take this write: a writable point, a number
   * within its limits. Undefined (no objection) when the birth does not say: a gateway older than
   * the birth's `writable`, a gateway not seen yet, or a mode action.
   */
  async checkWrite(gateway: string, action: Action): Promise<WriteProblem | undefined> {
    // The wire has mode actions, but no gateway of this release applies one (it would refuse it
    // with SWG_ERR_COMMAND_UNSUPPORTED after the hub had accepted it): refused while the user is there.
    if (action.kind === 'mode') return { field: 'kind', message: `${gateway} cannot apply a mode change (gateways apply writes to points): write the equipment's mode point instead, if its profile has one` };
    if (action.kind !== 'write') return undefined;
    const { device, point, value } = action;
    const rows = await this.sql.all(
      'SELECT device, point, writable, min_value, max_value FROM point_index WHERE gateway = ? AND ((device = ? AND point = ?) OR writable IS NOT NULL) ORDER BY device = ? AND point = ? DESC LIMIT 1',
      [gateway, device, point, device, point],
    );
    const row = rows[0];
    if (!row) return undefined;
    const ref = `${device}/${point}`;
    const itself = str(row, 'device') === device && str(row, 'point') === point;
    if (!itself) return { field: 'point', message: `${gateway} has no writable point ${ref} (by its last birth)` };
    if (row.writable === null || row.writable === undefined) return undefined;
    if (num(row, 'writable') !== 1) return { field: 'point', message: `${ref} on ${gateway} is read-only (by its last birth)` };
    // As the gateway reads the value for a number point (edge/runtime/point-write.ts): "40" is 40,
    // true is 1. Anything else is for the gateway to judge by the point's type.
    const n = typeof value === 'number' ? value : typeof value === 'string' ? parseDecimal(value.trim()) : typeof value === 'boolean' ? Number(value) : undefined;
    if (n === undefined) return undefined;
    const min = optionalNumber(row.min_value);
    const max = optionalNumber(row.max_value);
    const range = `[${min ?? '-inf'}, ${max ?? 'inf'}]`;
    if ((min !== undefined && n < min) || (max !== undefined && n > max)) return { field: 'value', message: `${JSON.stringify(value)} is outside the write limits of ${ref} on ${gateway}, ${range} (by its last birth)` };
    return undefined;
  }

  /**
   * How many gateways per site have a point like this one: the same markers (as the births list
   * them) and unit; a point without markers is matched by its name.
   */
  async peers(like: { readonly point: string; readonly unit?: string; readonly tags: readonly string[] }): Promise<Map<string, number>> {
    const tags = like.tags.join(' ');
    const byName = tags === '' ? ' AND point = ?' : '';
    const rows = await this.sql.all(
      `SELECT site, COUNT(DISTINCT gateway) AS n FROM point_index WHERE tags = ? AND COALESCE(unit, '') = ?${byName} GROUP BY site`,
      [tags, like.unit ?? '', ...(byName ? [like.point] : [])],
    );
    return new Map(rows.map((r) => [str(r, 'site'), num(r, 'n')]));
  }
}
