/**
 * `swarmgate sim [--config FILE] [--speed N] [--bacnet]`  run the simulated facility (--bacnet: with its BACnet/IP controllers)
 * `swarmgate sim fault list|add JSON|clear [ID] [--control URL]`   inject faults at run time
 * `swarmgate sim speed [N] [--control URL]`           show or change simulated seconds per real second
 * `swarmgate sim step SECONDS [--control URL]`        jump simulated time ahead
 */
import { parseArgs } from 'node:util';
import type { Command } from './commands.js';
import { untilSignal } from './shutdown.js';

const HELP = `usage:
  swarmgate sim [--config sim.yaml] [--speed N] [--bacnet]   N simulated seconds per real second (default 1);
        --bacnet adds the BACnet/IP controllers (VAV-1 1001, VAV-2 1002, CHW-PLANT 2001; UDP 47820-47822
        unless the config's bacnet.port says otherwise)
  swarmgate sim fault list [--control URL]   (default: the demo's control API, 127.0.0.1:15022, then swarmgate sim's, :5080)
  swarmgate sim fault add '{"kind":"drift","target":"ahu.supply_air_temp","ratePerHour":2}' [--control URL]
  swarmgate sim fault clear [ID] [--control URL]
  swarmgate sim speed [N] [--control URL]        show, or set, how fast simulated time runs (0 freezes it)
  swarmgate sim step SECONDS [--control URL]     jump simulated time ahead (e.g. 1800: half an hour)
`;

/**
 * The control API to call: --control, else the demo's (`npm start`), then a plain `swarmgate sim`'s
 * default port, the first that answers.
 */
async function controlArgs(args: string[]): Promise<{ bases: string[]; positionals: string[] }> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { control: { type: 'string' } } });
  if (values.control !== undefined) return { bases: [values.control.replace(/\/$/, '')], positionals };
  const [{ DEMO_PORTS }, { SIM_DEFAULT_PORTS }] = await Promise.all([import('./demo.js'), import('../devices/sim-config.js')]);
  return { bases: [DEMO_PORTS.control, SIM_DEFAULT_PORTS.control].map((port) => `http://127.0.0.1:${port}`), positionals };
}

/** The control API's answer to `path` from the first base that is listening; undefined (after saying which were tried) when none is. */
async function call(bases: readonly string[], path: string, init?: RequestInit): Promise<Response | undefined> {
  for (const base of bases) {
    try {
      return await fetch(`${base}${path}`, init);
    } catch {
      // not listening there: the next one
    }
  }
  process.stderr.write(`swarmgate: no simulator control API answered at ${bases.join(' or ')} (is the demo or \`swarmgate sim\` running? give its address with --control URL)\n`);
  return undefined;
}

/** Prints the answer (`done` when it has no body, `format` for a readable line), exit code 0 when it was a success. */
async function answer(response: Response | undefined, done = 'done', format?: (body: unknown) => string): Promise<number> {
  if (!response) return 1;
  const text = await response.text();
  let line = text.trim() === '' ? done : text;
  if (response.ok && format && text.trim() !== '') {
    try {
      line = format(JSON.parse(text));
    } catch {
      // not JSON: as it came
    }
  }
  (response.ok ? process.stdout : process.stderr).write(`${line}\n`);
  return response.ok ? 0 : 1;
}

const speedLine = (body: unknown): string => `simulated time runs at ${String((body as { speed?: unknown }).speed)} s per real second`;

const postInit = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** A number argument, or undefined after printing why not (exit 2). */
function numberArg(text: string | undefined, what: string): number | undefined {
  const n = text === undefined || text.trim() === '' ? Number.NaN : Number(text);
  if (Number.isFinite(n) && n >= 0) return n;
  process.stderr.write(`${what}: expected a number >= 0, got ${JSON.stringify(text ?? '')}\n${HELP}`);
  return undefined;
}

async function speed(args: string[]): Promise<number> {
  const { bases, positionals } = await controlArgs(args);
  if (positionals[0] === undefined) return answer(await call(bases, '/speed'), 'done', speedLine);
  const n = numberArg(positionals[0], 'sim speed');
  return n === undefined ? 2 : answer(await call(bases, '/speed', postInit({ speed: n })), 'done', speedLine);
}

async function step(args: string[]): Promise<number> {
  const { bases, positionals } = await controlArgs(args);
  const seconds = numberArg(positionals[0], 'sim step');
  if (seconds === undefined) return 2;
  const response = await call(bases, '/step', postInit({ seconds }));
  if (!response) return 1;
  const body = (await response.json()) as { time?: number; coldRoom?: { temperatureC?: number }; error?: string };
  process.stdout.write(response.ok ? `simulated time now ${new Date(body.time ?? 0).toISOString()}; cold room ${body.coldRoom?.temperatureC?.toFixed(1) ?? '?'} degC\n` : `${JSON.stringify(body)}\n`);
  return response.ok ? 0 : 1;
}

async function fault(args: string[]): Promise<number> {
  const { bases, positionals } = await controlArgs(args);
  const [action, arg] = positionals;
  const request: [string, RequestInit?] | undefined =
    action === 'list'
      ? ['/faults']
      : action === 'add' && arg
        ? ['/faults', { method: 'POST', headers: { 'content-type': 'application/json' }, body: arg }]
        : action === 'clear'
          ? [arg ? `/faults/${encodeURIComponent(arg)}` : '/faults', { method: 'DELETE' }]
          : undefined;
  if (!request) {
    process.stderr.write(HELP);
    return 2;
  }
  return answer(await call(bases, ...request), action === 'clear' ? (arg ? `fault ${arg} cleared` : 'all faults cleared') : 'done');
}

export const simCommand: Pick<Command, 'run'> = {
  async run(args) {
    if (args[0] === 'fault') return fault(args.slice(1));
    if (args[0] === 'speed') return speed(args.slice(1));
    if (args[0] === 'step') return step(args.slice(1));
    const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, speed: { type: 'string' }, bacnet: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
    if (values.help) {
      process.stdout.write(HELP);
      return 0;
    }
    const speedOverride = values.speed === undefined ? undefined : numberArg(values.speed, '--speed');
    if (values.speed !== undefined && speedOverride === undefined) return 2;
    const { runSimulator } = await import('../devices/sim-config.js');
    const facility = await runSimulator(values.config, { ...(speedOverride === undefined ? {} : { speed: speedOverride }), ...(values.bacnet ? { bacnet: true } : {}) });
    process.stdout.write(`${JSON.stringify({ endpoints: facility.endpoints }, null, 2)}\n`);
    await untilSignal(() => facility.stop());
    return 0;
  },
};
