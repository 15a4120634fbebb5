/** The technician review queue: public surface for the hub, the web API and the CLI. */
export * from './types.js';
export { ReviewService, commandIdFor, pastDeadline, type ReviewServiceOptions, type ReviewExecutor, type ExecutionOutcome } from './service.js';
export { actionKey, type ProposeOutcome, type Proposer } from './dedupe.js';
export { liveEvidence, type EvidenceWindow } from './evidence.js';
export { connectGatewayReviews, reviewItemFromRequest, type GatewayReviewOptions } from './gateway-reviews.js';
export { reviewRepository, type ReviewRepository, type NewAuditEntry } from './repository.js';
export { REVIEW_MIGRATIONS } from './migrations.js';
