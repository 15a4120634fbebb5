/**
 * A hub run as `swarmgate hub --config FILE` from source, for the fault suites that kill it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { exited } from '../../support/child.js';
import { ROOT } from './edge.js';
import { waitFor } from './util.js';

export interface HubChild {
  readonly process: ChildProcess;
  readonly exited: Promise<void>;
  output(): string;
}

/** `swarmgate hub --config file` from source; resolves once it logged "hub started". */
export async function spawnHub(file: string, timeoutMs = 60_000): Promise<HubChild> {
  if (!existsSync(file)) throw new Error(`no hub config at ${file}`);
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'cli', 'main.ts'), 'hub', '--config', file], {
    cwd: ROOT,
    env: { ...process.env, SWARMGATE_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (chunk: Buffer): void => {
    out = (out + chunk.toString('utf8')).slice(-50_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const done = exited(child);
  await waitFor(() => out.includes('"msg":"hub started"') || child.exitCode !== null, timeoutMs, 'the hub process to start', 50);
  if (child.exitCode !== null) throw new Error(`hub exited with ${child.exitCode}: ${out}`);
  return { process: child, exited: done, output: () => out };
}

export async function stopHub(hub: HubChild | undefined, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  if (!hub || hub.process.exitCode !== null || hub.process.signalCode !== null) return;
  hub.process.kill(signal);
  await hub.exited;
}
