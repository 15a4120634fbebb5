import { pino, type Logger, type LevelWithSilent } from 'pino';

/**
 * Structured logs (JSON lines on stderr so stdout stays free for data such as `--print`).
 * SWARMGATE_LOG_LEVEL overrides the level; tests default to 'silent' unless it is set.
 */
export function createLogger(name: string, level?: LevelWithSilent): Logger {
  const envLevel = process.env.SWARMGATE_LOG_LEVEL as LevelWithSilent | undefined;
  const fallback: LevelWithSilent = process.env.VITEST ? 'silent' : 'info';
  return pino({ name, level: envLevel ?? level ?? fallback, base: { pid: process.pid } }, pino.destination(2));
}

export type { Logger };
