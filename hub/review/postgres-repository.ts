/**
 * Review queue on PostgreSQL. Each change is ONE statement (a data-modifying CTE writes the item
 * and its audit entry), so it is atomic without holding a pooled connection in a transaction; the
 * version condition is re-checked after a concurrent update commits, so exactly one decider wins.
 */
import type { PostgresStore } from '../store/postgres/postgres.js';
import { actionKey } from './dedupe.js';
import { auditFromRow, clampLimit, itemFromRow, listColumns, stringify, type NewAuditEntry, type ReviewRepository } from './repository.js';
import type { AuditEntry, ReviewFilter, ReviewItem, ReviewState, StoredReviewItem } from './types.js';

const AUDIT_COLUMNS = 'item_id, at, actor, action, before, after, note';

function auditArgs(e: NewAuditEntry): unknown[] {
  return [e.at, e.actor, e.action, stringify(e.before), JSON.stringify(e.after), e.note ?? null];
}

export class PostgresReviewRepository implements ReviewRepository {
  constructor(private readonly store: PostgresStore) {}

  /** Nothing is written when the id exists or the action already has a pending item (the one-pending index). */
  async insert(row: StoredReviewItem, entry: NewAuditEntry): Promise<boolean> {
    const i = row.item;
    const args = [i.id, i.state, i.site, i.gateway, i.priority, i.source, i.sourceAgent ?? null, i.actionClass, JSON.stringify(i.action), stringify(i.modifiedAction),
      i.confidence, i.rationale, JSON.stringify(i.evidence), stringify(row.context), i.createdAt, i.expiresAt, i.decidedBy ?? null, i.decidedAt ?? null,
      i.reason ?? null, i.commandId ?? null, i.version, row.updatedAt, ...auditArgs(entry), actionKey(i.gateway, i.action)];
    const rows = await this.store.query(
      `WITH i AS (
         INSERT INTO review_items (id, state, site, gateway, priority, source, source_agent, action_class, action, modified_action,
           confidence, rationale, evidence, context, created_at, expires_at, decided_by, decided_at, reason, command_id, version, updated_at, action_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11, $12, $13::jsonb, $14::jsonb, $15, $16, $17, $18, $19, $20, $21, $22, $29)
         ON CONFLICT DO NOTHING RETURNING id)
       INSERT INTO review_audit (${AUDIT_COLUMNS}) SELECT id, $23::bigint, $24::text, $25::text, $26::jsonb, $27::jsonb, $28::text FROM i RETURNING seq`,
      args,
    );
    return rows.length > 0;
  }

  async get(id: string): Promise<StoredReviewItem | undefined> {
    const row = (await this.store.query('SELECT * FROM review_items WHERE id = $1', [id]))[0];
    return row ? itemFromRow(row) : undefined;
  }

  async list(filter: ReviewFilter): Promise<ReviewItem[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    const add = (sql: string, v: unknown): void => {
      args.push(v);
      where.push(`${sql} $${args.length}`);
    };
    if (filter.site !== undefined) add('site =', filter.site);
    if (filter.state !== undefined) add('state =', filter.state);
    if (filter.minPriority !== undefined) add('priority >=', filter.minPriority);
    args.push(clampLimit(filter.limit), Math.max(0, Math.floor(filter.offset ?? 0)));
    const sql = `SELECT ${listColumns(filter)} FROM review_items ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY priority DESC, created_at ASC, id ASC LIMIT $${args.length - 1} OFFSET $${args.length}`;
    return (await this.store.query(sql, args)).map((r) => itemFromRow(r).item);
  }

  async update(next: StoredReviewItem, from: readonly ReviewState[], entry: NewAuditEntry): Promise<boolean> {
    if (from.length === 0) return false;
    const i = next.item;
    const rows = await this.store.query(
      `WITH u AS (
         UPDATE review_items SET state = $2, modified_action = $3::jsonb, decided_by = $4, decided_at = $5, reason = $6, command_id = $7, context = $8::jsonb,
           version = $9, updated_at = $10, priority = $13, evidence = $14::jsonb, expires_at = $21
         WHERE id = $1 AND version = $11 AND state = ANY($12::text[]) RETURNING id)
       INSERT INTO review_audit (${AUDIT_COLUMNS}) SELECT id, $15::bigint, $16::text, $17::text, $18::jsonb, $19::jsonb, $20::text FROM u RETURNING seq`,
      [i.id, i.state, stringify(i.modifiedAction), i.decidedBy ?? null, i.decidedAt ?? null, i.reason ?? null, i.commandId ?? null, stringify(next.context), i.version, next.updatedAt, i.version - 1, [...from], i.priority, JSON.stringify(i.evidence), ...auditArgs(entry), i.expiresAt],
    );
    return rows.length > 0;
  }

  async dueForExpiry(now: number, limit: number): Promise<StoredReviewItem[]> {
    return (await this.store.query("SELECT * FROM review_items WHERE state = 'pending' AND expires_at <= $1 ORDER BY expires_at LIMIT $2", [now, limit])).map(itemFromRow);
  }

  async inState(state: ReviewState, limit: number): Promise<StoredReviewItem[]> {
    return (await this.store.query('SELECT * FROM review_items WHERE state = $1 ORDER BY updated_at LIMIT $2', [state, limit])).map(itemFromRow);
  }

  async standing(gateway: string, now: number, limit: number): Promise<StoredReviewItem[]> {
    const sql = "SELECT * FROM review_items WHERE gateway = $1 AND (state IN ('pending', 'approved') OR (state = 'rejected' AND expires_at > $2)) ORDER BY created_at DESC LIMIT $3";
    return (await this.store.query(sql, [gateway, now, limit])).map(itemFromRow);
  }

  async joinedBy(gateway: string, proposalId: string, since: number): Promise<StoredReviewItem | undefined> {
    const sql = "SELECT * FROM review_items WHERE updated_at >= $1 AND gateway = $2 AND evidence->'proposers' @> $3::jsonb ORDER BY updated_at DESC LIMIT 1";
    const row = (await this.store.query(sql, [since, gateway, JSON.stringify([{ id: proposalId }])]))[0];
    return row ? itemFromRow(row) : undefined;
  }

  async changedSince(since: number, limit: number): Promise<StoredReviewItem[]> {
    return (await this.store.query('SELECT * FROM review_items WHERE updated_at >= $1 ORDER BY updated_at LIMIT $2', [since, limit])).map(itemFromRow);
  }

  async audit(itemId?: string): Promise<AuditEntry[]> {
    const rows = itemId === undefined ? await this.store.query('SELECT * FROM review_audit ORDER BY seq') : await this.store.query('SELECT * FROM review_audit WHERE item_id = $1 ORDER BY seq', [itemId]);
    return rows.map(auditFromRow);
  }
}
