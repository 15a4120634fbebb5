/**
 * Commands a person runs in a terminal (review, hub user, hub mosquitto, hub quarantine, hub
 * enroll, hub release, edge enroll, edge
 * check, edge discover, edge dead-letters, score, sim fault/speed/step) answer on stdout; their log shows warnings and
 * errors only, so a normal run prints no JSON lines. The demo prints alarms, decisions and a
 * summary itself, so its JSON log shows errors only. The long-running services (hub, edge, sim) keep info logs
 * for journald. SWARMGATE_LOG_LEVEL overrides either. main.ts imports this first, before any
 * module creates a logger.
 */
const SERVICE_SUBCOMMANDS: Readonly<Record<string, readonly string[]>> = {
  // command: its subcommands that are NOT the service (anything else runs the service)
  hub: ['user', 'mosquitto', 'quarantine', 'enroll', 'release'],
  edge: ['check', 'discover', 'enroll', 'dead-letters'],
  sim: ['fault', 'speed', 'step'],
};

export function runsService(argv: readonly string[]): boolean {
  const [name, sub] = argv;
  const interactive = name === undefined ? undefined : SERVICE_SUBCOMMANDS[name];
  if (!interactive) return false;
  return sub === undefined || !interactive.includes(sub);
}

/** The log level a command runs at unless SWARMGATE_LOG_LEVEL says otherwise (undefined: info). */
export function defaultLogLevel(argv: readonly string[]): 'error' | 'warn' | undefined {
  if (argv[0] === 'demo') return 'error';
  return runsService(argv) ? undefined : 'warn';
}

const level = defaultLogLevel(process.argv.slice(2));
if (level) process.env.SWARMGATE_LOG_LEVEL ??= level;
