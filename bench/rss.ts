/**
 * The gateway's resident memory with all four protocols running: the simulated facility in one
 * process (`swarmgate sim`), the gateway (`swarmgate edge --config` with the demo config) in
 * another; the gateway's RSS is sampled from /proc once it is reading every device.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { openPtyPair } from '../devices/serial/pty-pair.js';
import { tempDir } from '../test/support/tmp.js';
import { atMost, progress, type BenchEntry } from './results.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'bin', 'swarmgate.js');

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

function start(args: string[]): ChildProcess {
  // The flag the systemd unit and the executable's shebang run the gateway with.
  return spawn(process.execPath, ['--max-semi-space-size=2', CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, SWARMGATE_LOG_LEVEL: process.env.SWARMGATE_LOG_LEVEL ?? 'warn' } });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}

/**
 * The demo gateway config with analytics sampling every 250 ms and a short warm-up, so the
 * detectors have trained models (TensorFlow.js loaded, forecasters fitted) while RSS is sampled.
 */
function benchGatewayConfig(dir: string): string {
  const demo = parse(readFileSync(join(ROOT, 'deploy/examples/demo-gateway.yaml'), 'utf8')) as { devices: { profile: string }[]; analytics: { points: { point: string }[] } } & Record<string, unknown>;
  const config = {
    ...demo,
    dataDir: join(dir, 'gateway-data'),
    analytics: { ...demo.analytics, detector: { warmup: 20, minTrain: 100, retrainEvery: 200 }, points: demo.analytics.points.map((p) => ({ ...p, intervalMs: 250 })) },
  };
  // Profiles are referenced relative to the demo config.
  const devices = demo.devices.map((d) => ({ ...d, profile: join(ROOT, 'deploy/examples', d.profile) }));
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, stringify({ ...config, devices }));
  return file;
}

export async function benchGatewayRss(): Promise<BenchEntry[]> {
  const dir = tempDir('swarmgate-bench-rss-');
  const cable = await openPtyPair('/tmp/swarmgate-demo/tty-sim', '/tmp/swarmgate-demo/tty-gateway');
  const simConfig = join(dir.path, 'sim.yaml');
  writeFileSync(simConfig, `ports: { modbusTcp: 15020, opcua: 14840, gpio: 15021, control: 15022 }\nrtu: { path: ${cable.simPath}, baudRate: 19200, unitIds: [1] }\n`);
  const sim = start(['sim', '--config', simConfig]);
  await new Promise((r) => setTimeout(r, 5000));
  const gateway = start(['edge', '--config', benchGatewayConfig(dir.path)]);
  try {
    await new Promise((r) => setTimeout(r, 10_000));
    // Long enough for the first anomaly-detector samples (analytics points sample every 60 s).
    if (gateway.pid === undefined || gateway.exitCode !== null) throw new Error('gateway did not start');
    const samples: number[] = [];
    for (let i = 0; i < 60; i++) {
      samples.push(rssMb(gateway.pid));
      await new Promise((r) => setTimeout(r, 1000));
    }
    progress(`gateway rss samples (MB): ${samples.map((s) => s.toFixed(0)).join(' ')}`);
    return [
      atMost(
        'gateway_rss_mb',
        Math.round(Math.max(...samples)),
        'MB',
        150,
        'peak RSS over 60 s of `swarmgate edge` (node --max-semi-space-size=2, as the systemd unit runs it) with the demo config: Modbus TCP + RTU + OPC UA subscription + GPIO, federation off, rules, advisor and 4 anomaly detectors trained on 250 ms samples',
      ),
    ];
  } finally {
    await stop(gateway);
    await stop(sim);
    await cable.close();
    dir.remove();
  }
}
