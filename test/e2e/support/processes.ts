/**
 * Real processes the fault suites kill and start again: a Mosquitto of the test's own (its own
 * port, persistence folder and the password/ACL files `hub mosquitto` writes), and a hub run as
 * `swarmgate hub --config FILE` from source.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { emitMosquittoConf, writeMosquittoFiles } from '../../../hub/broker/mosquitto.js';
import { ROOT } from './edge.js';
import { sleep, waitFor } from './util.js';

export const MOSQUITTO_BIN = '/usr/sbin/mosquitto';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export interface OwnMosquitto {
  readonly url: string;
  /** Ends the process with the signal (SIGTERM saves persistence, SIGKILL does not) and waits for it. */
  stop(signal: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Starts it again on the same port and persistence folder; resolves once it accepts `probe` credentials. */
  start(): Promise<void>;
}

/**
 * A Mosquitto run with the files `hub mosquitto` emits for `credentialsFile`, persistence in
 * `dir`. `probe` is a user it must accept before start() resolves.
 */
export async function ownMosquitto(dir: string, credentialsFile: string, probe: { username: string; password: string }): Promise<OwnMosquitto> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const { passwordFile, aclFile } = writeMosquittoFiles(credentialsFile, dir);
  const conf = join(dir, 'mosquitto.conf');
  // `user root`: started as root, mosquitto would otherwise switch to a user that cannot read the 0600 files.
  writeFileSync(conf, `user root\n${emitMosquittoConf({ port, host: '127.0.0.1', passwordFile, aclFile, persistenceLocation: dir })}`);
  const url = `mqtt://127.0.0.1:${port}`;
  let proc: ChildProcess | undefined;
  const handle: OwnMosquitto = {
    url,
    async stop(signal) {
      const p = proc;
      proc = undefined;
      if (!p) return;
      p.kill(signal);
      await exited(p);
    },
    async start() {
      if (proc) return;
      proc = spawn(MOSQUITTO_BIN, ['-c', conf], { stdio: 'ignore' });
      await waitFor(
        async () => {
          try {
            const c = await mqtt.connectAsync(url, { ...probe, clientId: `probe-${Date.now()}`, reconnectPeriod: 0, connectTimeout: 500 });
            await c.endAsync(true);
            return true;
          } catch {
            await sleep(50);
            return undefined;
          }
        },
        15_000,
        'mosquitto to accept connections',
      );
    },
  };
  await handle.start();
  return handle;
}

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
