/**
 * The vocabulary every hub decision agent shares: domains, proposals, votes and the one small
 * Agent interface. Agents are pure deciders: they read a facility snapshot and return proposals
 * and votes; they know nothing of HTTP, MQTT or storage (the coordinator and ports do that).
 */
import { Type, type Static } from '@sinclair/typebox';
import { clamp01 } from '../../shared/kit/numbers.js';
import type { Action, PointValue, ProposalBasis } from '../../shared/wire/messages.js';

export type { PointValue };
export { clamp01 };
import type { FacilitySnapshot } from './snapshot.js';

const strict = { additionalProperties: false } as const;

export const DOMAINS = ['energy', 'comfort', 'equipment', 'safety'] as const;
export type Domain = (typeof DOMAINS)[number];
export const DomainSchema = Type.Union(DOMAINS.map((d) => Type.Literal(d)), { description: 'area of expertise' });

/**
 * What a proposal is about. Agents publish how relevant they are to each kind, which is the
 * "domain relevance" used to weight their votes.
 */
export const PROPOSAL_KINDS = [
  'setback',
  'peak-shed',
  'simultaneous-heat-cool',
  'comfort-restore',
  'ventilation',
  'humidity',
  'backup-equipment',
  'maintenance',
  'cold-chain',
  'interlock',
] as const;
export type ProposalKind = (typeof PROPOSAL_KINDS)[number];

export type Priority = 'low' | 'normal' | 'high' | 'critical';

/** What the executor checks in telemetry after the settling window. */
export interface ExpectedEffect {
  readonly gateway: string;
  readonly device: string;
  readonly point: string;
  /** 'reach' means the point should end within `tolerance` of `target`. */
  readonly direction: 'increase' | 'decrease' | 'reach';
  /** Minimum change (absolute, in the point's unit) that counts as an effect. */
  readonly magnitude: number;
  readonly target?: number;
  readonly tolerance?: number;
  readonly settleMs: number;
}

/** A maintenance task for people, attached to proposals that cannot be fixed by a write. */
export interface WorkOrder {
  readonly equipment: string;
  readonly problem: string;
  readonly task: string;
  readonly urgency: Priority;
  /**
   * Tells apart occurrences the same task would otherwise merge (e.g. "service due #2" after
   * "#1"); the same condition proposed again is the same order, closed or open.
   */
  readonly condition?: string;
}

/** An agent's proposal: the wire's proposal basis (confidence, rationale, evidence) plus who, what and where. */
export interface Proposal extends Readonly<ProposalBasis> {
  /** Deterministic for the same agent, kind, target, value and trigger, so replays dedupe. */
  readonly id: string;
  readonly agent: string;
  readonly domain: Domain;
  readonly kind: ProposalKind;
  readonly site: string;
  readonly zone?: string;
  readonly gateway: string;
  /** null: advice only (a work order); never auto-executed, always reviewed. */
  readonly action: Action | null;
  /** The value before the action, for rollback; unknown when absent. */
  readonly previous?: PointValue;
  /** false for actions that must never be undone automatically (safety measures). */
  readonly rollback: boolean;
  /** Confidence after track-record scaling (the coordinator applies it). */
  readonly confidence: number;
  /** Confidence as the agent computed it, before scaling. */
  readonly rawConfidence: number;
  readonly expectedEffect?: ExpectedEffect;
  readonly workOrder?: WorkOrder;
  readonly priority: Priority;
  readonly ts: number;
  /** Other agents that proposed the same action (merged by the coordinator), with their confidence. */
  readonly supporters?: ReadonlyArray<{ readonly agent: string; readonly confidence: number }>;
}

export const VoteSchema = Type.Object(
  {
    voter: Type.String({ minLength: 1, maxLength: 128, description: 'agent id' }),
    proposal: Type.String({ minLength: 1, maxLength: 128, description: 'proposal id' }),
    choice: Type.Union([Type.Literal('approve'), Type.Literal('reject'), Type.Literal('abstain')]),
    confidence: Type.Number({ minimum: 0, maximum: 1, description: "voter's confidence in its choice" }),
    veto: Type.Optional(Type.Boolean({ description: 'true: a hard objection (only counts from veto holders)' })),
    reason: Type.String({ maxLength: 2000 }),
    castAt: Type.Integer({ minimum: 0, description: 'ms since the epoch when the vote was cast' }),
  },
  strict,
);
export type Vote = Static<typeof VoteSchema>;

/** What a voter needs to know about itself when judging a proposal. */
export type VoteDraft = Omit<Vote, 'voter' | 'proposal' | 'castAt'>;

/**
 * The one agent interface. `relevance(kind)` in [0,1] says how much the agent knows about a kind of
 * proposal; `vote` may be async (a slow voter simply misses the consensus deadline).
 */
export interface Agent {
  readonly id: string;
  readonly domain: Domain;
  /** May this agent veto (delegated authority)? */
  readonly vetoAuthority: boolean;
  relevance(kind: ProposalKind): number;
  propose(snapshot: FacilitySnapshot): readonly ProposalDraft[];
  vote(proposal: Proposal, snapshot: FacilitySnapshot): VoteDraft | Promise<VoteDraft>;
}

/** What an agent returns; the coordinator fills in ids, agent, scaling and timestamps. */
export type ProposalDraft = Omit<Proposal, 'id' | 'agent' | 'domain' | 'confidence' | 'rawConfidence' | 'ts' | 'supporters' | 'rollback'> & {
  readonly confidence: number;
  readonly rollback?: boolean;
  /** Makes the proposal id stable across evaluations (e.g. one work order per service interval). */
  readonly dedupeKey?: string;
};
