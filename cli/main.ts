/**
 * `swarmgate <command>`: one executable, subcommands registered in one table.
 */
// First: the log level for this kind of command, before any logger is created.
import './log-level.js';
// Then: node-opcua must log to stderr before any of its modules load.
import './opcua-log.js';
import { isSwarmgateError, errorMessage } from '../shared/kit/errors.js';
import { commands } from './commands.js';
import { isParseArgsError, usageError } from './usage.js';

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(16)} ${c.summary}`);
  return `usage: swarmgate <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nRun "swarmgate <command> --help" for a command's options.\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`swarmgate: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    // `swarmgate <command> <sub> --help` where the subcommand has no help of its own: the command's usage, which lists its subcommands.
    if (isParseArgsError(err) && wantsHelp(rest)) return command.run(['--help']);
    throw isParseArgsError(err) ? usageError(name, err.message) : err;
  }
}

/** --help or -h among the options (not after `--`). */
function wantsHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  const options = end < 0 ? args : args.slice(0, end);
  return options.includes('--help') || options.includes('-h');
}

/** Exit code of a wrong or missing option or argument, as for an unknown command. */
const EXIT_USAGE = 2;

/**
 * The exit code of an error a command threw: 2 for a usage error, 1 for the rest. `edge enroll`
 * keeps 1 for all of them: its documented codes (README, its --help) give 1 to "not enrolled,
 * worth retrying" and scripts (first boot) already act on them.
 */
function exitCodeOf(err: unknown, argv: readonly string[]): number {
  const enroll = argv[0] === 'edge' && argv[1] === 'enroll';
  return isSwarmgateError(err, 'SWG_ERR_CLI_USAGE') && !enroll ? EXIT_USAGE : 1;
}

const argv = process.argv.slice(2);
main(argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`swarmgate: ${isSwarmgateError(err) ? err.toDisplay() : errorMessage(err)}\n`);
    process.exitCode = exitCodeOf(err, argv);
  },
);
