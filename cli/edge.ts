/**
 * `swarmgate edge --config FILE [--print]`   run the gateway
 * `swarmgate edge check FILE...`             validate configs and their profiles
 * `swarmgate edge discover ...`              browse/scan devices and write a draft profile
 * `swarmgate edge enroll --hub URL --token T` enroll with the hub (cli/enroll.ts)
 * `swarmgate edge dead-letters list|requeue|drop` what the broker refused (cli/dead-letters.ts)
 */
import { parseArgs } from 'node:util';
import { checkGatewayConfigFile } from '../edge/config/check-file.js';
import { loadConfig } from '../edge/config/load.js';
import { formatProblem } from '../shared/kit/config-file.js';
import { builtinDrivers } from '../edge/drivers/builtin.js';
import { startEdgeApp } from '../edge/app.js';
import type { Reading } from '../edge/drivers/driver.js';
import type { Command } from './commands.js';
import { EXIT_TOKEN_REFUSED, enroll } from './enroll.js';
import { checkBootstrap, enrollOnFirstStart } from '../edge/enrollment/enroll.js';
import { openServiceNotifier, type ServiceNotifier } from '../edge/runtime/systemd-notify.js';
import { isSwarmgateError } from '../shared/kit/errors.js';
import { createLogger, type Logger } from '../shared/kit/log.js';
import { untilSignal } from './shutdown.js';

/** Exit code asking the service manager for a restart (new config file, or `current` switched by the updater). */
export const EXIT_RESTART = 75;

const HELP = `usage:
  swarmgate edge --config gateway.yaml [--print]
  swarmgate edge check FILE [FILE...]
  swarmgate edge discover --protocol opcua --endpoint opc.tcp://host:4840 [--security-mode MODE --security-policy POLICY]
                          [--data-dir DIR] [--output profile.yaml]   (swarmgate edge discover --help: every option)
  swarmgate edge discover --protocol modbus-tcp --host HOST [--port 502] [--units 1-10] [--output profile.yaml]
  swarmgate edge discover --protocol modbus-rtu --path /dev/ttyUSB0 [--baud 9600] [--units 1-10] [--output profile.yaml]
  swarmgate edge discover --protocol bacnet-ip [--bind HOST:PORT] [--target HOST:PORT | --broadcast ADDR:PORT] [--instances LOW-HIGH]
                          [--bbmd HOST:PORT] [--wait MS] [--output draft.yaml]
  swarmgate edge enroll --hub https://hub.example:8443 --token TOKEN|--token-file FILE [--ca-fingerprint sha256:..] [--ca FILE]
                        [--out /etc/swarmgate] [--id GATEWAY-ID] [--force]
                        (the token may be the swarmgate://enroll?... claim URI from the QR code; exit 1: not enrolled, worth
                        retrying; 3: the hub refused the token for good; 4: enrolled, but the config issued has problems here:
                        fix it, do not enroll again)
  swarmgate edge dead-letters list|requeue ID...|--all|drop ID...|--all (--config gateway.yaml | --data-dir DIR)
                        (messages the broker kept refusing, set aside; swarmgate edge dead-letters --help: every option)
A config file holding only an \`enrollment: { hub, tokenFile, caFingerprint }\` section enrolls on first start
and is then replaced by the config the hub issued; exit 3 when the hub refused its token for good (flash a new
token; the systemd unit does not restart on 3).
`;

/**
 * The service manager's status line while a first start enrolls: STATUS= what it is doing, and
 * EXTEND_TIMEOUT_USEC= while it waits for the hub, so TimeoutStartSec= does not kill a gateway that
 * waits out a Retry-After. Opened on first use; without a notify socket (or without unix-dgram,
 * which the gateway reports when it starts) it says nothing.
 */
function enrollmentStatus(log: Logger): { report(status: string, waitMs?: number): void; close(): void } {
  let notifier: ServiceNotifier | undefined;
  let opened = false;
  return {
    report(status, waitMs) {
      if (!opened) {
        opened = true;
        try {
          notifier = openServiceNotifier(process.env, log);
        } catch {
          notifier = undefined;
        }
      }
      // The wait, plus the next attempt's own time limits (TLS and request, 30 s each).
      notifier?.notify({ STATUS: status, ...(waitMs === undefined ? {} : { EXTEND_TIMEOUT_USEC: String((waitMs + 90_000) * 1000) }) });
    },
    close: () => notifier?.close(),
  };
}


async function check(files: string[]): Promise<number> {
  if (files.includes('--help') || files.includes('-h')) {
    process.stdout.write(HELP);
    return 0;
  }
  const option = files.find((f) => f.startsWith('-'));
  if (files.length === 0 || option !== undefined) {
    if (option !== undefined) process.stderr.write(`swarmgate edge check: unknown option ${option} (it takes config files only)\n`);
    process.stderr.write(HELP);
    return 2;
  }
  let failed = 0;
  for (const file of files) {
    // A first-start bootstrap file: its enrollment section is all there is to check.
    const bootstrap = checkBootstrap(file);
    if (bootstrap) {
      for (const p of bootstrap) process.stderr.write(`${p}\n`);
      if (bootstrap.length === 0) process.stdout.write(`${file}: ok (enrolls with the hub on first start)\n`);
      else {
        failed++;
        process.stderr.write(`${file}: ${bootstrap.length} problem(s)\n`);
      }
      continue;
    }
    const { loaded, problems } = checkGatewayConfigFile(file, builtinDrivers());
    for (const p of problems) process.stderr.write(`${formatProblem(p)}\n`);
    if (loaded && problems.length === 0) {
      const points = loaded.devices.reduce((n, d) => n + d.points.length, 0);
      process.stdout.write(`${file}: ok (${loaded.devices.length} device${loaded.devices.length === 1 ? '' : 's'}, ${points} point${points === 1 ? '' : 's'})\n`);
    } else {
      failed++;
      process.stderr.write(`${file}: ${problems.length} problem(s)\n`);
    }
  }
  return failed > 0 ? 1 : 0;
}

async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, print: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help || !values.config) {
    process.stdout.write(HELP);
    return values.help ? 0 : 2;
  }
  // First start of a flashed gateway: its config is a bootstrap file; enroll, then run what the hub issued.
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.once('SIGTERM', onSignal).once('SIGINT', onSignal);
  const enrollLog = createLogger('edge-enroll');
  const status = enrollmentStatus(enrollLog);
  try {
    await enrollOnFirstStart(values.config, enrollLog, { signal: controller.signal, onStatus: (text, waitMs) => status.report(text, waitMs) });
  } catch (err) {
    if (!isSwarmgateError(err, 'SWG_ERR_ENROLL_TOKEN')) throw err;
    // Refused for good: a restart would present the same token again (and count against this
    // address's enrollment limit, locking out good tokens behind the same NAT). Exit 3 is the
    // unit's RestartPreventExitStatus=.
    status.report('not enrolled: the hub refused the enrollment token for good; flash a new token (not restarting)');
    process.stderr.write(`swarmgate: ${err.toDisplay()}\n`);
    process.stderr.write(`swarmgate: not enrolled; exit ${EXIT_TOKEN_REFUSED}: the gateway is not restarted until it is given a new token\n`);
    return EXIT_TOKEN_REFUSED;
  } finally {
    status.close();
    process.off('SIGTERM', onSignal).off('SIGINT', onSignal);
  }
  const print = values.print ? (r: Reading): void => void process.stdout.write(`${JSON.stringify(r)}\n`) : undefined;
  // Remote configuration installed a new config file: stop cleanly and exit with 75 (EX_TEMPFAIL);
  // the service manager starts the gateway again with it (Restart=always in the systemd unit).
  let restart: () => void = () => undefined;
  const restartRequested = new Promise<void>((resolve) => (restart = resolve));
  let restartWhy = 'new config from the hub installed';
  const app = await startEdgeApp(loadConfig(values.config, builtinDrivers()), builtinDrivers(), {
    ...(print ? { onReport: print } : {}),
    onRestart: () => restart(),
    onUpdateRestart: (reason) => {
      restartWhy = reason;
      restart();
    },
  });
  const why = await Promise.race([untilSignal(() => app.stop()).then(() => 'signal' as const), restartRequested.then(() => 'restart' as const)]);
  if (why === 'signal') return 0;
  process.stderr.write(`${restartWhy}; restarting (exit 75)\n`);
  await app.stop();
  return EXIT_RESTART;
}

export const edgeCommand: Pick<Command, 'run'> = {
  async run(args) {
    if (args[0] === 'check') return check(args.slice(1));
    // Discovery imports every protocol's driver: not loaded by a running gateway.
    if (args[0] === 'discover') return (await import('./discover.js')).discover(args.slice(1));
    if (args[0] === 'enroll') return enroll(args.slice(1));
    if (args[0] === 'dead-letters') return (await import('./dead-letters.js')).deadLettersCommand(args.slice(1));
    return run(args);
  },
};
