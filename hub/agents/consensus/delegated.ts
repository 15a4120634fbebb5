/**
 * Delegated authority: voters holding authority (safety) may veto. A veto cast in time by such a
 * voter decides the ballot as 'vetoed' whatever the others say and whether or not a quorum came
 * together; otherwise the underlying algorithm (expertise-weighted by default) decides. A veto
 * flag from a voter without authority counts as a plain rejection.
 */
import { expertise } from './expertise.js';
import { countable } from './tally.js';
import type { Ballot, ConsensusAlgorithm, ConsensusOptions, Decision } from './types.js';

export function delegated(base: ConsensusAlgorithm = expertise): ConsensusAlgorithm {
  return {
    name: 'delegated',
    decide(ballot: Ballot, options?: ConsensusOptions): Decision {
      const decision = base.decide(ballot, options);
      const authority = new Set(ballot.voters.filter((v) => v.vetoAuthority).map((v) => v.id));
      const veto = countable(ballot).counted.find((v) => v.veto === true && v.choice !== 'approve' && authority.has(v.voter));
      if (!veto) return { ...decision, algorithm: 'delegated' };
      return {
        ...decision,
        algorithm: 'delegated',
        outcome: 'vetoed',
        confidence: veto.confidence,
        vetoedBy: veto.voter,
        dissent: decision.votes.filter((v) => v.choice === 'approve'),
      };
    },
  };
}
