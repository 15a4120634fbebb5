/**
 * The review queue as the API sees it: the slice of hub/review's ReviewApi the routes use (no
 * submit — items come from gateways and agents, not from HTTP).
 */
import type { ReviewApi, ReviewFilter, ReviewItem, ReviewState } from '../review/types.js';

export type { ReviewFilter, ReviewState };
export type ReviewItemView = ReviewItem;
export type ReviewPort = Pick<ReviewApi, 'list' | 'get' | 'approve' | 'reject' | 'modify' | 'audit' | 'onChange'>;
