/**
 * The counting all algorithms share once they have chosen weights: drop late and ineligible votes,
 * normalise weights over the eligible voters, check the quorum, decide and measure confidence.
 */
import type { Vote } from '../types.js';
import { clamp01 } from '../types.js';
import { DEFAULT_QUORUM, decisionId, type AlgorithmName, type Ballot, type ConsensusOptions, type Decision, type Outcome } from './types.js';

export interface CountedVotes {
  readonly counted: Vote[];
  readonly late: Vote[];
}

/** The latest in-time vote of each eligible voter; votes after the deadline are returned as late. */
export function countable(ballot: Ballot): CountedVotes {
  const eligible = new Set<string>();
  for (const v of ballot.voters) eligible.add(v.id);
  const latest = new Map<string, Vote>();
  const late: Vote[] = [];
  for (const vote of ballot.votes) {
    if (!eligible.has(vote.voter) || vote.proposal !== ballot.proposal.id) continue;
    if (vote.castAt > ballot.deadline) {
      late.push(vote);
      continue;
    }
    const prev = latest.get(vote.voter);
    if (!prev || vote.castAt >= prev.castAt) latest.set(vote.voter, vote);
  }
  return { counted: [...latest.values()], late };
}

/**
 * Decides with the given raw weights (voter id -> weight >= 0), normalised to sum 1. Ties and
 * ballots where everyone abstained are not approvals.
 */
export function tallyWith(name: AlgorithmName, ballot: Ballot, raw: ReadonlyMap<string, number>, options: ConsensusOptions = {}): Decision {
  const quorum = clamp01(options.quorum ?? DEFAULT_QUORUM);
  let total = 0;
  for (const v of ballot.voters) total += Math.max(0, raw.get(v.id) ?? 0);
  const weights: Record<string, number> = {};
  for (const v of ballot.voters) weights[v.id] = total > 0 ? Math.max(0, raw.get(v.id) ?? 0) / total : 0;

  const { counted, late } = countable(ballot);
  let approve = 0;
  let reject = 0;
  let abstain = 0;
  let approveConviction = 0;
  let rejectConviction = 0;
  for (const vote of counted) {
    const w = weights[vote.voter] ?? 0;
    if (vote.choice === 'approve') {
      approve += w;
      approveConviction += w * vote.confidence;
    } else if (vote.choice === 'reject') {
      reject += w;
      rejectConviction += w * vote.confidence;
    } else abstain += w;
  }
  const participation = approve + reject + abstain;
  // Float sums of normalised weights may land a hair under an exact quorum.
  const quorate = total > 0 && participation + 1e-9 >= quorum && approve + reject > 0;
  const approveSupport = approve > 0 ? approveConviction / (approve + rejectConviction) : 0;
  const rejectSupport = reject > 0 ? rejectConviction / (reject + approveConviction) : 0;

  let outcome: Outcome;
  let confidence: number;
  if (!quorate) {
    outcome = 'no-quorum';
    confidence = approveSupport * Math.min(1, participation);
  } else if (approve > reject) {
    outcome = 'approved';
    // The swarm cannot be surer than the proposer that the action does what it says.
    confidence = Math.min(ballot.proposal.confidence, approveSupport);
  } else {
    outcome = 'rejected';
    confidence = rejectSupport;
  }
  const dissent = outcome === 'approved' ? counted.filter((v) => v.choice === 'reject') : outcome === 'rejected' ? counted.filter((v) => v.choice === 'approve') : [];
  return {
    id: decisionId(ballot.proposal.id),
    proposal: ballot.proposal,
    algorithm: name,
    outcome,
    confidence: clamp01(confidence),
    votes: counted,
    late,
    dissent,
    weights,
    tally: { approve, reject, abstain, participation, quorum },
    decidedAt: ballot.decidedAt ?? ballot.deadline,
  };
}
