/**
 * Persistence of the review queue, one implementation per hub store (same contract, same tables).
 * Every change is conditional on the stored version and state, and writes its audit entry in the
 * same transaction, so two technicians deciding at once cannot both win and nothing goes
 * unaudited.
 */
import type { Action } from '../../shared/wire/messages.js';
import { SwarmgateError } from '../../shared/kit/errors.js';
import { PostgresStore } from '../store/postgres/postgres.js';
import { SqliteStore } from '../store/sqlite/sqlite.js';
import { json, num, type Row } from '../store/rows.js';
import type { HubStore } from '../store/types.js';
import type { AuditAction, AuditEntry, ReviewFilter, ReviewItem, ReviewSource, ReviewState, StoredReviewItem } from './types.js';

/** An audit entry before the repository numbers it. */
export type NewAuditEntry = Omit<AuditEntry, 'seq'>;

export interface ReviewRepository {
  /**
   * Inserts with its audit entry; false (nothing written) when the id exists or another pending
   * item has the same action (actionKey): the unique index that keeps one pending item per action
   * across hub processes (migration 13).
   */
  insert(row: StoredReviewItem, entry: NewAuditEntry): Promise<boolean>;
  get(id: string): Promise<StoredReviewItem | undefined>;
  list(filter: ReviewFilter): Promise<ReviewItem[]>;
  /**
   * Writes `next` (state, decision, priority, expiry, evidence, context) while the stored version is
   * next.version - 1 and its state one of `from`.
   */
  update(next: StoredReviewItem, from: readonly ReviewState[], entry: NewAuditEntry): Promise<boolean>;
  /** Pending items whose expiresAt <= now. */
  dueForExpiry(now: number, limit: number): Promise<StoredReviewItem[]>;
  inState(state: ReviewState, limit: number): Promise<StoredReviewItem[]>;
  /**
   * The gateway's pending and approved (executing) items, and its rejected items whose expiry is
   * still ahead of `now`: what a new proposal for the same action joins or is held back by.
   */
  standing(gateway: string, now: number, limit: number): Promise<StoredReviewItem[]>;
  /**
   * The item of `gateway` a proposal `proposalId` joined (its id in evidence.proposers), among
   * items changed at or after `since` (a join changes the item, and every later change too).
   */
  joinedBy(gateway: string, proposalId: string, since: number): Promise<StoredReviewItem | undefined>;
  /** Items changed at or after `since` (by any process). */
  changedSince(since: number, limit: number): Promise<StoredReviewItem[]>;
  audit(itemId?: string): Promise<AuditEntry[]>;
}

export type { Row };

/** What a list selects: everything, or everything but the evidence and private context. */
export function listColumns(filter: ReviewFilter): string {
  return filter.evidence === false
    ? 'id, state, site, gateway, priority, source, source_agent, action_class, action, modified_action, confidence, rationale, created_at, expires_at, decided_by, decided_at, reason, command_id, version, updated_at'
    : '*';
}

export function itemFromRow(row: Row): StoredReviewItem {
  const opt = <K extends string, V>(key: K, value: V | undefined | null): Partial<Record<K, V>> => (value === undefined || value === null ? {} : ({ [key]: value } as Record<K, V>));
  const item: ReviewItem = {
    id: String(row.id),
    state: row.state as ReviewState,
    site: String(row.site),
    gateway: String(row.gateway),
    priority: num(row.priority),
    source: row.source as ReviewSource,
    ...opt('sourceAgent', row.source_agent as string | null),
    actionClass: String(row.action_class),
    action: json<Action>(row.action) as Action,
    ...opt('modifiedAction', json<Action>(row.modified_action)),
    confidence: num(row.confidence),
    rationale: String(row.rationale),
    evidence: json<Record<string, unknown>>(row.evidence) ?? {},
    createdAt: num(row.created_at),
    expiresAt: num(row.expires_at),
    ...opt('decidedBy', row.decided_by as string | null),
    ...opt('decidedAt', row.decided_at === null || row.decided_at === undefined ? undefined : num(row.decided_at)),
    ...opt('reason', row.reason as string | null),
    ...opt('commandId', row.command_id as string | null),
    version: num(row.version),
  };
  const context = json<Record<string, unknown>>(row.context);
  return { item, updatedAt: num(row.updated_at), ...(context ? { context } : {}) };
}

export function auditFromRow(row: Row): AuditEntry {
  const before = json<ReviewItem>(row.before);
  return {
    seq: num(row.seq),
    itemId: String(row.item_id),
    at: num(row.at),
    actor: String(row.actor),
    action: row.action as AuditAction,
    ...(before ? { before } : {}),
    after: json<ReviewItem>(row.after) as ReviewItem,
    ...(row.note === null || row.note === undefined ? {} : { note: String(row.note) }),
  };
}

export const stringify = (v: unknown): string | null => (v === undefined ? null : JSON.stringify(v));

/** The repository for the store the hub runs on. */
export async function reviewRepository(store: HubStore): Promise<ReviewRepository> {
  if (store instanceof SqliteStore) return new (await import('./sqlite-repository.js')).SqliteReviewRepository(store.database);
  if (store instanceof PostgresStore) return new (await import('./postgres-repository.js')).PostgresReviewRepository(store);
  throw new SwarmgateError('SWG_ERR_INTERNAL', `no review repository for a ${store.kind} store`);
}

export function clampLimit(limit: number | undefined): number {
  return Math.max(1, Math.min(1000, Math.floor(limit ?? 100)));
}
