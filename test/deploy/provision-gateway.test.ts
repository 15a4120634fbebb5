/**
 * deploy/provision-gateway.sh run for real in a temp root: the script is copied into a source tree
 * made here (package.json with its version, the shipped unit, a profile, and a bin/swarmgate.js
 * whose `edge check` is the real one and which records the release it ran from), with its box
 * paths (/etc/swarmgate, /var/lib/swarmgate, /etc/systemd/system, the default prefix) moved into
 * the temp root, as maintainer-scripts.test.ts moves the maintainer scripts' paths. On PATH: a
 * systemctl that keeps the unit's state with systemd's semantics (enable --now starts a stopped
 * unit and does nothing to a running one; restart starts it again) and records the release and
 * config the gateway was started with; npm, runuser and the user tools as stand-ins that never
 * touch this machine; and a mkdir that refuses any absolute path outside the temp root.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/tmp.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const dirs = tempDir('swarmgate-provision-test-');
afterAll(() => dirs.remove());

const UNIT = 'swarmgate-edge.service';
const PROFILE = join(REPO, 'devices/profiles/ahu-modbus.yaml');
const which = (tool: string): string => spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
const MKDIR = which('mkdir');

const FAKE_SYSTEMCTL = `#!/bin/sh
S="$FAKE_SYSTEMD"
echo "systemctl $*" >> "$S/log"
now=0; verb=""
for a in "$@"; do case "$a" in --now) now=1 ;; -*) ;; *) [ -n "$verb" ] || verb=$a ;; esac; done
is() { [ "$(cat "$S/$1" 2>/dev/null)" = yes ]; }
start() {
  [ -f "$FAKE_UNIT_FILE" ] || { echo "Unit $verb not found." >&2; exit 5; }
  echo yes > "$S/active"; echo "start" >> "$S/log"
  readlink "$FAKE_CURRENT" > "$S/running"
  cp "$FAKE_CONFIG" "$S/running-config"
}
case "$verb" in
  daemon-reload) ;;
  start|restart) start ;;
  enable) [ -f "$FAKE_UNIT_FILE" ] || exit 1; echo yes > "$S/enabled"; if [ $now = 1 ] && ! is active; then start; fi ;;
  is-active) is active; exit $? ;;
  status) echo "* $UNIT"; is active && echo "   Active: active (running)" ;;
  *) echo "fake systemctl: $verb is not modelled" >&2; exit 1 ;;
esac
exit 0
`.replace('$UNIT', UNIT);

/** One box: its temp root, the source trees of each version, the unit's state. */
class Box {
  readonly root: string;
  private readonly fakes: string;
  private readonly systemd: string;
  output = '';

  constructor(name: string) {
    this.root = join(dirs.path, name);
    this.fakes = join(this.root, 'fake-bin');
    this.systemd = join(this.root, 'fake-systemd');
    for (const d of ['etc/systemd/system', 'var/lib', 'opt', 'fake-bin', 'fake-systemd', 'site']) mkdirSync(join(this.root, d), { recursive: true });
    const fake = (tool: string, body: string): void => writeFileSync(join(this.fakes, tool), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    writeFileSync(join(this.fakes, 'systemctl'), FAKE_SYSTEMCTL, { mode: 0o755 });
    for (const tool of ['getent', 'id', 'groupadd', 'useradd', 'chown']) fake(tool, 'exit 0');
    fake('npm', `echo "npm $*" >> "${join(this.systemd, 'npm.log')}"`);
    fake('runuser', 'while [ "$1" != -- ]; do shift; done; shift; exec "$@"');
    fake('mkdir', `for a in "$@"; do case "$a" in -*|"${this.root}"/*) ;; /*) echo "mkdir: $a is outside the test root" >&2; exit 1 ;; esac; done\nexec "${MKDIR}" "$@"`);
  }

  path(p: string): string {
    return join(this.root, p);
  }

  /** A checkout of a version: the script under test with its box paths inside this root. */
  private source(version: string): string {
    const src = this.path(`src-${version}`);
    if (existsSync(src)) return src;
    for (const d of ['deploy/systemd', 'devices/profiles', 'bin']) mkdirSync(join(src, d), { recursive: true });
    writeFileSync(join(src, 'package.json'), JSON.stringify({ name: 'swarmgate', version, type: 'module' }));
    copyFileSync(join(REPO, 'deploy/systemd', UNIT), join(src, 'deploy/systemd', UNIT));
    copyFileSync(PROFILE, join(src, 'devices/profiles/ahu-modbus.yaml'));
    // The release's CLI: records where it ran from, then runs the real `swarmgate edge ...`.
    writeFileSync(
      join(src, 'bin/swarmgate.js'),
      `import { spawnSync } from 'node:child_process';\nimport { appendFileSync } from 'node:fs';\nimport { fileURLToPath } from 'node:url';\n` +
        `appendFileSync(${JSON.stringify(this.path('fake-systemd/cli.log'))}, fileURLToPath(new URL('..', import.meta.url)) + ' ' + process.argv.slice(2).join(' ') + '\\n');\n` +
        `const r = spawnSync(process.execPath, ['--import', 'tsx', ${JSON.stringify(join(REPO, 'cli/main.ts'))}, ...process.argv.slice(2)], { cwd: ${JSON.stringify(REPO)}, stdio: 'inherit', env: { ...process.env, SWARMGATE_LOG_LEVEL: 'error' } });\n` +
        `process.exit(r.status ?? 1);\n`,
    );
    let text = readFileSync(join(REPO, 'deploy/provision-gateway.sh'), 'utf8');
    for (const p of ['/etc/swarmgate', '/var/lib/swarmgate', '/etc/systemd/system']) text = text.replaceAll(p, this.path(p.slice(1)));
    text = text.replace('PREFIX=/opt/swarmgate', `PREFIX=${this.path('opt/swarmgate')}`).replaceAll('$EUID', '0'); // the test need not run as root
    const code = text.split('\n').filter((line) => !/^\s*(#|echo )/.test(line)).join('\n');
    expect(code, 'no box path outside the temp root').not.toMatch(/(^|[\s="'])\/(etc|var|opt)\b/m);
    writeFileSync(join(src, 'deploy/provision-gateway.sh'), text, { mode: 0o755 });
    return src;
  }

  /** A config (and profiles of the site's own) as the technician has them. */
  site(name: string, yaml: string, profiles: Record<string, string> = {}): { config: string; profiles: string } {
    const dir = this.path(`site/${name}`);
    mkdirSync(join(dir, 'profiles'), { recursive: true });
    writeFileSync(join(dir, 'gateway.yaml'), yaml);
    for (const [file, from] of Object.entries(profiles)) copyFileSync(from, join(dir, 'profiles', file));
    return { config: join(dir, 'gateway.yaml'), profiles: join(dir, 'profiles') };
  }

  /** Runs the script of a version; its exit status. */
  provision(version: string, ...args: string[]): number {
    const r = spawnSync('bash', [join(this.source(version), 'deploy/provision-gateway.sh'), ...args], {
      encoding: 'utf8',
      timeout: 60_000,
      env: {
        PATH: `${this.fakes}:${process.env.PATH ?? '/usr/bin:/bin'}`,
        HOME: this.root,
        FAKE_SYSTEMD: this.systemd,
        FAKE_UNIT_FILE: this.path(`etc/systemd/system/${UNIT}`),
        FAKE_CURRENT: this.path('opt/swarmgate/current'),
        FAKE_CONFIG: this.path('etc/swarmgate/gateway.yaml'),
      },
    });
    this.output += r.stdout + r.stderr;
    return r.status ?? -1;
  }

  private state(name: string): string {
    try {
      return readFileSync(join(this.systemd, name), 'utf8').trim();
    } catch {
      return '';
    }
  }
  get current(): string {
    return readlinkSync(this.path('opt/swarmgate/current'));
  }
  get active(): boolean {
    return this.state('active') === 'yes';
  }
  /** The release and config the running gateway was started with. */
  get running(): { release: string; config: string } {
    return { release: this.state('running'), config: this.state('running-config') };
  }
  get log(): string {
    return this.state('log');
  }
  get cli(): string {
    return this.state('cli.log');
  }
  file(p: string): string | undefined {
    return existsSync(this.path(p)) ? readFileSync(this.path(p), 'utf8') : undefined;
  }
}

const GOOD = 'gateway: { id: gw-1, site: hq }\ndevices:\n  - { id: ahu1, protocol: modbus-tcp, profile: profiles/ahu-modbus.yaml, connection: { host: 127.0.0.1, port: 502 } }\n';
const GOOD_V2 = 'gateway: { id: gw-1, site: hq }\ndevices:\n  - { id: ahu2, protocol: modbus-tcp, profile: profiles/ahu-site.yaml, connection: { host: 127.0.0.1, port: 502 } }\n';
const BROKEN = 'gateway: { id: gw-1, site: hq }\ndevices:\n  - { id: ahu1, protocol: modbus-tcp, profile: profiles/chiller.yaml, connection: { host: 127.0.0.1, port: 502 } }\n';

const run = spawnSync('sh', ['-c', 'command -v bash tar mktemp cmp'], { stdio: 'ignore' }).status === 0;

describe.runIf(run)('deploy/provision-gateway.sh on a box that runs a gateway already', () => {
  it('a run whose config has a problem installs nothing: the running gateway, `current` and gateway.yaml stay as they were', () => {
    const box = new Box('broken-second');
    const first = box.site('first', GOOD);
    expect(box.provision('0.1.0', '--config', first.config), box.output).toBe(0);
    expect([box.current, box.active, box.running]).toEqual(['releases/0.1.0', true, { release: 'releases/0.1.0', config: GOOD.trim() }]);

    const broken = box.site('broken', BROKEN);
    expect(box.provision('0.2.0', '--config', broken.config), box.output).not.toBe(0);
    expect(box.current).toBe('releases/0.1.0');
    expect(box.file('etc/swarmgate/gateway.yaml')).toBe(GOOD);
    expect(box.output).toContain(`${box.path('etc/swarmgate/gateway.yaml')}:3:48: devices[0].profile: profile file not found: ${box.path('etc/swarmgate/profiles/chiller.yaml')}`);
    expect(box.output).toMatch(/nothing was installed \(the gateway, its release and .*etc\/swarmgate are as they were\)/);
    // The new release's code checked it (not the running one), before anything was installed.
    expect(box.cli.split('\n').at(-1)).toMatch(/releases\/0\.2\.0\.partial\/ edge check /);
    expect(box.file('etc/swarmgate/gateway.yaml.previous')).toBeUndefined();
    expect(readdirSync(box.path('opt/swarmgate/releases'))).toEqual(['0.1.0']);
    expect(readdirSync(box.path('etc')).filter((n) => n.startsWith('swarmgate.check'))).toEqual([]);
    // What the unit's ExecStartPre checks on the next start is the config that passed.
    expect([box.active, box.running]).toEqual([true, { release: 'releases/0.1.0', config: GOOD.trim() }]);
  }, 120_000);

  it('a run with a good config installs it (the replaced one kept as gateway.yaml.previous) and restarts the running gateway on the new release and config', () => {
    const box = new Box('good-second');
    const first = box.site('first', GOOD);
    expect(box.provision('0.1.0', '--config', first.config), box.output).toBe(0);
    expect(box.log).toMatch(/enable --now/);

    // The new config names a profile of the site's own (--profiles): the check sees it.
    const next = box.site('next', GOOD_V2, { 'ahu-site.yaml': PROFILE });
    expect(box.provision('0.2.0', '--config', next.config, '--profiles', next.profiles), box.output).toBe(0);
    expect(box.current).toBe('releases/0.2.0');
    expect(box.file('etc/swarmgate/gateway.yaml')).toBe(GOOD_V2);
    // Running the release and config just installed (enable --now left the old process as it was).
    expect([box.active, box.running]).toEqual([true, { release: 'releases/0.2.0', config: GOOD_V2.trim() }]);
    expect(box.log).toMatch(/systemctl restart swarmgate-edge\.service\nstart/);
    expect(box.file('etc/swarmgate/gateway.yaml.previous')).toBe(GOOD);
    expect(box.file('etc/swarmgate/profiles/ahu-site.yaml')).toBe(readFileSync(PROFILE, 'utf8'));
  }, 120_000);
});

describe.runIf(run)('deploy/provision-gateway.sh --prefix', () => {
  it.each(['/usr/local/swarmgate', '/usr', '/etc/swarmgate-app'])('%s (read-only for the gateway under ProtectSystem=full) is refused before anything is built or installed', (prefix) => {
    const box = new Box(`prefix-${prefix.replaceAll('/', '_')}`);
    const site = box.site('site', GOOD);
    expect(box.provision('0.1.0', '--config', site.config, '--prefix', prefix), box.output).toBe(2);
    expect(box.output).toMatch(/--prefix .*ProtectSystem=full makes \/usr, \/boot, \/efi and \/etc read-only .*updater/);
    expect(box.file('fake-systemd/npm.log')).toBeUndefined();
    expect(box.log).toBe('');
  });
});
