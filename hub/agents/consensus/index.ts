/** The consensus manager: picks an algorithm by name and decides ballots. */
import { SwarmgateError } from '../../../shared/kit/errors.js';
import { delegated } from './delegated.js';
import { expertise } from './expertise.js';
import { majority } from './majority.js';
import type { AlgorithmName, Ballot, ConsensusAlgorithm, ConsensusOptions, Decision } from './types.js';
import { weighted } from './weighted.js';

export * from './types.js';
export { countable, tallyWith } from './tally.js';
export { majority } from './majority.js';
export { weighted } from './weighted.js';
export { expertise, expertiseWeight } from './expertise.js';
export { delegated } from './delegated.js';

export const ALGORITHMS: Readonly<Record<AlgorithmName, ConsensusAlgorithm>> = {
  majority,
  weighted,
  expertise,
  delegated: delegated(expertise),
};

export class ConsensusManager {
  private readonly algorithm: ConsensusAlgorithm;

  constructor(
    algorithm: AlgorithmName | ConsensusAlgorithm = 'delegated',
    private readonly options: ConsensusOptions = {},
  ) {
    if (typeof algorithm === 'string') {
      const found = ALGORITHMS[algorithm] as ConsensusAlgorithm | undefined;
      if (!found) throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `unknown consensus algorithm "${algorithm}"; use one of ${Object.keys(ALGORITHMS).join(', ')}`);
      this.algorithm = found;
    } else this.algorithm = algorithm;
  }

  get name(): AlgorithmName {
    return this.algorithm.name;
  }

  decide(ballot: Ballot, options?: ConsensusOptions): Decision {
    return this.algorithm.decide(ballot, { ...this.options, ...options });
  }
}
