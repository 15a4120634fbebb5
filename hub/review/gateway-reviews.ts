/**
 * Gateway review requests into the queue: each HubEvents 'review' becomes one item (deduplicated
 * by the request id; ingest may deliver twice), with the telemetry window of the point the action
 * writes attached as evidence so the technician sees what the gateway saw.
 */
import { errorMessage } from '../../shared/kit/errors.js';
import type { Logger } from '../../shared/kit/log.js';
import type { ReviewRequest } from '../../shared/wire/messages.js';
import type { HubEvents } from '../events.js';
import type { HubStore } from '../store/types.js';
import type { ReviewService } from './service.js';
import type { NewReviewItem } from './types.js';

export interface GatewayReviewOptions {
  /** Telemetry history before the request attached as evidence; default 1 h. */
  readonly evidenceWindowMs?: number;
  readonly log?: Logger;
}

/** Priority from the gateway's own hint (evidence.priority 0..100), else from how unsure it is. */
function priorityOf(review: ReviewRequest): number {
  const hint = review.evidence.priority;
  if (typeof hint === 'number' && Number.isFinite(hint)) return hint;
  return 50;
}

export async function reviewItemFromRequest(store: HubStore, site: string, review: ReviewRequest, windowMs = 3_600_000): Promise<NewReviewItem> {
  const telemetry: Array<{ device: string; point: string; samples: Array<{ ts: number; value: unknown }> }> = [];
  if (review.action.kind === 'write') {
    const { device, point } = review.action;
    const samples = await store.history(review.gateway, device, point, review.ts - windowMs, review.ts);
    telemetry.push({ device, point, samples: samples.filter((s) => s.quality !== 'bad').map((s) => ({ ts: s.ts, value: s.value })) });
  }
  return {
    id: review.id,
    site,
    gateway: review.gateway,
    priority: priorityOf(review),
    source: 'gateway',
    actionClass: review.actionClass,
    action: review.action,
    confidence: review.confidence,
    rationale: review.rationale,
    evidence: { ...review.evidence, telemetry },
    createdAt: review.ts,
    expiresAt: review.expiresAt,
  };
}

/** Subscribes the queue to gateway review requests; returns the unsubscribe function. */
export function connectGatewayReviews(events: HubEvents, service: ReviewService, store: HubStore, options: GatewayReviewOptions = {}): () => void {
  return events.on('review', async ({ site, review }) => {
    try {
      await service.submit(await reviewItemFromRequest(store, site, review, options.evidenceWindowMs));
    } catch (err) {
      options.log?.error({ id: review.id, gateway: review.gateway, err: errorMessage(err) }, 'gateway review request not queued');
      throw err;
    }
  });
}
