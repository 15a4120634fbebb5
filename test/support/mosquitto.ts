/**
 * A Mosquitto of the test's own: its own port, persistence folder and the password/ACL files
 * `hub mosquitto` writes, stopped (SIGTERM saves persistence, SIGKILL does not) and started again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { emitMosquittoConf, writeMosquittoFiles } from '../../hub/broker/mosquitto.js';
import { exited } from './child.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const MOSQUITTO_BIN = '/usr/sbin/mosquitto';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
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
      const deadline = Date.now() + 15_000;
      for (;;) {
        try {
          const c = await mqtt.connectAsync(url, { ...probe, clientId: `probe-${Date.now()}`, reconnectPeriod: 0, connectTimeout: 500 });
          await c.endAsync(true);
          return;
        } catch (err) {
          if (Date.now() > deadline) throw new Error(`mosquitto on ${url} does not accept connections: ${String(err)}`);
          await sleep(50);
        }
      }
    },
  };
  await handle.start();
  return handle;
}

