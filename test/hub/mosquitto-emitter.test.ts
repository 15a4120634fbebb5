/**
 * The emitted Mosquitto password and ACL files: format checked against mosquitto_passwd, and
 * behaviour checked by running the real mosquitto binary on a free port with them.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { loadCredentials } from '../../hub/broker/credentials.js';
import { emitMosquittoAcl, emitMosquittoConf, mosquittoHash, verifyMosquittoHash, writeMosquittoFiles } from '../../hub/broker/mosquitto.js';
import { peerOrSkip } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import { addUsers, closed, connectClient, endAll, grantedQos, sleep, waitFor } from './helpers.js';

const MOSQUITTO = '/usr/sbin/mosquitto';
const MOSQUITTO_PASSWD = '/usr/bin/mosquitto_passwd';
const hasMosquitto = peerOrSkip({ available: existsSync(MOSQUITTO), reason: 'mosquitto binary not found: apt-get install -y mosquitto' });
const hasPasswd = peerOrSkip({ available: existsSync(MOSQUITTO_PASSWD), reason: 'mosquitto_passwd not found: apt-get install -y mosquitto' });

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('mosquitto password and ACL files', () => {
  const dir = tempDir('swarmgate-hub-mosq-');
  const credentialsFile = `${dir.path}/users.yaml`;

  beforeAll(async () => {
    await addUsers(credentialsFile, [
      { spec: { role: 'gateway', username: 'gw-1', site: 'site-a', gateway: 'gw-1' }, password: 'gw-1-password' },
      { spec: { role: 'gateway', username: 'gw-2', site: 'site-a', gateway: 'gw-2', sparkplugGroups: ['plant'] }, password: 'gw-2-password' },
      { spec: { role: 'integration', username: 'bms-ro', read: ['swarmgate/v1/+/+/points/#'] }, password: 'bms-ro-password' },
      { spec: { role: 'hub', username: 'hub-1' }, password: 'hub-1-password' },
    ]);
  });
  afterAll(() => dir.remove());

  it('writes $7$ PBKDF2-SHA512 entries that verify, and never the plain password', () => {
    const hash = mosquittoHash('s3cret-pass', 101, Buffer.alloc(12, 7));
    expect(hash).toMatch(/^\$7\$101\$[A-Za-z0-9+/=]{16}\$[A-Za-z0-9+/=]{88}$/);
    expect(verifyMosquittoHash('s3cret-pass', hash)).toBe(true);
    expect(verifyMosquittoHash('other', hash)).toBe(false);
    const { passwordFile, aclFile, skipped } = writeMosquittoFiles(credentialsFile, dir.path);
    expect(skipped).toEqual([]);
    const text = readFileSync(passwordFile, 'utf8');
    expect(text.split('\n').filter(Boolean).map((l) => l.split(':')[0])).toEqual(['gw-1', 'gw-2', 'bms-ro', 'hub-1']);
    expect(text).not.toContain('password');
    expect(readFileSync(credentialsFile, 'utf8')).not.toContain('gw-1-password');
    const acl = readFileSync(aclFile, 'utf8');
    expect(acl).toContain('user gw-1\ntopic readwrite swarmgate/v1/site-a/gw-1/#');
    // Sparkplug: the site as the group by default; exactly its own node, births/data written, commands, its own NBIRTH (the echo that confirms it) and STATE read.
    expect(acl).toContain(
      [
        'topic write spBv1.0/site-a/NBIRTH/gw-1',
        'topic write spBv1.0/site-a/NDEATH/gw-1',
        'topic write spBv1.0/site-a/NDATA/gw-1',
        'topic write spBv1.0/site-a/DBIRTH/gw-1/+',
        'topic write spBv1.0/site-a/DDEATH/gw-1/+',
        'topic write spBv1.0/site-a/DDATA/gw-1/+',
        'topic read spBv1.0/site-a/NCMD/gw-1',
        'topic read spBv1.0/site-a/DCMD/gw-1/+',
        'topic read spBv1.0/site-a/NBIRTH/gw-1',
        'topic read spBv1.0/STATE/+',
      ].join('\n'),
    );
    expect(acl).toContain('user gw-2\ntopic readwrite swarmgate/v1/site-a/gw-2/#\ntopic write spBv1.0/plant/NBIRTH/gw-2');
    expect(acl).not.toContain('spBv1.0/site-a/NBIRTH/gw-2');
    expect(acl).toContain('user bms-ro\ntopic read swarmgate/v1/+/+/points/#');
    expect(acl).toContain('user hub-1\ntopic readwrite #');
    expect(emitMosquittoAcl(loadCredentials(credentialsFile))).toBe(acl);
  });

  it.skipIf(!hasPasswd)('reads hashes written by mosquitto_passwd', () => {
    const file = `${dir.path}/by-mosquitto`;
    execFileSync(MOSQUITTO_PASSWD, ['-c', '-b', file, 'alice', 'alice-password']);
    const entry = readFileSync(file, 'utf8').trim().split(':')[1] ?? '';
    expect(entry.startsWith('$7$')).toBe(true);
    expect(verifyMosquittoHash('alice-password', entry)).toBe(true);
    expect(verifyMosquittoHash('alice-passwort', entry)).toBe(false);
  });

  describe.skipIf(!hasMosquitto)('a real mosquitto running with the emitted files', () => {
    let proc: ChildProcess;
    let url: string;
    const clients: MqttClient[] = [];
    const connectAs = async (username: string, password: string): Promise<MqttClient> => {
      const c = await connectClient(url, { username, password });
      clients.push(c);
      return c;
    };

    beforeAll(async () => {
      const { passwordFile, aclFile } = writeMosquittoFiles(credentialsFile, dir.path);
      const port = await freePort();
      const conf = `${dir.path}/mosquitto.conf`;
      // `user root`: mosquitto started as root would otherwise switch to a user that cannot read the 0600 files.
      writeFileSync(conf, `user root\n${emitMosquittoConf({ port, host: '127.0.0.1', passwordFile, aclFile })}`);
      proc = spawn(MOSQUITTO, ['-c', conf], { stdio: 'ignore' });
      url = `mqtt://127.0.0.1:${port}`;
      await waitFor(async () => {
        try {
          const c = await connectClient(url, { username: 'hub-1', password: 'hub-1-password', connectTimeout: 500 });
          await c.endAsync(true);
          return true;
        } catch {
          return undefined;
        }
      }, 10_000, 'mosquitto to accept connections');
    });

    afterAll(async () => {
      await endAll(clients);
      if (proc && proc.exitCode === null) {
        const exited = new Promise((resolve) => proc.once('exit', resolve));
        proc.kill('SIGTERM');
        await exited;
      }
    });

    it('refuses a wrong password', async () => {
      await expect(connectClient(url, { username: 'gw-1', password: 'wrong-password' })).rejects.toThrow();
    });

    it("drops a gateway's publish into another gateway's subtree; '#' yields only its own topics", async () => {
      const hub = await connectAs('hub-1', 'hub-1-password');
      const got: string[] = [];
      hub.on('message', (topic) => got.push(topic));
      await hub.subscribeAsync('swarmgate/#', { qos: 1 });
      const gw = await connectAs('gw-1', 'gw-1-password');
      const gwGot: string[] = [];
      gw.on('message', (topic) => gwGot.push(topic));
      // Mosquitto grants '#' but checks read access per delivered message (the embedded broker refuses it).
      const granted = await grantedQos(gw, '#');
      expect([1, 128]).toContain(granted);
      await gw.publishAsync('swarmgate/v1/site-a/gw-2/telemetry', 'forged', { qos: 1 }).catch(() => undefined);
      await gw.publishAsync('swarmgate/v1/site-a/gw-1/telemetry', 'own', { qos: 1 }).catch(() => undefined);
      const gw2 = await connectAs('gw-2', 'gw-2-password');
      await gw2.publishAsync('swarmgate/v1/site-a/gw-2/events', 'other', { qos: 1 });
      await hub.publishAsync('swarmgate/v1/site-a/gw-1/commands', 'cmd', { qos: 1 });
      await waitFor(() => got.includes('swarmgate/v1/site-a/gw-1/telemetry') && got.includes('swarmgate/v1/site-a/gw-2/events'), 3000, 'own publishes');
      if (granted === 1) await waitFor(() => gwGot.includes('swarmgate/v1/site-a/gw-1/commands'), 3000, 'own command');
      await sleep(100);
      expect(got).not.toContain('swarmgate/v1/site-a/gw-2/telemetry');
      expect(gwGot.filter((t) => !t.startsWith('swarmgate/v1/site-a/gw-1/'))).toEqual([]);
    });

    it("gives a client presenting another gateway's client id none of that gateway's queued commands", async () => {
      // Mosquitto (password + ACL files) cannot refuse the client id itself: the impostor's CONNECT
      // succeeds and takes the session over, but each queued message is checked against the read
      // access of the user now holding the session, so gw-2's command is not delivered to gw-1.
      const owner = await connectClient(url, { username: 'gw-2', password: 'gw-2-password', clientId: 'gw-2', clean: false });
      await owner.subscribeAsync('swarmgate/v1/site-a/gw-2/commands', { qos: 1 });
      await owner.endAsync();
      const hub = await connectAs('hub-1', 'hub-1-password');
      await hub.publishAsync('swarmgate/v1/site-a/gw-2/commands', 'for-gw-2-only', { qos: 1 });
      const impostor = await connectClient(url, { username: 'gw-1', password: 'gw-1-password', clientId: 'gw-2', clean: false });
      clients.push(impostor);
      const got: string[] = [];
      impostor.on('message', (_topic, payload) => got.push(payload.toString()));
      await impostor.subscribeAsync('#', { qos: 1 }).catch(() => undefined);
      await hub.publishAsync('swarmgate/v1/site-a/gw-2/commands', 'live-for-gw-2', { qos: 1 });
      await hub.publishAsync('swarmgate/v1/site-a/gw-1/commands', 'own', { qos: 1 });
      await waitFor(() => got.includes('own'), 3000, "gw-1's own command");
      expect(got).toEqual(['own']);
    });

    it('keeps a read-only integration from publishing /set', async () => {
      const hub = await connectAs('hub-1', 'hub-1-password');
      const got: string[] = [];
      hub.on('message', (topic) => got.push(topic));
      await hub.subscribeAsync('swarmgate/v1/site-a/gw-1/points/#', { qos: 1 });
      const ro = await connectAs('bms-ro', 'bms-ro-password');
      ro.publish('swarmgate/v1/site-a/gw-1/points/ahu1/fan_speed/set', '{"v":50}', { qos: 0 });
      await closed(ro, 300);
      const gw = await connectAs('gw-1', 'gw-1-password');
      await gw.publishAsync('swarmgate/v1/site-a/gw-1/points/ahu1/fan_speed', '{"v":1,"ts":1,"q":"good"}', { qos: 1 });
      await waitFor(() => got.includes('swarmgate/v1/site-a/gw-1/points/ahu1/fan_speed'), 3000, 'point value');
      expect(got).not.toContain('swarmgate/v1/site-a/gw-1/points/ahu1/fan_speed/set');
    });
  });
});
