/**
 * Maintenance work orders: advice from the agents that no command can carry out ("check the main
 * compressor", "service the AHU, 4,000 h since the last one"). One order per dedupe key (agent,
 * site, equipment, task, condition) at a time.
 *
 * The raiser evaluates its conditions again and again (every minute, on every anomaly), so a key
 * raised again is the same condition still present, not a new one: it takes the latest problem
 * text and `lastSeenAt`. The raiser also says which conditions it no longer sees
 * (`conditionsPresent`): those are `cleared`. Only a condition that was cleared for at least
 * `clearAfterMs` and is raised again is a new occurrence — it counts up `seen` on an open order,
 * and opens a new order when the last one was closed. So a technician's close holds until the
 * problem has gone away and come back, and a one-evaluation flicker is not a clear.
 */
import { randomUUID } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { SwarmgateError } from '../../shared/kit/errors.js';
import { num, optNum, str, type Sql, type SqlRow } from '../db/sql.js';

/** The one definition of a work order: the API's response schema, and the type (derived). */
export const WorkOrderSchema = Type.Object(
  {
    id: Type.String(),
    site: Type.String(),
    gateway: Type.String(),
    equipment: Type.String(),
    problem: Type.String(),
    task: Type.String(),
    urgency: Type.Union([Type.Literal('low'), Type.Literal('normal'), Type.Literal('high'), Type.Literal('critical')]),
    sourceAgent: Type.String(),
    state: Type.Union([Type.Literal('open'), Type.Literal('closed')]),
    createdAt: Type.Integer({ minimum: 0 }),
    updatedAt: Type.Integer({ minimum: 0 }),
    seen: Type.Integer({ minimum: 1, description: 'occurrences while open: 1, plus one each time the condition came back after it had cleared' }),
    lastSeenAt: Type.Integer({ minimum: 0, description: 'when the agents last reported the condition present' }),
    clearedAt: Type.Optional(Type.Integer({ minimum: 0, description: 'when the agents stopped seeing the condition; absent while it is present' })),
    closedBy: Type.Optional(Type.String()),
    closedAt: Type.Optional(Type.Integer({ minimum: 0 })),
    note: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

export type WorkOrder = Static<typeof WorkOrderSchema>;
export type WorkOrderUrgency = WorkOrder['urgency'];
export type WorkOrderState = WorkOrder['state'];

export type NewWorkOrder = Pick<WorkOrder, 'site' | 'gateway' | 'equipment' | 'problem' | 'task' | 'urgency' | 'sourceAgent'> & {
  /** Same key = the same condition: one order at a time, a new one only after it cleared. */
  readonly dedupeKey: string;
};

export interface WorkOrderFilter {
  readonly site?: string;
  readonly state?: WorkOrderState;
  /** Default 100, at most 1000. */
  readonly limit?: number;
}

const URGENCY_RANK = "CASE urgency WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END";

function fromRow(row: SqlRow): WorkOrder {
  const closedAt = optNum(row, 'closed_at');
  const clearedAt = optNum(row, 'cleared_at');
  return {
    id: str(row, 'id'),
    site: str(row, 'site'),
    gateway: str(row, 'gateway'),
    equipment: str(row, 'equipment'),
    problem: str(row, 'problem'),
    task: str(row, 'task'),
    urgency: str(row, 'urgency') as WorkOrderUrgency,
    sourceAgent: str(row, 'source_agent'),
    state: str(row, 'state') as WorkOrderState,
    createdAt: num(row, 'created_at'),
    updatedAt: num(row, 'updated_at'),
    seen: num(row, 'seen'),
    lastSeenAt: optNum(row, 'last_seen_at') ?? num(row, 'updated_at'),
    ...(clearedAt === undefined ? {} : { clearedAt }),
    ...(row.closed_by === null || row.closed_by === undefined ? {} : { closedBy: str(row, 'closed_by') }),
    ...(closedAt === undefined ? {} : { closedAt }),
    ...(row.note === null || row.note === undefined ? {} : { note: str(row, 'note') }),
  };
}

export interface WorkOrderServiceOptions {
  readonly clock?: () => number;
  /** How long a condition must stay away to count as cleared (default 10 min). */
  readonly clearAfterMs?: number;
}

export class WorkOrderService {
  private readonly clock: () => number;
  private readonly clearAfterMs: number;

  constructor(
    private readonly sql: Sql,
    options: WorkOrderServiceOptions = {},
  ) {
    this.clock = options.clock ?? Date.now;
    this.clearAfterMs = options.clearAfterMs ?? 10 * 60_000;
  }

  /**
   * The condition is present: opens an order, or updates the order that has its key. A closed
   * order stays closed (only `lastSeenAt` moves) unless the condition had cleared.
   */
  async raise(order: NewWorkOrder): Promise<{ order: WorkOrder; created: boolean }> {
    const now = this.clock();
    const clearedBefore = now - this.clearAfterMs;
    const problem = order.problem.slice(0, 500);
    // Open: the latest text; one more occurrence only when it had cleared (long enough).
    const open = await this.sql.all(
      'UPDATE work_orders SET seen = seen + CASE WHEN cleared_at IS NOT NULL AND cleared_at <= ? THEN 1 ELSE 0 END, ' +
        "problem = ?, updated_at = ?, last_seen_at = ?, cleared_at = NULL WHERE dedupe_key = ? AND state = 'open' RETURNING *",
      [clearedBefore, problem, now, now, order.dedupeKey],
    );
    if (open[0]) return { order: fromRow(open[0]), created: false };
    // Closed and not cleared since (or only briefly): the close holds.
    const held = await this.sql.all(
      'UPDATE work_orders SET last_seen_at = ?, cleared_at = NULL WHERE id = ' +
        "(SELECT id FROM work_orders WHERE dedupe_key = ? ORDER BY created_at DESC, id DESC LIMIT 1) AND state = 'closed' AND (cleared_at IS NULL OR cleared_at > ?) RETURNING *",
      [now, order.dedupeKey, clearedBefore],
    );
    if (held[0]) return { order: fromRow(held[0]), created: false };
    const id = `wo-${randomUUID()}`;
    const rows = await this.sql.all(
      "INSERT INTO work_orders (id, site, gateway, equipment, problem, task, urgency, source_agent, dedupe_key, state, created_at, updated_at, seen, last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, 1, ?) " +
        "ON CONFLICT (dedupe_key) WHERE state = 'open' DO UPDATE SET updated_at = excluded.updated_at, last_seen_at = excluded.last_seen_at, cleared_at = NULL RETURNING *",
      [id, order.site, order.gateway, order.equipment.slice(0, 128), problem, order.task.slice(0, 500), order.urgency, order.sourceAgent, order.dedupeKey, now, now, now],
    );
    const row = rows[0];
    if (!row) throw new SwarmgateError('SWG_ERR_HUB_STORE', 'work order was not stored');
    // Another hub process may have opened it between the statements: then it is not ours.
    return { order: fromRow(row), created: str(row, 'id') === id };
  }

  /**
   * The raisers evaluated `site` and found exactly these conditions (dedupe keys): every other
   * key of the site that is not cleared yet is cleared now.
   */
  async conditionsPresent(site: string, presentKeys: readonly string[]): Promise<void> {
    const now = this.clock();
    const keys = [...new Set(presentKeys)];
    const notIn = keys.length ? ` AND dedupe_key NOT IN (${keys.map(() => '?').join(', ')})` : '';
    await this.sql.all(`UPDATE work_orders SET cleared_at = ? WHERE site = ? AND cleared_at IS NULL${notIn}`, [now, site, ...keys]);
  }

  /** Most urgent first, then oldest. */
  async list(filter: WorkOrderFilter = {}): Promise<WorkOrder[]> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.site !== undefined) (where.push('site = ?'), args.push(filter.site));
    if (filter.state !== undefined) (where.push('state = ?'), args.push(filter.state));
    const limit = Math.min(1000, Math.max(1, Math.floor(filter.limit ?? 100)));
    const rows = await this.sql.all(`SELECT * FROM work_orders ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ${URGENCY_RANK}, created_at, id LIMIT ?`, [...args, limit]);
    return rows.map(fromRow);
  }

  async get(id: string): Promise<WorkOrder | undefined> {
    const rows = await this.sql.all('SELECT * FROM work_orders WHERE id = ?', [id]);
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  /** Closes an open order; a second close is a conflict, an unknown id an error naming it. */
  async close(id: string, by: { user: string; note: string }): Promise<WorkOrder> {
    const now = this.clock();
    const rows = await this.sql.all("UPDATE work_orders SET state = 'closed', closed_by = ?, closed_at = ?, note = ?, updated_at = ? WHERE id = ? AND state = 'open' RETURNING *", [by.user, now, by.note.slice(0, 2000), now, id]);
    if (rows[0]) return fromRow(rows[0]);
    const existing = await this.get(id);
    if (!existing) throw new SwarmgateError('SWG_ERR_WORK_ORDER_UNKNOWN', `no work order "${id}"`);
    throw new SwarmgateError('SWG_ERR_WORK_ORDER_CLOSED', `work order "${id}" was closed by ${existing.closedBy ?? 'someone'} already`);
  }
}
