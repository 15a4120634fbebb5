/**
 * `swarmgate score --input FILE.csv [--output OUT.csv]`: runs exactly the gateway's anomaly
 * detector over a timestamp,value CSV in time order and writes timestamp,value,anomaly_score,state,
 * then a one-line summary on stderr (how many rows were scored while the detector was learning).
 */
import { parseArgs } from 'node:util';
import type { ScoreCsvResult } from '../edge/analytics/index.js';
import type { Command } from './commands.js';

const HELP = 'usage: swarmgate score --input FILE.csv [--output OUT.csv]\n';

export const scoreCommand: Pick<Command, 'run'> = {
  async run(args) {
    const { values } = parseArgs({ args, options: { input: { type: 'string', short: 'i' }, output: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' } } });
    if (values.help || !values.input) {
      process.stdout.write(HELP);
      return values.help ? 0 : 2;
    }
    const { scoreCsv } = await import('../edge/analytics/index.js');
    const r = await scoreCsv(values.input, values.output, {});
    process.stderr.write(`${scoreSummary(values.input, r)}\n`);
    return 0;
  },
};

/** What a person wants to know after a run: how much was learning, how much was really scored. */
export function scoreSummary(input: string, r: ScoreCsvResult): string {
  const learning =
    r.learningRows >= r.rows
      ? `all ${r.rows} rows scored while learning (state=learning: scores are provisional; with default options the detector learns for about 410 rows)`
      : `${r.learningRows} of ${r.rows} rows scored while learning (state=learning: scores are provisional), ${r.rows - r.learningRows} scored`;
  return `score ${input}: ${learning}; ${r.alerts} at or above 0.5, max ${r.maxScore.toFixed(3)}, ${r.seconds.toFixed(1)} s`;
}
