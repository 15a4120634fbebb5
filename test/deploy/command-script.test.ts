/**
 * `swarmgate` on an installed gateway (deploy/package/swarmgate-command.sh, as build-deb.ts fills
 * it): the app it runs is the service user's to update, so started as root it runs the app as that
 * user (setpriv, with the user's groups and the state directory as HOME); another user, or a box
 * without the service user, runs it as is. Arguments pass through untouched. `id` and `setpriv`
 * are fakes on PATH (this machine has no swarmgate user); node and the app are real.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { commandScript } from '../../deploy/package/layout.js';
import { tempDir } from '../support/tmp.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const dir = tempDir('swarmgate-command-');
afterAll(() => dir.remove());

describe('the installed swarmgate command', () => {
  const app = join(dir.path, 'opt/swarmgate');
  const state = join(dir.path, 'var/lib/swarmgate');
  const fakes = join(dir.path, 'fake-bin');
  const log = join(dir.path, 'setpriv.log');
  for (const d of [join(app, 'bin'), state, fakes]) mkdirSync(d, { recursive: true });
  writeFileSync(join(app, 'bin/swarmgate.js'), 'console.log(JSON.stringify({ argv: process.argv.slice(2), home: process.env.HOME, flags: process.execArgv }));\n');
  const script = join(dir.path, 'swarmgate');
  writeFileSync(script, commandScript(readFileSync(join(REPO, 'deploy/package/swarmgate-command.sh'), 'utf8'), { APP_DIR: app, STATE_DIR: state, CONFIG_DIR: join(dir.path, 'etc/swarmgate'), NODE: process.execPath }), { mode: 0o755 });
  // id -u: the caller's uid (FAKE_UID); id -u swarmgate: whether the service user exists (FAKE_USER).
  writeFileSync(join(fakes, 'id'), '#!/bin/sh\nif [ $# -eq 1 ]; then echo "$FAKE_UID"; elif [ -n "$FAKE_USER" ]; then echo 4242; else exit 1; fi\n', { mode: 0o755 });
  writeFileSync(join(fakes, 'setpriv'), `#!/bin/sh\necho "$*" >> "${log}"\nwhile [ "$1" != "--" ]; do shift; done\nshift\nexec "$@"\n`, { mode: 0o755 });

  function run(uid: number, user: boolean): { out: { argv: string[]; home: string; flags: string[] }; dropped: string | undefined } {
    writeFileSync(log, '');
    const r = spawnSync('sh', [script, 'edge', 'check', '/etc/swarmgate/gateway.yaml', 'two words', '$HOME'], {
      encoding: 'utf8',
      env: { PATH: `${fakes}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: '/root', FAKE_UID: String(uid), ...(user ? { FAKE_USER: '1' } : {}) },
    });
    expect(r.status, r.stderr).toBe(0);
    const dropped = existsSync(log) ? readFileSync(log, 'utf8').trim() : '';
    return { out: JSON.parse(r.stdout) as { argv: string[]; home: string; flags: string[] }, dropped: dropped || undefined };
  }

  const ARGS = ['edge', 'check', '/etc/swarmgate/gateway.yaml', 'two words', '$HOME'];

  it('run as root on a box with the service user: the app runs as that user, never as root', () => {
    const { out, dropped } = run(0, true);
    expect(dropped).toMatch(/^--reuid=swarmgate --regid=swarmgate --init-groups -- \S+ --max-semi-space-size=2 \S+\/bin\/swarmgate\.js edge check/);
    expect(out).toEqual({ argv: ARGS, home: state, flags: ['--max-semi-space-size=2'] });
  });

  it('run by another user, or as root where there is no service user: the app runs as the caller', () => {
    for (const [uid, user] of [[1000, true], [0, false]] as const) {
      const { out, dropped } = run(uid, user);
      expect(dropped).toBeUndefined();
      expect(out).toEqual({ argv: ARGS, home: '/root', flags: ['--max-semi-space-size=2'] });
    }
  });
});
