/**
 * Migration 62's data step: every entry kept before gets its key (key.ts: the batch, or a hash of
 * topic and payload), and the copies a resending gateway added of one message become one entry
 * counting them. Only copies that are the same in every byte an operator could read (topic,
 * payload, error) are merged: into the first one kept, its count the number of copies, first and
 * last seen their earliest and latest receipt. Entries that share a key but differ (a batch
 * resent with other readings under the same seq, an error worded otherwise) are all kept, the
 * others beside the one holding the plain key under a key of their own (`<key>#<id>`), so the
 * migration drops nothing an operator could still need but exact copies. Rows are read a page at
 * a time and only a digest of each is held: a kept payload may be large.
 */
import { createHash } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import type pg from 'pg';
import { quarantineKey } from './key.js';

/** One row as the plan needs it. */
export interface KeptRow {
  readonly id: number;
  /** The entry's key: the one it has (migration 61's implausible batches) or the one it gets. */
  readonly key: string;
  readonly keyed: boolean;
  /** A digest of topic, payload and error: equal for copies of one message refused alike. */
  readonly content: string;
  readonly receivedAt: number;
}

export interface RepeatsPlan {
  /** Copies merged into another entry. */
  readonly remove: number[];
  /** Entries that get their key and count (every entry that had no key, and every one copies merged into). */
  readonly update: { readonly id: number; readonly key: string; readonly seenCount: number; readonly receivedAt: number; readonly lastSeenAt: number }[];
}

/** Which rows go and what the others become (pure). Rows in id order. */
export function planRepeats(rows: readonly KeptRow[]): RepeatsPlan {
  const byKey = new Map<string, KeptRow[]>();
  for (const row of rows) {
    const same = byKey.get(row.key);
    if (same) same.push(row);
    else byKey.set(row.key, [row]);
  }
  const remove: number[] = [];
  const update: RepeatsPlan['update'][number][] = [];
  for (const [key, group] of byKey) {
    const copies = new Map<string, KeptRow[]>();
    for (const row of group) {
      const same = copies.get(row.content);
      if (same) same.push(row);
      else copies.set(row.content, [row]);
    }
    // The plain key stays with the entry that holds it already (a resend after 61 found it), else the first kept.
    const sets = [...copies.values()];
    const plain = sets.find((s) => s.some((r) => r.keyed)) ?? sets[0]!;
    for (const set of sets) {
      const [first, ...rest] = set;
      const entryKey = set === plain ? key : `${key}#${first!.id}`;
      for (const r of rest) remove.push(r.id);
      if (rest.length === 0 && first!.keyed && entryKey === key) continue;
      const receivedAt = set.reduce((min, r) => Math.min(min, r.receivedAt), first!.receivedAt);
      const lastSeenAt = set.reduce((max, r) => Math.max(max, r.receivedAt), first!.receivedAt);
      update.push({ id: first!.id, key: entryKey, seenCount: set.length, receivedAt, lastSeenAt });
    }
  }
  return { remove, update };
}

/** Rows read at a time (each with its payload, up to broker.maxPayloadBytes or more), and ids written at a time. */
const PAGE = 100;
const WRITE = 500;
const COLUMNS = 'id, topic, site, gateway, channel, reason, error, encoding, payload, received_at, dedupe_key';

function kept(row: Record<string, unknown>): KeptRow {
  const text = String(row.payload);
  const payload = row.encoding === 'base64' ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8');
  const opt = (v: unknown): string | undefined => (v === null || v === undefined ? undefined : String(v));
  const site = opt(row.site);
  const gateway = opt(row.gateway);
  const topic = String(row.topic);
  const has = opt(row.dedupe_key);
  const key = has ?? quarantineKey({ topic, ...(site === undefined ? {} : { site }), ...(gateway === undefined ? {} : { gateway }), channel: String(row.channel), reason: String(row.reason), payload });
  const content = createHash('sha256').update(topic).update('\u0000').update(String(row.encoding)).update('\u0000').update(text).update('\u0000').update(String(row.error)).digest('base64');
  return { id: Number(row.id), key, keyed: has !== undefined, content, receivedAt: Number(row.received_at) };
}

/** SQLite: runs inside the migration's transaction. */
export function keyRepeatsSqlite(db: Database): void {
  const page = db.prepare(`SELECT ${COLUMNS} FROM quarantine WHERE id > ? ORDER BY id LIMIT ${PAGE}`);
  const rows: KeptRow[] = [];
  for (let after = 0; ; ) {
    const got = (page.all(after) as Record<string, unknown>[]).map(kept);
    if (got.length === 0) break;
    rows.push(...got);
    after = got[got.length - 1]!.id;
  }
  const plan = planRepeats(rows);
  // Copies first: an entry taking the plain key from a copy merged into it needs the key free.
  const remove = db.prepare('DELETE FROM quarantine WHERE id = ?');
  for (const id of plan.remove) remove.run(id);
  const set = db.prepare('UPDATE quarantine SET dedupe_key = ?, seen_count = ?, received_at = ?, last_seen_at = ? WHERE id = ?');
  for (const u of plan.update) set.run(u.key, u.seenCount, u.receivedAt, u.lastSeenAt, u.id);
}

/** PostgreSQL: runs inside the migration's transaction. */
export async function keyRepeatsPostgres(client: pg.ClientBase): Promise<void> {
  const rows: KeptRow[] = [];
  for (let after = 0; ; ) {
    const got = ((await client.query(`SELECT ${COLUMNS} FROM quarantine WHERE id > $1 ORDER BY id LIMIT ${PAGE}`, [after])).rows as Record<string, unknown>[]).map(kept);
    if (got.length === 0) break;
    rows.push(...got);
    after = got[got.length - 1]!.id;
  }
  const plan = planRepeats(rows);
  for (let i = 0; i < plan.remove.length; i += WRITE) await client.query('DELETE FROM quarantine WHERE id = ANY($1::bigint[])', [plan.remove.slice(i, i + WRITE)]);
  for (let i = 0; i < plan.update.length; i += WRITE) {
    const part = plan.update.slice(i, i + WRITE);
    await client.query(
      `UPDATE quarantine q SET dedupe_key = u.key, seen_count = u.seen, received_at = u.first, last_seen_at = u.last
         FROM unnest($1::bigint[], $2::text[], $3::int[], $4::bigint[], $5::bigint[]) AS u(id, key, seen, first, last) WHERE q.id = u.id`,
      [part.map((u) => u.id), part.map((u) => u.key), part.map((u) => u.seenCount), part.map((u) => u.receivedAt), part.map((u) => u.lastSeenAt)],
    );
  }
}
