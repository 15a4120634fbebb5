/**
 * The package's maintainer scripts (deploy/package/maintainer/), filled as build-deb.ts fills them
 * but with their paths moved into a temp root, run in the orders dpkg runs them (Debian Policy,
 * chapter 6 and its appendix: install, upgrade, the same version again, failed upgrades, remove,
 * purge, an installation after a remove) with fakes on PATH: a systemctl that keeps the unit's
 * state with systemd's documented semantics (try-restart "does nothing if units are not running",
 * restart starts a stopped unit, enable/disable --now also start/stop it, a unit whose file is gone
 * is not found) and records which release `current` led to when it started; and user tools that
 * never touch this machine's accounts.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { MAINTAINER_SCRIPTS, UNIT_NAME, fillTemplate } from '../../deploy/package/layout.js';
import { tempDir } from '../support/tmp.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const dirs = tempDir('swarmgate-maint-test-');
afterAll(() => dirs.remove());

const FAKE_SYSTEMCTL = `#!/bin/sh
S="$FAKE_SYSTEMD"
echo "systemctl $*" >> "$S/log"
now=0; verb=""
for a in "$@"; do case "$a" in --now) now=1 ;; -*) ;; *) [ -n "$verb" ] || verb=$a ;; esac; done
is() { [ "$(cat "$S/$1" 2>/dev/null)" = yes ]; }
start() {
  [ -f "$FAKE_UNIT_FILE" ] || { echo "Unit $UNIT not found." >&2; exit 5; }
  echo yes > "$S/active"; echo "start" >> "$S/log"
  readlink "$FAKE_CURRENT" > "$S/running" 2>/dev/null || echo none > "$S/running"
}
case "$verb" in
  daemon-reload) ;;
  start|restart) start ;;
  stop) echo no > "$S/active" ;;
  try-restart) if is active; then start; fi ;;
  enable) [ -f "$FAKE_UNIT_FILE" ] || exit 1; echo yes > "$S/enabled"; if [ $now = 1 ]; then start; fi ;;
  disable) echo no > "$S/enabled"; if [ $now = 1 ]; then echo no > "$S/active"; fi ;;
  is-active) is active; exit $? ;;
  is-enabled) [ -f "$FAKE_UNIT_FILE" ] && is enabled; exit $? ;;
  *) echo "fake systemctl: $verb is not modelled" >&2; exit 1 ;;
esac
exit 0
`;

/** One box: its root, the scripts of each package version, dpkg's steps, the unit's state. */
class Box {
  readonly root: string;
  private readonly fakes: string;
  private readonly systemd: string;
  private readonly versionJs: string;
  output = '';

  constructor(
    name: string,
    private readonly templates: (script: string) => string = (script) => readFileSync(join(REPO, 'deploy/package/maintainer', script), 'utf8'),
  ) {
    this.root = join(dirs.path, name);
    this.fakes = join(this.root, 'fake-bin');
    this.systemd = join(this.root, 'fake-systemd');
    for (const d of ['etc/swarmgate', 'var/lib/swarmgate', 'opt/swarmgate/releases', 'run/systemd/system', 'lib/systemd/system', 'fake-bin', 'fake-systemd', 'pkg']) mkdirSync(join(this.root, d), { recursive: true });
    const fake = (tool: string, body: string): void => writeFileSync(join(this.fakes, tool), body, { mode: 0o755 });
    fake('systemctl', FAKE_SYSTEMCTL);
    fake('getent', '#!/bin/sh\necho "$2:x:4242:4242::/var/lib/swarmgate:/usr/sbin/nologin"\n');
    for (const tool of ['groupadd', 'useradd', 'usermod', 'chown']) fake(tool, '#!/bin/sh\nexit 0\n');
    // Records how the postinst drops root (it runs the app's code only as the service user), then runs the command.
    fake('setpriv', '#!/bin/sh\necho "setpriv $*" >> "$FAKE_SYSTEMD/setpriv.log"\nwhile [ "$1" != "--" ]; do shift; done\nshift\nexec "$@"\n');
    this.versionJs = ts.transpileModule(readFileSync(join(REPO, 'shared/release/version.ts'), 'utf8'), { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  }

  path(p: string): string {
    return join(this.root, p);
  }
  get current(): string {
    return this.path('opt/swarmgate/current');
  }

  configure(): this {
    writeFileSync(this.path('etc/swarmgate/gateway.yaml'), 'gateway: { id: gw-1, site: hq }\n');
    return this;
  }

  /** DEBIAN/<script> of a package version, its absolute paths inside this root. */
  private script(version: string, script: string): string {
    const file = join(this.root, 'pkg', version, script);
    if (existsSync(file)) return file;
    const app = this.path('opt/swarmgate');
    let text = fillTemplate(this.templates(script), {
      NODE_MAJOR: process.versions.node.split('.')[0] ?? '',
      NODE_ABI: process.versions.modules,
      CONFIG_DIR: this.path('etc/swarmgate'),
      STATE_DIR: this.path('var/lib/swarmgate'),
      UNIT_NAME,
      APP_DIR: app,
      RELEASES_DIR: `${app}/releases`,
      RELEASE_DIR: `${app}/releases/${version}`,
    });
    text = text.replace(/(?<=^|[\s="'])\/run(?=$|[\s/"'])/gm, this.path('run')).replace('"$ROOT/usr/bin/node"', JSON.stringify(process.execPath));
    const code = text.split('\n').filter((line) => !line.trim().startsWith('#')).join('\n');
    expect(code, `${script}: no path outside the temp root`).not.toMatch(/(^|[\s="'])\/(run|etc|var|opt)\b/m);
    mkdirSync(join(this.root, 'pkg', version), { recursive: true });
    writeFileSync(file, text, { mode: 0o755 });
    return file;
  }

  /** Runs one maintainer script of a package version; its exit status. */
  run(version: string, script: string, ...args: string[]): number {
    const r = spawnSync('sh', [this.script(version, script), ...args], {
      encoding: 'utf8',
      env: {
        PATH: `${this.fakes}:${process.env.PATH ?? '/usr/bin:/bin'}`,
        FAKE_SYSTEMD: this.systemd,
        FAKE_UNIT_FILE: this.path(`lib/systemd/system/${UNIT_NAME}`),
        FAKE_CURRENT: this.current,
      },
    });
    this.output += r.stdout + r.stderr;
    return r.status ?? -1;
  }
  ok(version: string, script: string, ...args: string[]): void {
    expect(this.run(version, script, ...args), `${script} ${args.join(' ')}:\n${this.output}`).toBe(0);
  }

  /** dpkg unpacking a version's files (the packaged release and the unit); from: the old version's files go. */
  unpack(version: string, from?: string): void {
    if (from !== undefined && from !== version) rmSync(this.path(`opt/swarmgate/releases/${from}`), { recursive: true, force: true });
    this.release(version);
    writeFileSync(this.path(`lib/systemd/system/${UNIT_NAME}`), '[Service]\n');
  }
  /** A complete release folder (the packaged one, or one the updater installed). */
  release(version: string): void {
    const dir = this.path(`opt/swarmgate/releases/${version}`);
    mkdirSync(join(dir, 'bin'), { recursive: true });
    mkdirSync(join(dir, 'dist/shared/release'), { recursive: true });
    writeFileSync(join(dir, 'bin/swarmgate.js'), '');
    writeFileSync(join(dir, 'dist/shared/release/version.js'), this.versionJs);
  }
  /** The updater switching `current` to a release it installed. */
  overTheAir(version: string): void {
    this.release(version);
    symlinkSync(`releases/${version}`, `${this.current}.new`);
    renameSync(`${this.current}.new`, this.current);
  }

  // dpkg's orders (Debian Policy, "Summary of ways maintainer scripts are called").
  install(version: string): void {
    this.ok(version, 'preinst', 'install');
    this.unpack(version);
    this.ok(version, 'postinst', 'configure', '');
  }
  upgrade(from: string, to: string): void {
    this.ok(from, 'prerm', 'upgrade', to);
    this.ok(to, 'preinst', 'upgrade', from);
    this.unpack(to, from);
    this.ok(from, 'postrm', 'upgrade', to);
    this.ok(to, 'postinst', 'configure', from);
  }
  remove(version: string): void {
    this.ok(version, 'prerm', 'remove');
    rmSync(this.path(`opt/swarmgate/releases/${version}`), { recursive: true, force: true });
    rmSync(this.path(`lib/systemd/system/${UNIT_NAME}`));
    this.ok(version, 'postrm', 'remove');
  }
  /** An installation of a package whose configuration files stayed (after a remove): dpkg passes the last configured version. */
  installAgain(version: string, last: string): void {
    this.ok(version, 'preinst', 'install', last);
    this.unpack(version);
    this.ok(version, 'postinst', 'configure', last);
  }
  reboot(): void {
    writeFileSync(join(this.systemd, 'active'), this.enabled ? 'yes\n' : 'no\n');
    writeFileSync(join(this.systemd, 'running'), existsSync(this.current) ? `${readlinkSync(this.current)}\n` : 'none\n');
  }
  admin(...args: string[]): void {
    const r = spawnSync(join(this.fakes, 'systemctl'), args, { env: { ...process.env, FAKE_SYSTEMD: this.systemd, FAKE_UNIT_FILE: this.path(`lib/systemd/system/${UNIT_NAME}`), FAKE_CURRENT: this.current } });
    expect(r.status).toBe(0);
  }

  private state(name: string): string {
    try {
      return readFileSync(join(this.systemd, name), 'utf8').trim();
    } catch {
      return '';
    }
  }
  get enabled(): boolean {
    return this.state('enabled') === 'yes';
  }
  get active(): boolean {
    return this.state('active') === 'yes';
  }
  /** The release the running gateway was started from. */
  get running(): string {
    return this.state('running');
  }
  get log(): string {
    return this.state('log');
  }
  clearLog(): void {
    rmSync(join(this.systemd, 'log'), { force: true });
  }
}

const run = spawnSync('sh', ['-c', 'command -v mv readlink ln'], { stdio: 'ignore' }).status === 0;

describe.runIf(run)('the maintainer scripts and the unit across dpkg\'s paths', () => {
  it('ships a preinst, postinst, prerm and postrm that parse', () => {
    for (const script of MAINTAINER_SCRIPTS) {
      const text = readFileSync(join(REPO, 'deploy/package/maintainer', script), 'utf8');
      expect(spawnSync('sh', ['-n', '-c', text]).status, script).toBe(0);
    }
  });

  it('a first installation with a config enables and starts the gateway; without one it says how and starts nothing', () => {
    const box = new Box('first').configure();
    box.install('0.1.0');
    expect([box.enabled, box.active, box.running]).toEqual([true, true, 'releases/0.1.0']);

    const bare = new Box('bare');
    bare.install('0.1.0');
    expect([bare.enabled, bare.active]).toEqual([false, false]);
    expect(bare.output).toContain(`systemctl enable --now ${UNIT_NAME}`);
  });

  it('an upgrade restarts a running gateway on the new release (prerm stops it; try-restart would leave it stopped)', () => {
    const box = new Box('upgrade').configure();
    box.install('0.1.0');
    box.clearLog();
    box.upgrade('0.1.0', '0.2.0');
    expect(box.log).toMatch(/systemctl stop [\s\S]*start$/);
    expect([box.enabled, box.active, box.running]).toEqual([true, true, 'releases/0.2.0']);
    // The same version again (apt reinstall): the same path.
    box.upgrade('0.2.0', '0.2.0');
    expect([box.enabled, box.active, box.running]).toEqual([true, true, 'releases/0.2.0']);
  });

  it('an upgrade starts an enabled gateway that was not running (crash-looping, or stopped for a while) and one started by hand while disabled; it leaves a disabled, stopped one so', () => {
    const stopped = new Box('enabled-stopped').configure();
    stopped.install('0.1.0');
    stopped.admin('stop', UNIT_NAME);
    stopped.upgrade('0.1.0', '0.2.0');
    expect([stopped.enabled, stopped.active, stopped.running]).toEqual([true, true, 'releases/0.2.0']);

    const byHand = new Box('disabled-running').configure();
    byHand.install('0.1.0');
    byHand.admin('disable', UNIT_NAME);
    byHand.upgrade('0.1.0', '0.2.0');
    expect([byHand.enabled, byHand.active, byHand.running]).toEqual([false, true, 'releases/0.2.0']);

    const off = new Box('disabled-stopped').configure();
    off.install('0.1.0');
    off.admin('disable', '--now', UNIT_NAME);
    off.upgrade('0.1.0', '0.2.0');
    expect([off.enabled, off.active]).toEqual([false, false]);
  });

  it('a remove stops and disables it; an installation after it (dpkg passes the last configured version) enables and starts it again', () => {
    const box = new Box('remove-install').configure();
    box.install('0.1.0');
    box.upgrade('0.1.0', '0.1.1');
    box.remove('0.1.1');
    expect([box.enabled, box.active]).toEqual([false, false]);
    box.reboot();
    expect(box.active).toBe(false);
    box.installAgain('0.1.1', '0.1.1');
    expect([box.enabled, box.active, box.running]).toEqual([true, true, 'releases/0.1.1']);
    // And the marker of the remove is gone: a later upgrade follows the upgrade rule (an admin's disable stays).
    box.admin('disable', '--now', UNIT_NAME);
    box.upgrade('0.1.1', '0.1.2');
    expect([box.enabled, box.active]).toEqual([false, false]);
  });

  it('after a purge, an installation is a first one: nothing configured, nothing started', () => {
    const box = new Box('purge').configure();
    box.install('0.1.0');
    box.remove('0.1.0');
    box.ok('0.1.0', 'postrm', 'purge');
    expect(existsSync(box.path('etc/swarmgate'))).toBe(false);
    box.install('0.1.0');
    expect([box.enabled, box.active]).toEqual([false, false]);
  });

  it('a failed upgrade puts the gateway back as the prerm found it (old postinst abort-upgrade), and so does a failed remove (abort-remove)', () => {
    const box = new Box('abort-upgrade').configure();
    box.install('0.1.0');
    // old prerm upgrade; new preinst upgrade fails: new postrm abort-upgrade, old postinst abort-upgrade.
    box.ok('0.1.0', 'prerm', 'upgrade', '0.2.0');
    expect(box.active).toBe(false);
    box.ok('0.2.0', 'postrm', 'abort-upgrade', '0.1.0');
    box.ok('0.1.0', 'postinst', 'abort-upgrade', '0.2.0');
    expect([box.enabled, box.active, box.running]).toEqual([true, true, 'releases/0.1.0']);

    box.ok('0.1.0', 'prerm', 'remove');
    expect([box.enabled, box.active]).toEqual([false, false]);
    box.ok('0.1.0', 'postinst', 'abort-remove');
    expect([box.enabled, box.active]).toEqual([true, true]);
  });

  it('when the old prerm fails, the new prerm failed-upgrade stops it and the new postinst starts it on the new release', () => {
    const box = new Box('failed-upgrade').configure();
    box.install('0.1.0');
    box.ok('0.2.0', 'prerm', 'failed-upgrade', '0.1.0');
    box.ok('0.2.0', 'preinst', 'upgrade', '0.1.0');
    box.unpack('0.2.0', '0.1.0');
    box.ok('0.2.0', 'postinst', 'configure', '0.1.0');
    expect([box.enabled, box.active, box.running]).toEqual([true, true, 'releases/0.2.0']);
  });

  it('an unconfigured box is upgraded without starting anything', () => {
    const box = new Box('unconfigured');
    box.install('0.1.0');
    box.upgrade('0.1.0', '0.2.0');
    expect([box.enabled, box.active]).toEqual([false, false]);
  });
});

describe.runIf(run)('`current` across package installations and over-the-air updates', () => {
  it('is made by the postinst on a first installation and moved to each newer packaged release', () => {
    const box = new Box('current-first');
    box.install('0.1.0');
    expect(readlinkSync(box.current)).toBe('releases/0.1.0');
    box.upgrade('0.1.0', '0.10.0');
    expect(readlinkSync(box.current)).toBe('releases/0.10.0');
  });

  it('an over-the-air release stays current when the same or an older package is installed again, and gives way to a newer one', () => {
    const box = new Box('current-ota').configure();
    box.install('0.1.0');
    box.overTheAir('0.3.0');
    box.upgrade('0.1.0', '0.1.0');
    expect(readlinkSync(box.current)).toBe('releases/0.3.0');
    expect(box.running).toBe('releases/0.3.0');
    box.upgrade('0.1.0', '0.2.0');
    expect(readlinkSync(box.current)).toBe('releases/0.3.0');
    expect(existsSync(box.path('opt/swarmgate/releases/0.2.0/bin/swarmgate.js'))).toBe(true);
    box.upgrade('0.2.0', '0.4.0');
    expect(readlinkSync(box.current)).toBe('releases/0.4.0');
    expect(box.running).toBe('releases/0.4.0');
    // A release before its pre-releases, in the updater's order.
    box.overTheAir('1.0.0-rc.2');
    box.upgrade('0.4.0', '1.0.0-rc.1');
    expect(readlinkSync(box.current)).toBe('releases/1.0.0-rc.2');
    box.upgrade('1.0.0-rc.1', '1.0.0');
    expect(readlinkSync(box.current)).toBe('releases/1.0.0');
    // The comparison (the packaged release's code) ran as the service user, never as root.
    if (process.getuid?.() === 0) {
      const drops = readFileSync(box.path('fake-systemd/setpriv.log'), 'utf8').split('\n').filter((line) => line.startsWith('setpriv '));
      expect(drops.length).toBeGreaterThan(0);
      for (const line of drops) expect(line).toMatch(/^setpriv --reuid=4242 --regid=4242 --clear-groups -- \S*node\S* --input-type=module -e /);
    }
  });

  it('a link that leads to no release (its package removed) points at the packaged release again', () => {
    const box = new Box('current-dangling').configure();
    box.install('0.1.0');
    box.remove('0.1.0');
    expect(readlinkSync(box.current)).toBe('releases/0.1.0');
    box.installAgain('0.0.9', '0.1.0');
    expect(readlinkSync(box.current)).toBe('releases/0.0.9');
  });

  it('upgrading from a package that shipped `current` (dpkg removes the link with that package\'s files) keeps an over-the-air release current', () => {
    const box = new Box('current-from-old-package').configure();
    box.install('0.1.0');
    box.overTheAir('0.3.0');
    box.ok('0.1.0', 'prerm', 'upgrade', '0.2.0');
    box.ok('0.2.0', 'preinst', 'upgrade', '0.1.0');
    box.unpack('0.2.0', '0.1.0');
    rmSync(box.current); // an obsolete file of the old package
    box.ok('0.1.0', 'postrm', 'upgrade', '0.2.0');
    box.ok('0.2.0', 'postinst', 'configure', '0.1.0');
    expect(readlinkSync(box.current)).toBe('releases/0.3.0');
    expect([box.active, box.running]).toEqual([true, 'releases/0.3.0']);
    expect(existsSync(box.path('opt/swarmgate/.current-before-upgrade'))).toBe(false);
  });
});
