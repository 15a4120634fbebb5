/**
 * `swarmgate hub mosquitto` for a Mosquitto that runs as its own user, as Debian's does: started
 * as root with `user mosquitto`, it drops privileges before it reads its password and ACL files.
 * Files written by root with mode 0600 stop it at start ("Unable to open pwfile"); with
 * `--owner mosquitto` the files (and the folder the command creates) belong to that user and it
 * runs with them.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { emitMosquittoConf, writeMosquittoFiles } from '../../hub/broker/mosquitto.js';
import { exited } from '../support/child.js';
import { freePort, MOSQUITTO_BIN } from '../support/mosquitto.js';
import { peerOrSkip } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import { addUsers, connectClient, endAll, sleep } from './helpers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function idOf(user: string, flag: '-u' | '-g'): number | undefined {
  try {
    return Number(execFileSync('id', [flag, user], { encoding: 'utf8' }).trim());
  } catch {
    return undefined;
  }
}

const MOSQUITTO_UID = idOf('mosquitto', '-u');
const MOSQUITTO_GID = idOf('mosquitto', '-g');
const runnable = peerOrSkip({
  available: existsSync(MOSQUITTO_BIN) && MOSQUITTO_UID !== undefined && process.getuid?.() === 0,
  reason: 'needs root, the mosquitto binary and its user: apt-get install -y mosquitto, run as root',
});

/** Starts Mosquitto as root with `user mosquitto`; collects what it logs. */
function startMosquitto(conf: string): { proc: ChildProcess; output: () => string } {
  const proc = spawn(MOSQUITTO_BIN, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  proc.stdout?.on('data', (d: Buffer) => (text += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (text += d.toString()));
  return { proc, output: () => text };
}

function uidOfProcess(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Uid:'));
  return Number(line?.split(/\s+/)[2]); // effective uid
}

describe.skipIf(!runnable)('hub mosquitto --owner for a Mosquitto running as its own user', { timeout: 120_000 }, () => {
  const dir = tempDir('swarmgate-mosq-owner-');
  const credentialsFile = join(dir.path, 'users.yaml');
  const procs: ChildProcess[] = [];
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    // mkdtemp makes a 0700 folder: the mosquitto user must be able to reach the files below it.
    chmodSync(dir.path, 0o755);
    await addUsers(credentialsFile, [{ spec: { role: 'gateway', username: 'gw-1', site: 's', gateway: 'gw-1' }, password: 'gw-1-password' }]);
  });
  afterAll(async () => {
    await endAll(clients);
    for (const p of procs) {
      p.kill('SIGTERM');
      await exited(p);
    }
    dir.remove();
  });

  it('without --owner: the root-owned 0600 files stop a Mosquitto that runs as user mosquitto', async () => {
    const out = join(dir.path, 'root-owned');
    const { passwordFile, aclFile } = writeMosquittoFiles(credentialsFile, out);
    expect(statSync(passwordFile).uid).toBe(0);
    const conf = join(dir.path, 'root-owned.conf');
    writeFileSync(conf, `user mosquitto\n${emitMosquittoConf({ port: await freePort(), host: '127.0.0.1', passwordFile, aclFile, persistenceLocation: false })}`);
    const { proc, output } = startMosquitto(conf);
    procs.push(proc);
    const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
    expect(code).not.toBe(0);
    expect(output()).toContain(`Unable to open pwfile "${passwordFile}"`);
  });

  it('with --owner mosquitto: creates --out, the files belong to mosquitto, and it accepts the gateway', async () => {
    const out = join(dir.path, 'etc', 'mosquitto', 'swarmgate');
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'cli', 'main.ts'), 'hub', 'mosquitto', '--credentials', credentialsFile, '--out', out, '--owner', 'mosquitto'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 90_000,
      env: { ...process.env, SWARMGATE_LOG_LEVEL: 'warn' },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('owned by mosquitto');
    const passwordFile = join(out, 'mosquitto.passwd');
    const aclFile = join(out, 'mosquitto.acl');
    for (const file of [passwordFile, aclFile, out]) {
      const st = statSync(file);
      expect({ file, uid: st.uid, gid: st.gid }).toEqual({ file, uid: MOSQUITTO_UID, gid: MOSQUITTO_GID });
    }
    expect(statSync(passwordFile).mode & 0o777).toBe(0o600);

    const port = await freePort();
    const conf = join(dir.path, 'owned.conf');
    // Persistence in the created folder (emitMosquittoConf's default): the mosquitto user writes it.
    writeFileSync(conf, `user mosquitto\n${emitMosquittoConf({ port, host: '127.0.0.1', passwordFile, aclFile })}`);
    const { proc, output } = startMosquitto(conf);
    procs.push(proc);
    let gw: MqttClient | undefined;
    const deadline = Date.now() + 15_000;
    while (!gw) {
      gw = await connectClient(`mqtt://127.0.0.1:${port}`, { username: 'gw-1', password: 'gw-1-password', clientId: 'gw-1', connectTimeout: 500 }).catch(() => undefined);
      if (gw) break;
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`mosquitto did not accept gw-1:\n${output()}`);
      await sleep(100);
    }
    clients.push(gw);
    expect(uidOfProcess(proc.pid!)).toBe(MOSQUITTO_UID);
    // The ACL file was read too: the gateway gets its own messages back.
    await gw.subscribeAsync('swarmgate/v1/s/gw-1/#', { qos: 1 });
    const got = new Promise<string>((resolve) => gw.once('message', (topic) => resolve(topic)));
    await gw.publishAsync('swarmgate/v1/s/gw-1/events', '{}', { qos: 1 });
    expect(await got).toBe('swarmgate/v1/s/gw-1/events');
  });
});
