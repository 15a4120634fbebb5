/** Review queue on SQLite: better-sqlite3 transactions make update + audit one atomic step. */
import type { Database } from 'better-sqlite3';
import { actionKey } from './dedupe.js';
import { auditFromRow, clampLimit, itemFromRow, listColumns, stringify, type NewAuditEntry, type ReviewRepository, type Row } from './repository.js';
import type { AuditEntry, ReviewFilter, ReviewItem, ReviewState, StoredReviewItem } from './types.js';

export class SqliteReviewRepository implements ReviewRepository {
  constructor(private readonly db: Database) {}

  private writeAudit(e: NewAuditEntry): void {
    this.db
      .prepare('INSERT INTO review_audit (item_id, at, actor, action, before, after, note) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(e.itemId, e.at, e.actor, e.action, stringify(e.before), JSON.stringify(e.after), e.note ?? null);
  }

  /** Nothing is written when the id exists or the action already has a pending item (the one-pending index). */
  async insert(row: StoredReviewItem, entry: NewAuditEntry): Promise<boolean> {
    const i = row.item;
    return this.db.transaction((): boolean => {
      const r = this.db
        .prepare(
          `INSERT OR IGNORE INTO review_items (id, state, site, gateway, priority, source, source_agent, action_class, action, modified_action,
             confidence, rationale, evidence, context, created_at, expires_at, decided_by, decided_at, reason, command_id, version, updated_at, action_key)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(i.id, i.state, i.site, i.gateway, i.priority, i.source, i.sourceAgent ?? null, i.actionClass, JSON.stringify(i.action), stringify(i.modifiedAction),
          i.confidence, i.rationale, JSON.stringify(i.evidence), stringify(row.context), i.createdAt, i.expiresAt, i.decidedBy ?? null, i.decidedAt ?? null,
          i.reason ?? null, i.commandId ?? null, i.version, row.updatedAt, actionKey(i.gateway, i.action));
      if (r.changes === 0) return false;
      this.writeAudit(entry);
      return true;
    })();
  }

  async get(id: string): Promise<StoredReviewItem | undefined> {
    const row = this.db.prepare('SELECT * FROM review_items WHERE id = ?').get(id) as Row | undefined;
    return row ? itemFromRow(row) : undefined;
  }

  async list(filter: ReviewFilter): Promise<ReviewItem[]> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.site !== undefined) (where.push('site = ?'), args.push(filter.site));
    if (filter.state !== undefined) (where.push('state = ?'), args.push(filter.state));
    if (filter.minPriority !== undefined) (where.push('priority >= ?'), args.push(filter.minPriority));
    const sql = `SELECT ${listColumns(filter)} FROM review_items ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY priority DESC, created_at ASC, id ASC LIMIT ? OFFSET ?`;
    return (this.db.prepare(sql).all(...args, clampLimit(filter.limit), Math.max(0, Math.floor(filter.offset ?? 0))) as Row[]).map((r) => itemFromRow(r).item);
  }

  async update(next: StoredReviewItem, from: readonly ReviewState[], entry: NewAuditEntry): Promise<boolean> {
    if (from.length === 0) return false;
    const i = next.item;
    return this.db.transaction((): boolean => {
      const r = this.db
        .prepare(
          `UPDATE review_items SET state = ?, modified_action = ?, decided_by = ?, decided_at = ?, reason = ?, command_id = ?, priority = ?, evidence = ?, context = ?, expires_at = ?,
             version = ?, updated_at = ?
           WHERE id = ? AND version = ? AND state IN (${from.map(() => '?').join(', ')})`,
        )
        .run(i.state, stringify(i.modifiedAction), i.decidedBy ?? null, i.decidedAt ?? null, i.reason ?? null, i.commandId ?? null, i.priority, JSON.stringify(i.evidence), stringify(next.context), i.expiresAt, i.version, next.updatedAt, i.id, i.version - 1, ...from);
      if (r.changes === 0) return false;
      this.writeAudit(entry);
      return true;
    })();
  }

  async dueForExpiry(now: number, limit: number): Promise<StoredReviewItem[]> {
    return (this.db.prepare("SELECT * FROM review_items WHERE state = 'pending' AND expires_at <= ? ORDER BY expires_at LIMIT ?").all(now, limit) as Row[]).map(itemFromRow);
  }

  async inState(state: ReviewState, limit: number): Promise<StoredReviewItem[]> {
    return (this.db.prepare('SELECT * FROM review_items WHERE state = ? ORDER BY updated_at LIMIT ?').all(state, limit) as Row[]).map(itemFromRow);
  }

  async standing(gateway: string, now: number, limit: number): Promise<StoredReviewItem[]> {
    const sql = "SELECT * FROM review_items WHERE gateway = ? AND (state IN ('pending', 'approved') OR (state = 'rejected' AND expires_at > ?)) ORDER BY created_at DESC LIMIT ?";
    return (this.db.prepare(sql).all(gateway, now, limit) as Row[]).map(itemFromRow);
  }

  async joinedBy(gateway: string, proposalId: string, since: number): Promise<StoredReviewItem | undefined> {
    const sql = `SELECT * FROM review_items WHERE updated_at >= ? AND gateway = ?
      AND EXISTS (SELECT 1 FROM json_each(review_items.evidence, '$.proposers') p WHERE json_extract(p.value, '$.id') = ?)
      ORDER BY updated_at DESC LIMIT 1`;
    const row = this.db.prepare(sql).get(since, gateway, proposalId) as Row | undefined;
    return row ? itemFromRow(row) : undefined;
  }

  async changedSince(since: number, limit: number): Promise<StoredReviewItem[]> {
    return (this.db.prepare('SELECT * FROM review_items WHERE updated_at >= ? ORDER BY updated_at LIMIT ?').all(since, limit) as Row[]).map(itemFromRow);
  }

  async audit(itemId?: string): Promise<AuditEntry[]> {
    const rows = itemId === undefined ? this.db.prepare('SELECT * FROM review_audit ORDER BY seq').all() : this.db.prepare('SELECT * FROM review_audit WHERE item_id = ? ORDER BY seq').all(itemId);
    return (rows as Row[]).map(auditFromRow);
  }
}
