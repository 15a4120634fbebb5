/**
 * The gateway's resident memory with all four protocols running: the simulated facility in one
 * process, the gateway (`swarmgate edge --config`) in another, RSS sampled from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { atMost, progress, type BenchEntry } from './results.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'bin', 'swarmgate.js');

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

function start(args: string[]): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SWARMGATE_LOG_LEVEL: 'warn' } });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}

export async function benchGatewayRss(): Promise<BenchEntry[]> {
  const demo = start(['demo']);
  try {
    const samples: number[] = [];
    await new Promise((r) => setTimeout(r, 8000));
    if (demo.pid === undefined || demo.exitCode !== null) throw new Error('demo did not start');
    for (let i = 0; i < 10; i++) {
      samples.push(rssMb(demo.pid));
      await new Promise((r) => setTimeout(r, 1000));
    }
    const peak = Math.max(...samples);
    progress(`rss samples (MB): ${samples.map((s) => s.toFixed(0)).join(' ')}`);
    return [atMost('demo_process_rss_mb', Math.round(peak), 'MB', 150, 'peak RSS of `swarmgate demo` (simulators AND gateway in one process) with all four protocols running; the gateway alone is below this')];
  } finally {
    await stop(demo);
  }
}
