/**
 * The review queue's vocabulary: items technicians approve, reject or modify, and the audit trail
 * of every change. The web API and the CLI code against these types and ReviewApi.
 */
import type { Static } from '@sinclair/typebox';
import type { Action } from '../../shared/wire/messages.js';
import type { ReviewItemSchema, ReviewStateSchema } from './schema.js';

export type ReviewState = Static<typeof ReviewStateSchema>;
export const REVIEW_STATES: readonly ReviewState[] = ['pending', 'approved', 'rejected', 'expired', 'executed', 'failed'];

export type ReviewSource = 'gateway' | 'hub';

/** What a submitter proposes; a stored item and a submission both carry it. */
export interface ReviewProposal {
  readonly site: string;
  readonly gateway: string;
  /** 0..100, higher first. */
  readonly priority: number;
  readonly source: ReviewSource;
  readonly sourceAgent?: string;
  readonly actionClass: string;
  readonly action: Action;
  readonly confidence: number;
  readonly rationale: string;
}

/**
 * An item on the queue (the API's response schema, hub/review/schema.ts): the proposal, its state,
 * a technician's modified action, evidence (telemetry windows, votes, dissent, ...), who decided
 * and when, the command id, and the version (+1 on every change; decisions are conditional on it).
 */
export type ReviewItem = Readonly<Static<typeof ReviewItemSchema>>;

export interface NewReviewItem extends ReviewProposal {
  /** Stable id: submitting the same id again returns the stored item unchanged. */
  readonly id: string;
  readonly evidence?: Record<string, unknown>;
  /** Default: now. */
  readonly createdAt?: number;
  /** Default: createdAt + the configured default expiry. */
  readonly expiresAt?: number;
  /** Private to the executor of this source (e.g. the hub's consensus decision); never shown. */
  readonly context?: Record<string, unknown>;
}

/**
 * 'join': another proposer's recommendation for the same action joined a pending item; 'raise':
 * one of its proposers came back with a higher priority.
 */
export type AuditAction = 'submit' | 'join' | 'raise' | 'approve' | 'reject' | 'modify' | 'expire' | 'execute' | 'fail';

export interface AuditEntry {
  readonly seq: number;
  readonly itemId: string;
  readonly at: number;
  /** User name, or "system" for expiry and execution. */
  readonly actor: string;
  readonly action: AuditAction;
  /** The item before the change (absent for submit). */
  readonly before?: ReviewItem;
  readonly after: ReviewItem;
  readonly note?: string;
}

export interface ReviewFilter {
  readonly site?: string;
  readonly state?: ReviewState;
  readonly minPriority?: number;
  /** Default 100, at most 1000. */
  readonly limit?: number;
  readonly offset?: number;
  /** false leaves each item's evidence empty: list views show it per item, and it is the bulk. */
  readonly evidence?: boolean;
}

export interface ReviewApi {
  submit(item: NewReviewItem): Promise<ReviewItem>;
  /** Priority desc, then createdAt asc. */
  list(filter?: ReviewFilter): Promise<ReviewItem[]>;
  get(id: string): Promise<ReviewItem | undefined>;
  approve(id: string, by: { user: string; note?: string }): Promise<ReviewItem>;
  reject(id: string, by: { user: string; reason: string }): Promise<ReviewItem>;
  /** Approves with a changed action. */
  modify(id: string, by: { user: string; action: Action; note?: string }): Promise<ReviewItem>;
  audit(id?: string): Promise<AuditEntry[]>;
  onChange(listener: (item: ReviewItem) => void): () => void;
}

/** What the queue keeps beyond the public item. */
export interface StoredReviewItem {
  readonly item: ReviewItem;
  readonly context?: Record<string, unknown>;
  readonly updatedAt: number;
}

/** The action an approved item executes: the technician's modification, else the proposal. */
export function effectiveAction(item: ReviewItem): Action {
  return item.modifiedAction ?? item.action;
}
