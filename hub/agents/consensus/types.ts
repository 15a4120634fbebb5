/**
 * Consensus vocabulary: a ballot (one proposal, the eligible voters, their votes and a deadline)
 * goes in, a Decision comes out. Algorithms are pure functions of the ballot.
 */
import type { Domain, Proposal, Vote } from '../types.js';

export type Outcome = 'approved' | 'rejected' | 'no-quorum' | 'vetoed';
export type AlgorithmName = 'majority' | 'weighted' | 'expertise' | 'delegated';

export interface Voter {
  readonly id: string;
  readonly domain: Domain;
  /** How relevant the voter is to the proposal's kind, [0,1]. */
  readonly relevance: number;
  /** Track record in [0,1] for the proposal's domain (posterior mean), for expertise weighting. */
  readonly track: number;
  /** Static weight for weighted voting; default 1. */
  readonly weight?: number;
  /** Delegated authority: this voter's veto stops the proposal. */
  readonly vetoAuthority: boolean;
}

export interface Ballot {
  readonly proposal: Proposal;
  /** Everyone eligible to vote (quorum is measured against these). */
  readonly voters: readonly Voter[];
  readonly votes: readonly Vote[];
  /** Votes cast after this instant (ms) do not count. */
  readonly deadline: number;
  /** When the decision is taken; default: the deadline. */
  readonly decidedAt?: number;
}

export interface ConsensusOptions {
  /** Fraction of eligible weight (or voters, for majority) that must vote; default 0.67. */
  readonly quorum?: number;
}

export interface Tally {
  /** Normalised weight of approve / reject / abstain votes that counted. */
  readonly approve: number;
  readonly reject: number;
  readonly abstain: number;
  /** approve + reject + abstain: the share of eligible weight that voted in time. */
  readonly participation: number;
  readonly quorum: number;
}

export interface Decision {
  /** "dec-" + proposal id: the executor's idempotency key. */
  readonly id: string;
  readonly proposal: Proposal;
  readonly algorithm: AlgorithmName;
  readonly outcome: Outcome;
  /** Confidence in the outcome, [0,1]; for approvals never above the proposal's own confidence. */
  readonly confidence: number;
  /** The votes that counted (eligible voter, cast by the deadline; the latest per voter). */
  readonly votes: readonly Vote[];
  /** Votes that missed the deadline. */
  readonly late: readonly Vote[];
  /** Counted votes against the outcome. */
  readonly dissent: readonly Vote[];
  /** Normalised weight of each eligible voter (sums to 1 when any voter has weight). */
  readonly weights: Readonly<Record<string, number>>;
  readonly tally: Tally;
  readonly vetoedBy?: string;
  readonly decidedAt: number;
}

export interface ConsensusAlgorithm {
  readonly name: AlgorithmName;
  decide(ballot: Ballot, options?: ConsensusOptions): Decision;
}

export const DEFAULT_QUORUM = 0.67;

export function decisionId(proposalId: string): string {
  return `dec-${proposalId}`;
}
