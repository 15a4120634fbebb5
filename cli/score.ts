/**
 * `swarmgate score --input FILE.csv [--output OUT.csv]`: runs exactly the gateway's anomaly
 * detector over a timestamp,value CSV in time order and writes timestamp,value,anomaly_score.
 */
import { parseArgs } from 'node:util';
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
    await scoreCsv(values.input, values.output, {});
    return 0;
  },
};
