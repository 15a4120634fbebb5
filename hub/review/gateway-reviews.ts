/**
 * Gateway review requests into the queue: each HubEvents 'review' becomes one item (deduplicated
 * by the request id; ingest may deliver twice), with the same evidence an agent's item carries:
 * telemetry windows from the hub's store of the point the action writes and of the points the
 * request's evidence names (the cold-room temperature behind a backup-compressor write). A request
 * for an action that already waits joins that item; one the technician just rejected is held back
 * for 30 min at most, and never one of the 'safety' action class (ReviewService.propose): all
 * gateway requests carry the same priority, so they cannot escalate past a rejection otherwise.
 * A command applied without review (an agent's confident decision) closes a pending item for the
 * same write, so nobody is asked to approve what was already done.
 */
import { errorMessage } from '../../shared/kit/errors.js';
import type { Logger } from '../../shared/kit/log.js';
import type { ReviewRequest } from '../../shared/wire/messages.js';
import type { HubEvents } from '../events.js';
import type { HubStore } from '../store/types.js';
import type { ReviewService } from './service.js';
import { pointsOfRequest, readWindow, unitLookup } from './evidence.js';
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
  const from = review.ts - windowMs;
  const target = review.action.kind === 'write' ? `${review.action.device}/${review.action.point}` : undefined;
  const unitOf = unitLookup(store);
  const windows = await Promise.all(pointsOfRequest(review.gateway, review.action, review.evidence).map((ref) => readWindow(store, review.gateway, ref, from, review.ts, unitOf)));
  // The action's target is always charted; a named point the store never heard of is not.
  const telemetry = windows.filter((w) => w.samples.length > 0 || `${w.device}/${w.point}` === target);
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

/**
 * Subscribes the queue to gateway review requests, and to commands applied without review (a
 * pending item for the same write is closed); returns the unsubscribe function.
 */
export function connectGatewayReviews(events: HubEvents, service: ReviewService, store: HubStore, options: GatewayReviewOptions = {}): () => void {
  const offReviews = events.on('review', async ({ site, review }) => {
    try {
      await service.propose(await reviewItemFromRequest(store, site, review, options.evidenceWindowMs));
    } catch (err) {
      options.log?.error({ id: review.id, gateway: review.gateway, err: errorMessage(err) }, 'gateway review request not queued');
      throw err;
    }
  });
  const offCommands = events.on('command', async ({ record }) => {
    // A reviewed item's own command is not "without review".
    if (record.status !== 'applied' || record.command.origin.startsWith('review:')) return;
    try {
      await service.carriedOut(record.gateway, record.command.action, { origin: record.command.origin, commandId: record.id, sentAt: record.createdAt });
    } catch (err) {
      options.log?.warn({ command: record.id, gateway: record.gateway, err: errorMessage(err) }, 'pending review items for an applied command not closed');
    }
  });
  return () => {
    offReviews();
    offCommands();
  };
}
