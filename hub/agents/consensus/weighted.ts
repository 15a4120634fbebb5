/** Weighted voting: each voter carries a configured static weight (default 1); quorum counts weight. */
import { tallyWith } from './tally.js';
import type { Ballot, ConsensusAlgorithm, ConsensusOptions, Decision } from './types.js';

export const weighted: ConsensusAlgorithm = {
  name: 'weighted',
  decide(ballot: Ballot, options?: ConsensusOptions): Decision {
    const weights = new Map<string, number>();
    for (const v of ballot.voters) weights.set(v.id, Math.max(0, v.weight ?? 1));
    return tallyWith('weighted', ballot, weights, options);
  },
};
