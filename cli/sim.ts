/**
 * `swarmgate sim [--config FILE]`                    run the simulated facility
 * `swarmgate sim fault list|add JSON|clear [ID] [--control URL]`   inject faults at run time
 */
import { parseArgs } from 'node:util';
import type { Command } from './commands.js';
import { untilSignal } from './shutdown.js';

const HELP = `usage:
  swarmgate sim [--config sim.yaml]
  swarmgate sim fault list [--control http://127.0.0.1:15022]
  swarmgate sim fault add '{"kind":"drift","target":"ahu.supply_air_temp","ratePerHour":2}' [--control URL]
  swarmgate sim fault clear [ID] [--control URL]
`;

async function fault(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { control: { type: 'string', default: 'http://127.0.0.1:15022' } } });
  const [action, arg] = positionals;
  const base = values.control.replace(/\/$/, '');
  const request =
    action === 'list'
      ? fetch(`${base}/faults`)
      : action === 'add' && arg
        ? fetch(`${base}/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: arg })
        : action === 'clear'
          ? fetch(arg ? `${base}/faults/${encodeURIComponent(arg)}` : `${base}/faults`, { method: 'DELETE' })
          : undefined;
  if (!request) {
    process.stderr.write(HELP);
    return 2;
  }
  const response = await request;
  process.stdout.write(`${await response.text()}\n`);
  return response.ok ? 0 : 1;
}

export const simCommand: Pick<Command, 'run'> = {
  async run(args) {
    if (args[0] === 'fault') return fault(args.slice(1));
    const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } });
    if (values.help) {
      process.stdout.write(HELP);
      return 0;
    }
    const { runSimulator } = await import('../devices/sim-config.js');
    const facility = await runSimulator(values.config);
    process.stdout.write(`${JSON.stringify({ endpoints: facility.endpoints }, null, 2)}\n`);
    await untilSignal(() => facility.stop());
    return 0;
  },
};
