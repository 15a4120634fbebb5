/**
 * The review queue as the API sees it (hub/review implements it). Kept structural so the API
 * builds and tests against any implementation with this shape.
 */
import type { Action } from '../../shared/wire/messages.js';

export type ReviewState = 'pending' | 'approved' | 'rejected' | 'expired' | 'executed' | 'failed';

export interface ReviewItemView {
  readonly id: string;
  readonly state: ReviewState;
  readonly site: string;
  readonly gateway: string;
  /** 0..100, higher first. */
  readonly priority: number;
  readonly source: 'gateway' | 'hub';
  readonly sourceAgent?: string;
  readonly actionClass: string;
  readonly action: Action;
  readonly modifiedAction?: Action;
  readonly confidence: number;
  readonly rationale: string;
  /** Telemetry windows [{device, point, samples: [{ts, value}]}], votes, dissent. */
  readonly evidence: Record<string, unknown>;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly decidedBy?: string;
  readonly decidedAt?: number;
  readonly reason?: string;
  readonly commandId?: string;
  readonly version: number;
}

export interface ReviewFilter {
  readonly site?: string;
  readonly state?: ReviewState;
  readonly minPriority?: number;
  readonly limit?: number;
  readonly offset?: number;
}

export interface ReviewPort {
  list(filter?: ReviewFilter): Promise<readonly ReviewItemView[]>;
  get(id: string): Promise<ReviewItemView | undefined>;
  approve(id: string, by: { user: string; note?: string }): Promise<ReviewItemView>;
  reject(id: string, by: { user: string; reason: string }): Promise<ReviewItemView>;
  modify(id: string, by: { user: string; action: Action; note?: string }): Promise<ReviewItemView>;
  audit(id?: string): Promise<readonly object[]>;
  onChange(listener: (item: ReviewItemView) => void): () => void;
}
