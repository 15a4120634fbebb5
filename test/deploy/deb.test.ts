/**
 * The gateway's Debian package, built once for real (deploy/package/build-deb.ts, uncompressed to
 * save time): its contents with dpkg-deb, unpacked with dpkg -x into a scratch root where the
 * systemd unit's paths must exist and the packaged app must run on its production dependencies
 * alone, and installed with dpkg -i into a scratch root (chrootless; as root only), which runs the
 * maintainer scripts: the swarmgate user, the folders, an existing config kept, purge.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NATIVE_ADDONS, buildDeb, loadNativeAddons, type BuildResult } from '../../deploy/package/build-deb.js';
import { APP_DIR, COMMAND_PATH, CONFIG_DIR, CURRENT_LINK, STATE_DIR, UNIT_DIR, UNIT_NAME, releaseDir } from '../../deploy/package/layout.js';
import { InstallLayout } from '../../edge/update/layout.js';
import { deployToolsPeer } from '../support/deploy-tools.js';
import { peerOrSkip } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = tempDir('swarmgate-deb-test-');
/** package.json's version: the release folder's name (the Debian version may spell a pre-release otherwise). */
const RELEASE = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
afterAll(() => dir.remove());

const run = peerOrSkip(deployToolsPeer(['dpkg-deb', 'dpkg']));
let deb: BuildResult;
let root = '';

/** Key=value lines of a systemd unit's [Service] section (repeated keys: the last wins). */
function unitSettings(text: string): Map<string, string> {
  const settings = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) settings.set(m[1] as string, m[2] as string);
  }
  return settings;
}

/** The absolute paths a command line names (the program and its file arguments). */
const pathsIn = (command: string): string[] => command.split(/\s+/).filter((word) => word.startsWith('/'));

describe.runIf(run)('the swarmgate-edge package', () => {
  beforeAll(async () => {
    const lines: string[] = [];
    deb = await buildDeb({ outDir: join(dir.path, 'out'), compression: 'none', progress: (l) => lines.push(l) });
    expect(lines.filter((l) => /^\[\d\/6\]/.test(l))).toHaveLength(6);
    root = join(dir.path, 'x');
    execFileSync('dpkg', ['-x', deb.debFile, root]);
    // `current` is the postinst's (not a packaged file): made here as the postinst makes it.
    symlinkSync(`releases/${RELEASE}`, join(root, CURRENT_LINK));
  }, 600_000);

  it('is named and described for this architecture and version', () => {
    const arch = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect(deb.debFile.endsWith(`/swarmgate-edge_${version}_${arch}.deb`)).toBe(true);
    const field = (name: string): string => execFileSync('dpkg-deb', ['-f', deb.debFile, name], { encoding: 'utf8' }).trim();
    expect(field('Package')).toBe('swarmgate-edge');
    expect(field('Architecture')).toBe(arch);
    expect(field('Version')).toBe(version);
    expect(Number(field('Installed-Size'))).toBe(deb.installedSizeKiB);
    expect(field('Recommends')).toContain(`nodejs (>= ${process.versions.node.split('.')[0]})`);
  });

  it('has the unit, its ExecStart paths, the state folder and the command where the unit expects them', () => {
    const listing = execFileSync('dpkg-deb', ['--contents', deb.debFile], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    expect(listing).toMatch(new RegExp(`^-rw-r--r-- root/root .* \\.${UNIT_DIR}/${UNIT_NAME}$`, 'm'));
    expect(listing).toMatch(/^-rwxr-xr-x root\/root .* \.\/opt\/swarmgate\/releases\/[^/]+\/bin\/swarmgate\.js$/m);
    expect(listing).toMatch(/^lrwxrwxrwx root\/root .* \.\/opt\/swarmgate\/bin -> current\/bin$/m);
    expect(listing).not.toMatch(/ \.\/opt\/swarmgate\/node_modules\/(typescript|vitest|tsx)\//);
    expect(listing).not.toMatch(/\.map$/m);

    const unit = unitSettings(readFileSync(join(root, UNIT_DIR, UNIT_NAME), 'utf8'));
    expect(unit.get('User')).toBe('swarmgate');
    const commands = [unit.get('ExecStart') ?? '', unit.get('ExecStartPre') ?? ''];
    const paths = commands.flatMap(pathsIn).filter((p) => p !== '/usr/bin/node' && !p.startsWith(`${CONFIG_DIR}/`));
    expect(paths).toContain(`${APP_DIR}/bin/swarmgate.js`);
    for (const path of paths) expect(existsSync(join(root, path)), `${path} (named by the unit) is in the package`).toBe(true);
    // bin/swarmgate.js runs the compiled CLI from dist/ (without it, tsx, which is not shipped).
    expect(existsSync(join(root, CURRENT_LINK, 'dist/cli/main.js'))).toBe(true);
    expect(statSync(join(root, unit.get('WorkingDirectory') ?? '/missing')).isDirectory()).toBe(true);
    expect(unit.get('WorkingDirectory')).toBe(STATE_DIR);
    // The command is root's own script (not a link into the app the service user updates), which runs the app.
    expect(listing).toMatch(/^-rwxr-xr-x root\/root .* \.\/usr\/bin\/swarmgate$/m);
    expect(lstatSync(join(root, COMMAND_PATH)).isFile()).toBe(true);
    expect(readFileSync(join(root, COMMAND_PATH), 'utf8')).toContain(`app=${APP_DIR}/bin/swarmgate.js`);
  });

  it('is installed in the updater\'s layout: current -> releases/<version>, which the updater recognises', () => {
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    // Not a packaged file: dpkg would put it back on every upgrade and reinstall, undoing an over-the-air update.
    const listing = execFileSync('dpkg-deb', ['--contents', deb.debFile], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    expect(listing).not.toMatch(/ \.\/opt\/swarmgate\/current( |$)/m);
    expect(readlinkSync(join(root, CURRENT_LINK))).toBe(`releases/${version}`);
    expect(new InstallLayout(join(root, APP_DIR)).currentVersion()).toBe(version);
    expect(statSync(join(root, releaseDir(version), 'bin/swarmgate.js')).isFile()).toBe(true);
    // The unit's path goes through current: switching current switches what the unit runs.
    expect(readlinkSync(join(root, APP_DIR, 'bin'))).toBe('current/bin');
  });

  it('lists every file under /etc as a conffile and ships no gateway.yaml (enrollment writes it)', () => {
    const control = join(dir.path, 'control');
    execFileSync('dpkg-deb', ['-e', deb.debFile, control]);
    const etc: string[] = [];
    const walk = (d: string): void => {
      for (const e of readdirSync(join(root, d), { withFileTypes: true })) (e.isDirectory() ? walk : (p: string) => etc.push(p))(`${d}/${e.name}`);
    };
    walk(CONFIG_DIR);
    const conffiles = readFileSync(join(control, 'conffiles'), 'utf8').trim().split('\n');
    expect(conffiles.sort()).toEqual(etc.sort());
    expect(conffiles).toContain(`${CONFIG_DIR}/gateway.yaml.example`);
    expect(conffiles).toContain(`${CONFIG_DIR}/profiles/ahu-modbus.yaml`);
    expect(conffiles).not.toContain(`${CONFIG_DIR}/gateway.yaml`);
    for (const script of ['postinst', 'prerm', 'postrm']) {
      expect(statSync(join(control, script)).mode & 0o777, script).toBe(0o755);
      expect(readFileSync(join(control, script), 'utf8')).not.toMatch(/@[A-Z_]+@/);
      expect(spawnSync('sh', ['-n', join(control, script)]).status, `${script} parses`).toBe(0);
    }
    expect(readFileSync(join(control, 'postinst'), 'utf8')).toContain(`NODE_ABI=${process.versions.modules}`);
  });

  it('holds every production dependency and nothing else in node_modules (npm ls --omit=dev in the unpacked app)', () => {
    const app = join(root, CURRENT_LINK);
    const ls = spawnSync('npm', ['ls', '--omit=dev', '--all', '--offline'], { cwd: app, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    expect(ls.stderr).not.toMatch(/missing|invalid|ERR/i);
    expect(ls.status).toBe(0);
    // npm ls fails on anything extraneous too: a dev dependency shipped would be one.
    for (const dev of ['typescript', 'vitest', 'tsx']) expect(existsSync(join(app, 'node_modules', dev)), dev).toBe(false);
  });

  it('loads its native addons from the unpacked tree', () => {
    const r = spawnSync(process.execPath, ['-e', loadNativeAddons(join(root, CURRENT_LINK, 'node_modules'))], { encoding: 'utf8', cwd: dir.path });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    for (const name of NATIVE_ADDONS) expect(existsSync(join(root, CURRENT_LINK, 'node_modules', name)), name).toBe(true);
  });

  it('runs from the unpacked tree on its production dependencies: edge check of the example config', () => {
    const config = join(root, CONFIG_DIR, 'gateway.yaml');
    writeFileSync(config, readFileSync(join(root, CONFIG_DIR, 'gateway.yaml.example')));
    const env: NodeJS.ProcessEnv = { ...process.env, SWARMGATE_LOG_LEVEL: 'warn' };
    delete env.SWARMGATE_FROM_SOURCE;
    const r = spawnSync(process.execPath, [join(root, APP_DIR, 'bin/swarmgate.js'), 'edge', 'check', config], { encoding: 'utf8', env, cwd: dir.path, timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/gateway\.yaml: ok \(\d+ devices, \d+ points\)/);
    expect(r.status).toBe(0);
  });

  it('installs into a scratch root with dpkg -i (maintainer scripts chrootless): refused without Node.js, configured once it is there, existing config kept, purged', ({ skip }) => {
    if (process.getuid?.() !== 0) {
      console.warn('skipping dpkg -i: needs root (dpkg sets file owners); the dpkg -x checks above ran');
      skip();
    }
    const target = join(dir.path, 'target');
    for (const d of ['var/lib/dpkg/info', 'var/lib/dpkg/updates', 'var/lib/dpkg/triggers', 'etc', 'usr/bin', `${CONFIG_DIR}`]) mkdirSync(join(target, d), { recursive: true });
    writeFileSync(join(target, 'var/lib/dpkg/status'), '');
    writeFileSync(join(target, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    writeFileSync(join(target, 'etc/group'), 'root:x:0:\ndialout:x:20:\n');
    writeFileSync(join(target, 'etc/shadow'), 'root:*:19000:0:99999:7:::\n', { mode: 0o600 });
    writeFileSync(join(target, 'etc/gshadow'), 'root:*::\ndialout:*::\n', { mode: 0o600 });
    // A config already there (a gateway enrolled before): the package must not replace it.
    writeFileSync(join(target, CONFIG_DIR, 'gateway.yaml'), 'gateway: { id: kept }\n');
    const dpkg = (...args: string[]): { status: number | null; stderr: string } =>
      spawnSync('dpkg', [`--root=${target}`, '--force-script-chrootless', '--force-depends', '--log=/dev/null', ...args], { encoding: 'utf8', timeout: 300_000, maxBuffer: 64 * 1024 * 1024 });
    const state = (): string =>
      spawnSync('dpkg-query', [`--admindir=${join(target, 'var/lib/dpkg')}`, '-W', '-f=${Status}', 'swarmgate-edge'], { encoding: 'utf8' }).stdout;

    // No /usr/bin/node: unpacked, not configured, and the message says what to do.
    const refused = dpkg('-i', deb.debFile);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain(`swarmgate-edge: Node.js ${process.versions.node.split('.')[0]} is required at ${target}/usr/bin/node`);
    expect(refused.stderr).toContain('dpkg --configure -a');
    expect(state()).toBe('install ok half-configured');

    // As the message says: install Node.js, then configure.
    symlinkSync(process.execPath, join(target, 'usr/bin/node'));
    const configured = dpkg('--configure', '-a');
    expect(configured.stderr).not.toMatch(/error/i);
    expect(configured.status).toBe(0);
    expect(state()).toBe('install ok installed');

    const passwd = readFileSync(join(target, 'etc/passwd'), 'utf8');
    const user = /^swarmgate:x:(\d+):(\d+):[^:]*:\/var\/lib\/swarmgate:\/usr\/sbin\/nologin$/m.exec(passwd);
    expect(user, passwd).not.toBeNull();
    const group = readFileSync(join(target, 'etc/group'), 'utf8');
    expect(group).toMatch(/^gpio:x:\d+:swarmgate$/m);
    expect(group).toMatch(/^dialout:x:20:swarmgate$/m);
    const uid = Number(user?.[1]);
    for (const d of [STATE_DIR, CONFIG_DIR]) expect(statSync(join(target, d)).uid, d).toBe(uid);
    expect(readFileSync(join(target, CONFIG_DIR, 'gateway.yaml'), 'utf8')).toBe('gateway: { id: kept }\n');
    expect(existsSync(join(target, CURRENT_LINK, 'dist/cli/main.js'))).toBe(true);
    // The updater (running as swarmgate) may add releases, switch `current` and prune this one.
    for (const d of [APP_DIR, `${APP_DIR}/releases`]) {
      expect(statSync(join(target, d)).gid, d).toBe(Number(user?.[2]));
      expect(statSync(join(target, d)).mode & 0o777, d).toBe(0o775);
    }
    const release = readlinkSync(join(target, CURRENT_LINK));
    for (const p of ['', 'bin/swarmgate.js', 'node_modules/better-sqlite3/package.json']) expect(statSync(join(target, APP_DIR, release, p)).uid, p).toBe(uid);

    expect(readlinkSync(join(target, CURRENT_LINK))).toBe(`releases/${RELEASE}`);

    // The updater installs a newer release and switches `current` to it; the same package
    // installed again (a reinstall, or an upgrade to an older release) leaves it current.
    const ota = '999.0.0';
    cpSync(join(target, APP_DIR, release), join(target, releaseDir(ota)), { recursive: true, verbatimSymlinks: true });
    new InstallLayout(join(target, APP_DIR)).switchCurrent(ota);
    const again = dpkg('-i', deb.debFile);
    expect(again.status, again.stderr).toBe(0);
    expect(readlinkSync(join(target, CURRENT_LINK))).toBe(`releases/${ota}`);
    expect(existsSync(join(target, releaseDir(RELEASE), 'bin/swarmgate.js'))).toBe(true);

    const purge = dpkg('--purge', 'swarmgate-edge');
    expect(purge.status, purge.stderr).toBe(0);
    expect(existsSync(join(target, APP_DIR))).toBe(false);
    expect(existsSync(join(target, CONFIG_DIR))).toBe(false);
    expect(existsSync(join(target, STATE_DIR))).toBe(false);
  }, 600_000);
});
