/**
 * Commands a person runs in a terminal (review, hub user, hub mosquitto, edge check, edge
 * discover, score, sim fault, demo) answer on stdout; their log shows warnings and errors only,
 * so a normal run prints no JSON lines. The long-running services (hub, edge, sim) keep info logs
 * for journald. SWARMGATE_LOG_LEVEL overrides either. main.ts imports this first, before any
 * module creates a logger.
 */
const SERVICE_SUBCOMMANDS: Readonly<Record<string, readonly string[]>> = {
  // command: its subcommands that are NOT the service (anything else runs the service)
  hub: ['user', 'mosquitto'],
  edge: ['check', 'discover'],
  sim: ['fault'],
};

export function runsService(argv: readonly string[]): boolean {
  const [name, sub] = argv;
  const interactive = name === undefined ? undefined : SERVICE_SUBCOMMANDS[name];
  if (!interactive) return false;
  return sub === undefined || !interactive.includes(sub);
}

if (!runsService(process.argv.slice(2))) process.env.SWARMGATE_LOG_LEVEL ??= 'warn';
