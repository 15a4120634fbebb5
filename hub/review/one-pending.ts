/**
 * Migration 12's data step: every review item gets its action key (dedupe.ts actionKey), and of
 * several pending items for one action (two hub processes that each filed one before the unique
 * index existed) one is kept: a live one (not past its expiry) before an overdue one, then the
 * highest priority, then the earliest; the others are expired with a reason naming the kept item,
 * audited like any expiry. Migration 13 then makes the key unique among pending items, so no two
 * processes can file the same action again. Items are read a page at a time, and only the columns
 * the key needs: the table keeps every item ever filed, each with its evidence.
 */
import type { Database } from 'better-sqlite3';
import type pg from 'pg';
import type { Action } from '../../shared/wire/messages.js';
import { actionKey } from './dedupe.js';
import { itemFromRow, stringify, type Row } from './repository.js';
import type { ReviewItem, ReviewState } from './types.js';

/** The columns the plan reads. */
export interface KeyedItem {
  readonly id: string;
  readonly gateway: string;
  readonly action: Action;
  readonly state: ReviewState;
  readonly priority: number;
  readonly createdAt: number;
  readonly expiresAt: number;
}

const PAGE = 2000;
const SLIM = 'id, gateway, action, state, priority, created_at, expires_at';

function slim(row: Row): KeyedItem {
  const action = typeof row.action === 'string' ? (JSON.parse(row.action) as Action) : (row.action as Action);
  return { id: String(row.id), gateway: String(row.gateway), action, state: row.state as ReviewState, priority: Number(row.priority), createdAt: Number(row.created_at), expiresAt: Number(row.expires_at) };
}

/** Of each action's pending items, the ids to expire and the id kept instead (pure). */
export function supersededPending(pending: readonly KeyedItem[], now: number): { readonly id: string; readonly keptId: string }[] {
  const byKey = new Map<string, KeyedItem[]>();
  for (const item of pending) {
    const key = actionKey(item.gateway, item.action);
    const same = byKey.get(key);
    if (same) same.push(item);
    else byKey.set(key, [item]);
  }
  const out: { id: string; keptId: string }[] = [];
  const live = (i: KeyedItem): number => (i.expiresAt > now ? 0 : 1);
  for (const items of byKey.values()) {
    if (items.length < 2) continue;
    const [kept, ...rest] = [...items].sort((a, b) => live(a) - live(b) || b.priority - a.priority || a.createdAt - b.createdAt || a.id.localeCompare(b.id));
    for (const item of rest) out.push({ id: item.id, keptId: kept!.id });
  }
  return out;
}

/** The expired form of a superseded item, and the audit entry's note. */
function supersede(before: ReviewItem, keptId: string): ReviewItem {
  return { ...before, state: 'expired', reason: `superseded by review item ${keptId}: one pending item per action`, version: before.version + 1 };
}

const ACTOR = 'system';

/** SQLite: runs inside the migration's transaction. */
export function onePendingSqlite(db: Database, now = Date.now()): void {
  const page = db.prepare(`SELECT ${SLIM} FROM review_items WHERE id > ? ORDER BY id LIMIT ${PAGE}`);
  const setKey = db.prepare('UPDATE review_items SET action_key = ? WHERE id = ?');
  const pending: KeyedItem[] = [];
  for (let after = ''; ; ) {
    const rows = (page.all(after) as Row[]).map(slim);
    if (rows.length === 0) break;
    for (const r of rows) {
      setKey.run(actionKey(r.gateway, r.action), r.id);
      if (r.state === 'pending') pending.push(r);
    }
    after = rows[rows.length - 1]!.id;
  }
  const full = db.prepare('SELECT * FROM review_items WHERE id = ?');
  const expire = db.prepare("UPDATE review_items SET state = 'expired', reason = ?, version = ?, updated_at = ? WHERE id = ?");
  const audit = db.prepare('INSERT INTO review_audit (item_id, at, actor, action, before, after, note) VALUES (?, ?, ?, ?, ?, ?, ?)');
  for (const { id, keptId } of supersededPending(pending, now)) {
    const before = itemFromRow(full.get(id) as Row).item;
    const after = supersede(before, keptId);
    expire.run(after.reason ?? null, after.version, now, id);
    audit.run(id, now, ACTOR, 'expire', stringify(before), JSON.stringify(after), after.reason ?? null);
  }
}

/** PostgreSQL: runs inside the migration's transaction. */
export async function onePendingPostgres(client: pg.ClientBase, now = Date.now()): Promise<void> {
  const pending: KeyedItem[] = [];
  for (let after = ''; ; ) {
    const rows = ((await client.query(`SELECT ${SLIM} FROM review_items WHERE id > $1 ORDER BY id LIMIT ${PAGE}`, [after])).rows as Row[]).map(slim);
    if (rows.length === 0) break;
    await client.query('UPDATE review_items r SET action_key = k.key FROM unnest($1::text[], $2::text[]) AS k(id, key) WHERE r.id = k.id', [rows.map((r) => r.id), rows.map((r) => actionKey(r.gateway, r.action))]);
    for (const r of rows) if (r.state === 'pending') pending.push(r);
    after = rows[rows.length - 1]!.id;
  }
  for (const { id, keptId } of supersededPending(pending, now)) {
    const before = itemFromRow((await client.query('SELECT * FROM review_items WHERE id = $1', [id])).rows[0] as Row).item;
    const after = supersede(before, keptId);
    await client.query("UPDATE review_items SET state = 'expired', reason = $1, version = $2, updated_at = $3 WHERE id = $4", [after.reason ?? null, after.version, now, id]);
    await client.query('INSERT INTO review_audit (item_id, at, actor, action, before, after, note) VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7)', [id, now, ACTOR, 'expire', stringify(before), JSON.stringify(after), after.reason ?? null]);
  }
}
