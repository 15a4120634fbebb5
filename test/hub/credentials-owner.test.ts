/**
 * The credentials file belongs to the hub's service user (swarmgate under the shipped systemd
 * units) while operators add users with `sudo swarmgate hub user add`. A rewrite by root must keep
 * the file's owner, group and mode (it used to leave root:root 0600: the hub could no longer read
 * it, and would not start again); a hub that cannot read it says "permission denied", naming the
 * owner and mode, not "not valid YAML".
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCredentials, removeUser, upsertUser } from '../../hub/broker/credentials.js';
import { peerOrSkip } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NOBODY = 65534;
const runnable = peerOrSkip({ available: process.getuid?.() === 0, reason: 'needs root (files owned by another user; a reader that is not root)' });

describe.skipIf(!runnable)('credentials file ownership', { timeout: 60_000 }, () => {
  const dir = tempDir('swarmgate-creds-owner-');
  chmodSync(dir.path, 0o755);
  afterAll(() => dir.remove());
  const spec = (name: string) => ({ role: 'gateway' as const, username: name, site: 's', gateway: name });

  it('root adding and removing users keeps the owner, group and mode of an existing file', async () => {
    const file = join(dir.path, 'kept.yaml');
    await upsertUser(file, spec('gw-1'), 'first-password', { mosquittoIterations: 101 });
    chownSync(file, NOBODY, NOBODY);
    chmodSync(file, 0o640);
    await upsertUser(file, spec('gw-2'), 'second-password', { mosquittoIterations: 101 });
    let st = statSync(file);
    expect({ uid: st.uid, gid: st.gid, mode: st.mode & 0o777 }).toEqual({ uid: NOBODY, gid: NOBODY, mode: 0o640 });
    expect(removeUser(file, 'gw-1')).toBe(true);
    st = statSync(file);
    expect({ uid: st.uid, gid: st.gid, mode: st.mode & 0o777 }).toEqual({ uid: NOBODY, gid: NOBODY, mode: 0o640 });
    expect(loadCredentials(file).users.map((u) => u.username)).toEqual(['gw-2']);
  });

  it('`hub user add --owner` gives a new file to the hub user, mode 0600', () => {
    const file = join(dir.path, 'new.yaml');
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'cli/main.ts'), 'hub', 'user', 'add', '--credentials', file, '--role', 'gateway', '--site', 's', '--gateway', 'gw-9', '--owner', String(NOBODY)], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, SWARMGATE_LOG_LEVEL: 'error' },
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const st = statSync(file);
    expect({ uid: st.uid, gid: st.gid, mode: st.mode & 0o777 }).toEqual({ uid: NOBODY, gid: NOBODY, mode: 0o600 });
  });

  it('a new file root writes in a folder the hub user owns (its state directory) goes to that user', async () => {
    const state = join(dir.path, 'state');
    mkdirSync(state);
    chownSync(state, NOBODY, NOBODY);
    const file = join(state, 'users.yaml');
    await upsertUser(file, spec('gw-1'), 'first-password', { mosquittoIterations: 101 });
    const st = statSync(file);
    expect({ uid: st.uid, gid: st.gid, mode: st.mode & 0o777 }).toEqual({ uid: NOBODY, gid: NOBODY, mode: 0o600 });
  });

  it('a reader without permission gets "permission denied" naming owner and mode, not "not valid YAML"', async () => {
    const file = join(dir.path, 'root-only.yaml');
    await upsertUser(file, spec('gw-1'), 'first-password', { mosquittoIterations: 101 });
    writeFileSync(join(dir.path, 'read.mjs'), `import { loadCredentials } from ${JSON.stringify(join(ROOT, 'hub/broker/credentials.ts'))};\ntry { loadCredentials(${JSON.stringify(file)}); console.log('read'); } catch (err) { console.log(JSON.stringify({ code: err.code, message: err.message, hint: err.hint })); }\n`);
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(dir.path, 'read.mjs')], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, uid: NOBODY, gid: NOBODY, env: { PATH: process.env.PATH ?? '', HOME: dir.path } });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { code?: string; message?: string; hint?: string };
    expect(out.code).toBe('SWG_ERR_HUB_CREDENTIALS');
    expect(out.message).toContain(`permission denied reading ${file}`);
    expect(out.message).toMatch(/owner 0 \(root\), group 0 \(root\), mode 0600/);
    expect(out.message).not.toContain('YAML');
    expect(out.hint).toContain('chown swarmgate');
  });
});
