/**
 * Migration 12's data step: every review item gets its action key (dedupe.ts actionKey), and of
 * several pending items for one action (two hub processes that each filed one before the unique
 * index existed) the one kept is the highest priority, then the earliest; the others are expired
 * with a reason naming the kept item, audited like any expiry. Migration 13 then makes the key
 * unique among pending items, so no two processes can file the same action again.
 */
import type { Database } from 'better-sqlite3';
import type pg from 'pg';
import { actionKey } from './dedupe.js';
import { itemFromRow, stringify, type Row } from './repository.js';
import type { ReviewItem, StoredReviewItem } from './types.js';

export interface SupersededItem {
  readonly before: ReviewItem;
  readonly after: ReviewItem;
}

export interface OnePendingPlan {
  /** Every item's id and action key. */
  readonly keys: readonly (readonly [string, string])[];
  readonly superseded: readonly SupersededItem[];
}

/** The keys of `rows` and the pending duplicates to expire (pure). */
export function onePendingPlan(rows: readonly StoredReviewItem[]): OnePendingPlan {
  const keys: [string, string][] = [];
  const pending = new Map<string, ReviewItem[]>();
  for (const { item } of rows) {
    const key = actionKey(item.gateway, item.action);
    keys.push([item.id, key]);
    if (item.state !== 'pending') continue;
    const same = pending.get(key);
    if (same) same.push(item);
    else pending.set(key, [item]);
  }
  const superseded: SupersededItem[] = [];
  for (const items of pending.values()) {
    if (items.length < 2) continue;
    const [kept, ...rest] = [...items].sort((a, b) => b.priority - a.priority || a.createdAt - b.createdAt || a.id.localeCompare(b.id));
    for (const before of rest) {
      superseded.push({ before, after: { ...before, state: 'expired', reason: `superseded by review item ${kept!.id}: one pending item per action`, version: before.version + 1 } });
    }
  }
  return { keys, superseded };
}

const ACTOR = 'system';

/** SQLite: runs inside the migration's transaction. */
export function onePendingSqlite(db: Database, now = Date.now()): void {
  const rows = (db.prepare('SELECT * FROM review_items').all() as Row[]).map(itemFromRow);
  const plan = onePendingPlan(rows);
  const setKey = db.prepare('UPDATE review_items SET action_key = ? WHERE id = ?');
  for (const [id, key] of plan.keys) setKey.run(key, id);
  const expire = db.prepare("UPDATE review_items SET state = 'expired', reason = ?, version = ?, updated_at = ? WHERE id = ?");
  const audit = db.prepare('INSERT INTO review_audit (item_id, at, actor, action, before, after, note) VALUES (?, ?, ?, ?, ?, ?, ?)');
  for (const s of plan.superseded) {
    expire.run(s.after.reason ?? null, s.after.version, now, s.after.id);
    audit.run(s.after.id, now, ACTOR, 'expire', stringify(s.before), JSON.stringify(s.after), s.after.reason ?? null);
  }
}

/** PostgreSQL: runs inside the migration's transaction. */
export async function onePendingPostgres(client: pg.ClientBase, now = Date.now()): Promise<void> {
  const rows = ((await client.query('SELECT * FROM review_items')).rows as Row[]).map(itemFromRow);
  const plan = onePendingPlan(rows);
  if (plan.keys.length > 0) {
    await client.query('UPDATE review_items r SET action_key = k.key FROM unnest($1::text[], $2::text[]) AS k(id, key) WHERE r.id = k.id', [plan.keys.map(([id]) => id), plan.keys.map(([, key]) => key)]);
  }
  for (const s of plan.superseded) {
    await client.query("UPDATE review_items SET state = 'expired', reason = $1, version = $2, updated_at = $3 WHERE id = $4", [s.after.reason ?? null, s.after.version, now, s.after.id]);
    await client.query('INSERT INTO review_audit (item_id, at, actor, action, before, after, note) VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7)', [s.after.id, now, ACTOR, 'expire', stringify(s.before), JSON.stringify(s.after), s.after.reason ?? null]);
  }
}
