/**
 * Runs the `swarmgate` command (cli/main.ts, through tsx) as a child process from the project
 * root, as a technician would: the tests of CLI commands share this one runner.
 */
import { execFile, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI_ENTRY = join(PROJECT_ROOT, 'cli', 'main.ts');

export interface CliOptions {
  /** Kill the command after this long (default 90 s: a loaded CI box starts tsx slowly). */
  readonly timeoutMs?: number;
  /**
   * SWARMGATE_LOG_LEVEL of the child (default 'warn'); 'unset' removes it and VITEST, so the
   * command logs as it does outside the tests (the logger is silent under vitest).
   */
  readonly logLevel?: 'warn' | 'error' | 'unset';
}

export interface CliResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function spawnArgs(args: readonly string[], options: CliOptions): [string, string[], { cwd: string; encoding: 'utf8'; timeout: number; env: NodeJS.ProcessEnv }] {
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (options.logLevel === 'unset') {
    delete env.SWARMGATE_LOG_LEVEL;
    delete env.VITEST;
  } else env.SWARMGATE_LOG_LEVEL = options.logLevel ?? 'warn';
  return [process.execPath, ['--import', 'tsx', CLI_ENTRY, ...args], { cwd: PROJECT_ROOT, encoding: 'utf8', timeout: options.timeoutMs ?? 90_000, env }];
}

/** Runs the command to its end; this process waits (nothing else in it runs meanwhile). */
export function runCli(args: readonly string[], options: CliOptions = {}): CliResult {
  const r = spawnSync(...spawnArgs(args, options));
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The same without blocking this process (for a test whose own gateway must keep working); rejects on a non-zero exit. */
export async function runCliAsync(args: readonly string[], options: CliOptions = {}): Promise<{ stdout: string; stderr: string }> {
  return promisify(execFile)(...spawnArgs(args, options));
}
