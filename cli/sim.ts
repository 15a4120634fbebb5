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
  swarmgate sim fault list [--control http://127.0.0.1:15022]
  swarmgate sim fault add '{"kind":"drift","target":"ahu.supply_air_temp","ratePerHour":2}' [--control URL]
  swarmgate sim fault clear [ID] [--control URL]
  swarmgate sim speed [N] [--control URL]        show, or set, how fast simulated time runs (0 freezes it)
  swarmgate sim step SECONDS [--control URL]     jump simulated time ahead (e.g. 1800: half an hour)
`;

const DEFAULT_CONTROL = 'http://127.0.0.1:15022';

function controlArgs(args: string[]): { base: string; positionals: string[] } {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { control: { type: 'string', default: DEFAULT_CONTROL } } });
  return { base: values.control.replace(/\/$/, ''), positionals };
}

async function answer(request: Promise<Response>): Promise<number> {
  const response = await request;
  process.stdout.write(`${await response.text()}\n`);
  return response.ok ? 0 : 1;
}

const post = (url: string, body: unknown): Promise<Response> => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** A number argument, or undefined after printing why not (exit 2). */
function numberArg(text: string | undefined, what: string): number | undefined {
  const n = text === undefined || text.trim() === '' ? Number.NaN : Number(text);
  if (Number.isFinite(n) && n >= 0) return n;
  process.stderr.write(`${what}: expected a number >= 0, got ${JSON.stringify(text ?? '')}\n${HELP}`);
  return undefined;
}

async function speed(args: string[]): Promise<number> {
  const { base, positionals } = controlArgs(args);
  if (positionals[0] === undefined) return answer(fetch(`${base}/speed`));
  const n = numberArg(positionals[0], 'sim speed');
  return n === undefined ? 2 : answer(post(`${base}/speed`, { speed: n }));
}

async function step(args: string[]): Promise<number> {
  const { base, positionals } = controlArgs(args);
  const seconds = numberArg(positionals[0], 'sim step');
  if (seconds === undefined) return 2;
  const response = await post(`${base}/step`, { seconds });
  const body = (await response.json()) as { time?: number; coldRoom?: { temperatureC?: number }; error?: string };
  process.stdout.write(response.ok ? `simulated time now ${new Date(body.time ?? 0).toISOString()}; cold room ${body.coldRoom?.temperatureC?.toFixed(1) ?? '?'} degC\n` : `${JSON.stringify(body)}\n`);
  return response.ok ? 0 : 1;
}

async function fault(args: string[]): Promise<number> {
  const { base, positionals } = controlArgs(args);
  const [action, arg] = positionals;
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
  return answer(request);
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
