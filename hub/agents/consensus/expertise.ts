/**
 * Expertise-weighted voting: weight = domain relevance to the proposal's kind x track record,
 * normalised over the eligible voters so the weights sum to 1 (an expert's say does not depend on
 * how many laymen are registered). Quorum is measured in that weight.
 */
import { tallyWith } from './tally.js';
import type { Ballot, ConsensusAlgorithm, ConsensusOptions, Decision } from './types.js';

export function expertiseWeight(relevance: number, track: number): number {
  return Math.max(0, relevance) * Math.max(0, track);
}

export const expertise: ConsensusAlgorithm = {
  name: 'expertise',
  decide(ballot: Ballot, options?: ConsensusOptions): Decision {
    const weights = new Map<string, number>();
    for (const v of ballot.voters) weights.set(v.id, expertiseWeight(v.relevance, v.track));
    return tallyWith('expertise', ballot, weights, options);
  },
};
