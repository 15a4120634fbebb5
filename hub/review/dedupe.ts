/**
 * One pending item per action: what a new proposal for an action that already waits (or that a
 * technician just rejected) does. Agents re-evaluate every few seconds and several agents (and
 * the gateway itself) can recommend the same write, so the queue judges "the same" by what would
 * be executed — the gateway, the action's target and its value — not by who proposed it or why.
 */
import type { Action } from '../../shared/wire/messages.js';
import type { NewReviewItem, ReviewItem } from './types.js';

/** Same key, same effect on the site: the gateway, the point written and its value (or the mode). */
export function actionKey(gateway: string, action: Action): string {
  return action.kind === 'write' ? `${gateway}|write|${action.device}|${action.point}|${JSON.stringify(action.value)}` : `${gateway}|mode|${action.mode}`;
}

/** Who recommended an item's action; the first entry is the item's own submitter. */
export interface Proposer {
  /** "agent:<id>" or "gateway:<id>". */
  readonly by: string;
  /** The id the proposer submitted under (a decision id, a gateway's request id). */
  readonly id: string;
  readonly confidence: number;
  readonly priority: number;
  readonly rationale: string;
  readonly at: number;
}

/**
 * What propose did: `created` a new item; `joined` a pending item for the same action (as another
 * proposer); `raised` the pending item's priority (a proposer of it came back with a higher one);
 * `unchanged` when that proposer had joined already, the id exists, or the id had joined an
 * item before (a gateway resending a request after its item closed); `held` back by a recent
 * rejection of the same action, or by an approved item executing it.
 */
export type ProposeOutcome = 'created' | 'joined' | 'raised' | 'unchanged' | 'held';

export function proposerName(p: Pick<NewReviewItem, 'sourceAgent' | 'gateway'>): string {
  return p.sourceAgent ? `agent:${p.sourceAgent}` : `gateway:${p.gateway}`;
}

export function clampPriority(priority: number): number {
  return Math.max(0, Math.min(100, Math.round(priority)));
}

function proposerOf(p: NewReviewItem | ReviewItem, at: number): Proposer {
  return { by: proposerName(p), id: p.id, confidence: p.confidence, priority: clampPriority(p.priority), rationale: p.rationale.slice(0, 2000), at };
}

/** The item's proposers: the recorded list, else its submitter alone. */
export function proposersOf(item: ReviewItem): Proposer[] {
  const list = item.evidence.proposers;
  return Array.isArray(list) && list.length > 0 ? (list as Proposer[]) : [proposerOf(item, item.createdAt)];
}

/** A pending item changed by a proposal: `join` added a proposer, `raise` raised the priority. */
export interface JoinChange {
  readonly item: ReviewItem;
  readonly change: 'join' | 'raise';
}

/**
 * The pending item with `input` as another proposer: the higher priority of the two, the later
 * expiry (the joiner's request must not vanish with a shorter-lived item), the telemetry windows
 * the item lacked, the proposer's rationale. A proposer that had joined already raises the
 * item's priority when it comes back with a higher one (and extends the expiry); otherwise
 * nothing changes (undefined). `inputExpiresAt` is when the proposal itself would expire.
 */
export function joined(item: ReviewItem, input: NewReviewItem, now: number, inputExpiresAt: number): JoinChange | undefined {
  const proposers = proposersOf(item);
  const by = proposerName(input);
  const priority = clampPriority(input.priority);
  const expiresAt = Math.max(item.expiresAt, inputExpiresAt);
  const mine = proposers.findIndex((p) => p.by === by);
  if (mine >= 0) {
    if (priority <= item.priority) return undefined;
    const raised = proposers.map((p, i) => (i === mine ? { ...p, priority, at: now } : p));
    return { change: 'raise', item: { ...item, priority, expiresAt, evidence: { ...item.evidence, proposers: raised }, version: item.version + 1 } };
  }
  const charts = (e: Readonly<Record<string, unknown>> | undefined): unknown[] => (Array.isArray(e?.telemetry) ? (e.telemetry as unknown[]) : []);
  const keyOf = (w: unknown): string => {
    const o = (w ?? {}) as Record<string, unknown>;
    return `${String(o.gateway ?? item.gateway)}/${String(o.device)}/${String(o.point)}`;
  };
  const have = new Set(charts(item.evidence).map(keyOf));
  const telemetry = [...charts(item.evidence), ...charts(input.evidence).filter((w) => !have.has(keyOf(w)))];
  return {
    change: 'join',
    item: {
      ...item,
      priority: Math.max(item.priority, priority),
      expiresAt,
      evidence: { ...item.evidence, telemetry, proposers: [...proposers, proposerOf(input, now)] },
      version: item.version + 1,
    },
  };
}

/**
 * How long a rejection holds the same action back at most: a technician's "no" answers the
 * situation they looked at, not one that changes hours later (a compressor failing after a
 * rejected precautionary backup-on).
 */
export const REJECTION_HOLD_MS = 30 * 60_000;

/** Until when a rejected item holds its action back: its expiry, or 30 min past the decision if earlier. */
export function heldUntil(rejected: ReviewItem): number {
  return Math.min(rejected.expiresAt, (rejected.decidedAt ?? rejected.createdAt) + REJECTION_HOLD_MS);
}

/**
 * A technician rejected this action recently (heldUntil is ahead of `now`): the same
 * recommendation is held back unless it comes with a higher priority than the rejected one (the
 * condition escalated, e.g. a warming room became a cold-chain breach). A request of the 'safety'
 * action class (a gateway's freezer protection asking for the backup compressor) is never held
 * back: gateway requests all carry one priority, so they cannot escalate that way.
 */
export function heldBack(rejected: ReviewItem, input: NewReviewItem, now: number): boolean {
  if (input.actionClass === 'safety') return false;
  return now < heldUntil(rejected) && clampPriority(input.priority) <= rejected.priority;
}
