/**
 * Maintenance work orders: advice from the agents that no command can carry out ("check the main
 * compressor", "service the AHU, 4,000 h since the last one"). One open order per dedupe key
 * (agent, site, equipment, task): raised again while open, it counts up `seen` and takes the
 * latest problem text.
 * A technician closes it with a note; the next occurrence after that opens a new one.
 */
import { randomUUID } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { SwarmgateError } from '../../shared/errors.js';
import { num, optNum, str, type Sql, type SqlRow } from '../api/db.js';

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
    seen: Type.Integer({ minimum: 1, description: 'how many times the agents raised it while open' }),
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
  /** Same key while open = the same order. */
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
    ...(row.closed_by === null || row.closed_by === undefined ? {} : { closedBy: str(row, 'closed_by') }),
    ...(closedAt === undefined ? {} : { closedAt }),
    ...(row.note === null || row.note === undefined ? {} : { note: str(row, 'note') }),
  };
}

export class WorkOrderService {
  private readonly clock: () => number;

  constructor(
    private readonly sql: Sql,
    options: { clock?: () => number } = {},
  ) {
    this.clock = options.clock ?? Date.now;
  }

  /** Opens an order, or counts one more sighting of the open order with the same key. */
  async raise(order: NewWorkOrder): Promise<{ order: WorkOrder; created: boolean }> {
    const now = this.clock();
    // Seen again while open: count it and keep the latest description of the problem.
    const bumped = await this.sql.all("UPDATE work_orders SET seen = seen + 1, problem = ?, updated_at = ? WHERE dedupe_key = ? AND state = 'open' RETURNING *", [order.problem.slice(0, 500), now, order.dedupeKey]);
    if (bumped[0]) return { order: fromRow(bumped[0]), created: false };
    const rows = await this.sql.all(
      "INSERT INTO work_orders (id, site, gateway, equipment, problem, task, urgency, source_agent, dedupe_key, state, created_at, updated_at, seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, 1) " +
        "ON CONFLICT (dedupe_key) WHERE state = 'open' DO UPDATE SET seen = work_orders.seen + 1, updated_at = excluded.updated_at RETURNING *",
      [`wo-${randomUUID()}`, order.site, order.gateway, order.equipment.slice(0, 128), order.problem.slice(0, 500), order.task.slice(0, 500), order.urgency, order.sourceAgent, order.dedupeKey, now, now],
    );
    const row = rows[0];
    if (!row) throw new SwarmgateError('SWG_ERR_HUB_STORE', 'work order was not stored');
    return { order: fromRow(row), created: num(row, 'seen') === 1 };
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
