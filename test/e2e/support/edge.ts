/**
 * Gateways for the end-to-end suites: a gateway config written against the simulated facility,
 * run in this process (startEdgeApp, as `swarmgate edge` does) or as a child process
 * (`node --import tsx cli/main.ts edge --config F --print`) that can be SIGKILLed. Either way the
 * readings the gateway reported are captured: an onReport listener in process, the `--print`
 * JSON lines for a child.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FacilityEndpoints } from '../../../devices/facility.js';
import { startEdgeApp, type EdgeApp } from '../../../edge/app.js';
import { loadConfig } from '../../../edge/config/load.js';
import { builtinDrivers } from '../../../edge/drivers/builtin.js';
import type { Reading } from '../../../edge/drivers/driver.js';
import type { FederationConfig } from '../../../edge/federation/index.js';
import { waitFor } from './util.js';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PROFILES = join(ROOT, 'devices', 'profiles');
const ENTRY = join(ROOT, 'cli', 'main.ts');

export type SimDevice = 'ahu1' | 'coldroom' | 'io';

export interface EdgeSpec {
  readonly id: string;
  readonly site: string;
  readonly dataDir: string;
  readonly facility: FacilityEndpoints;
  /** Default: the AHU (Modbus TCP) and the I/O (GPIO). */
  readonly devices?: readonly SimDevice[];
  readonly pollMs?: number;
  readonly federation: FederationConfig;
}

function deviceYaml(device: SimDevice, f: FacilityEndpoints, pollMs: number): string {
  switch (device) {
    case 'ahu1':
      return `  - id: ahu1\n    protocol: modbus-tcp\n    profile: ${PROFILES}/ahu-modbus.yaml\n    connection: { host: 127.0.0.1, port: ${f.modbusTcp.port}, timeoutMs: 500, retries: 0, backoffMs: 50 }\n    pollIntervalMs: ${pollMs}\n`;
    case 'coldroom':
      return `  - id: coldroom\n    protocol: opcua\n    profile: ${PROFILES}/cold-room-opcua.yaml\n    connection: { endpointUrl: "${f.opcua.endpointUrl}", publishingIntervalMs: ${pollMs} }\n`;
    case 'io':
      return `  - id: io\n    protocol: gpio\n    profile: ${PROFILES}/facility-gpio.yaml\n    connection: { chip: { kind: sim, host: 127.0.0.1, port: ${f.gpio.port} } }\n    pollIntervalMs: ${pollMs}\n`;
  }
}

/** Writes <dir>/<id>.yaml and returns its path. Federation settings go in as JSON (valid YAML). */
export function writeEdgeConfig(dir: string, spec: EdgeSpec): string {
  const pollMs = spec.pollMs ?? 200;
  const yaml =
    `gateway: { id: ${spec.id}, site: ${spec.site} }\n` +
    `dataDir: ${spec.dataDir}\n` +
    `metrics: { enabled: false }\n` +
    `polling: { defaultIntervalMs: ${pollMs}, heartbeatMs: 5000 }\n` +
    `federation: ${JSON.stringify(spec.federation)}\n` +
    `devices:\n${(spec.devices ?? ['ahu1', 'io']).map((d) => deviceYaml(d, spec.facility, pollMs)).join('')}`;
  const file = join(dir, `${spec.id}.yaml`);
  writeFileSync(file, yaml);
  return file;
}

export interface InProcessEdge {
  readonly app: EdgeApp;
  /** Every reading the gateway reported (what federation forwards), in report order. */
  readonly reported: Reading[];
  stop(): Promise<void>;
}

export async function startEdge(file: string, reported: Reading[] = []): Promise<InProcessEdge> {
  const app = await startEdgeApp(loadConfig(file, builtinDrivers()), builtinDrivers(), { onReport: (r) => void reported.push(r) });
  return { app, reported, stop: () => app.stop() };
}

export interface EdgeChild {
  readonly process: ChildProcess;
  /** Readings printed by `--print`, parsed, in order. */
  readonly reported: Reading[];
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
  waitForReadings(count: number, timeoutMs?: number): Promise<void>;
  /** Resolves once stdout has been silent for quietMs (the gateway is between polls). */
  waitQuiet(quietMs: number, timeoutMs?: number): Promise<void>;
}

/** Starts `swarmgate edge --config file --print` from source. */
export function spawnEdge(file: string, reported: Reading[] = []): EdgeChild {
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, 'edge', '--config', file, '--print'], {
    cwd: ROOT,
    env: { ...process.env, SWARMGATE_LOG_LEVEL: process.env.SWARMGATE_LOG_LEVEL ?? 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let rest = '';
  let err = '';
  let lastOutputAt = Date.now();
  child.stdout!.on('data', (chunk: Buffer) => {
    lastOutputAt = Date.now();
    const lines = (rest + chunk.toString('utf8')).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) reported.push(JSON.parse(line) as Reading);
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    err = (err + chunk.toString('utf8')).slice(-20_000);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    process: child,
    reported,
    exited,
    stderr: () => err,
    async waitForReadings(count, timeoutMs = 30_000) {
      await waitFor(() => reported.length >= count || child.exitCode !== null, timeoutMs, `${count} printed readings`);
      if (child.exitCode !== null) throw new Error(`gateway exited (${child.exitCode}): ${err}`);
    },
    async waitQuiet(quietMs, timeoutMs = 10_000) {
      await waitFor(() => Date.now() - lastOutputAt >= quietMs, timeoutMs, `${quietMs} ms without output`, 2);
    },
  };
}

/** SIGKILL and wait for the exit; a no-op when it already exited. */
export async function killHard(child: EdgeChild): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  child.process.kill('SIGKILL');
  await child.exited;
}
