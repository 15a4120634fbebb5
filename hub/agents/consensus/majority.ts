/** Simple majority: one voter, one vote; quorum counts voters. */
import { tallyWith } from './tally.js';
import type { Ballot, ConsensusAlgorithm, ConsensusOptions, Decision } from './types.js';

export const majority: ConsensusAlgorithm = {
  name: 'majority',
  decide(ballot: Ballot, options?: ConsensusOptions): Decision {
    const weights = new Map<string, number>();
    for (const v of ballot.voters) weights.set(v.id, 1);
    return tallyWith('majority', ballot, weights, options);
  },
};
