/**
 * Builds the gateway's Debian package: `npm run package:deb` writes
 * dist/swarmgate-edge_<version>_<arch>.deb.
 *
 *   node --import tsx deploy/package/build-deb.ts [--out DIR] [--compression xz|gzip|none] [--keep]
 *
 * Steps (each printed with its time, the slow ones with a heartbeat):
 *   1. compile the app (tsc -p tsconfig.build.json) into the staging tree's
 *      /opt/swarmgate/releases/<version>/dist (the updater's layout: deploy/package/layout.ts)
 *   2. copy bin/, package.json, the device profiles and the examples
 *   3. production dependencies: the node_modules folders `npm ls --omit=dev` names (the one list of
 *      the app's files, shared/release/app-files.ts, as `swarmgate release build` uses), copied
 *      from the checkout (nothing fetched, the checkout untouched), so the native addons built
 *      here are the ones shipped; then source maps and native build leftovers are dropped
 *   4. check the staged app runs: better-sqlite3 opens a database and `swarmgate --help` answers
 *   5. the link bin -> current/bin (the unit's ExecStart; `current` itself is the postinst's, not
 *      a packaged file: see layout.ts), the systemd unit, /etc/swarmgate, /var/lib/swarmgate,
 *      DEBIAN/ (control, conffiles, md5sums, maintainer scripts from deploy/package/maintainer/)
 *   6. dpkg-deb --build --root-owner-group
 *
 * A TypeScript script rather than a shell script: the package layout lives in one typed module
 * (layout.ts) that the tests read too, the Node ABI and versions come from the running Node, and
 * the steps report progress and fail with the step named.
 *
 * The package is architecture-specific (better-sqlite3 is compiled for this machine's CPU and
 * Node ABI): build it on the target architecture (arm64 on a Pi 4/5 or an arm64 build host) with
 * the Node.js major the gateways run. Cross builds are not supported.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { SwarmgateError, errorMessage } from '../../shared/kit/errors.js';
import { productionModules } from '../../shared/release/app-files.js';
import {
  APP_DIR,
  COMMAND_PATH,
  commandScript,
  CURRENT_LINK,
  RELEASES_DIR,
  CONFIG_DIR,
  DOC_DIR,
  MAINTAINER_SCRIPTS,
  STATE_DIR,
  UNIT_DIR,
  UNIT_NAME,
  conffiles,
  controlFile,
  debFileName,
  debianVersion,
  fillTemplate,
  releaseDir,
} from './layout.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export type Compression = 'xz' | 'gzip' | 'none';

export interface BuildOptions {
  /** The checkout to package (default: this one). */
  readonly repo?: string;
  /** Where the .deb goes (default: <repo>/dist). */
  readonly outDir?: string;
  /** dpkg-deb compressor: xz (smallest, default), gzip (faster), none (tests). */
  readonly compression?: Compression;
  /** Keep the staging tree (its path is in the result). */
  readonly keepStaging?: boolean;
  /** Progress lines; default stderr. */
  readonly progress?: (line: string) => void;
}

export interface BuildResult {
  readonly debFile: string;
  readonly version: string;
  readonly arch: string;
  readonly bytes: number;
  readonly installedSizeKiB: number;
  readonly seconds: number;
  /** The staging root, when kept. */
  readonly stagingRoot?: string;
}

function fail(step: string, message: string, cause?: unknown): never {
  throw new SwarmgateError('SWG_ERR_PACKAGE_BUILD', `${step}: ${message}`, cause === undefined ? {} : { cause });
}

/** Runs a program to its end; its output is kept for the error message. */
function run(step: string, file: string, args: readonly string[], cwd: string): Promise<string> {
  return new Promise((done, reject) => {
    execFile(file, [...args], { cwd, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, NO_UPDATE_NOTIFIER: '1' } }, (err, stdout, stderr) => {
      if (err) {
        const output = `${stdout}${stderr}`.trim().split('\n').slice(-20).join('\n');
        reject(new SwarmgateError('SWG_ERR_PACKAGE_BUILD', `${step}: ${file} ${args.join(' ')} failed: ${errorMessage(err)}\n${output}`, { cause: err }));
      } else done(stdout);
    });
  });
}

/** Runs one step, printing its start, a heartbeat every 15 s and its duration. */
async function step<T>(progress: (line: string) => void, label: string, work: () => Promise<T> | T): Promise<T> {
  const started = Date.now();
  progress(`${label} ...`);
  const beat = setInterval(() => progress(`  ... ${label}: ${Math.round((Date.now() - started) / 1000)} s`), 15_000);
  try {
    const result = await work();
    progress(`  done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return result;
  } finally {
    clearInterval(beat);
  }
}

function walk(dir: string, visit: (path: string) => void): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    visit(path);
    if (entry.isDirectory()) walk(path, visit);
  }
}

/**
 * The native addons the gateway needs on the box: the store and outbox (better-sqlite3), the
 * systemd notify socket (unix-dgram, optional in package.json but required by the Type=notify
 * unit), GPIO (epoll, via onoff) and RS-485 (serialport's bindings).
 */
export const NATIVE_ADDONS = ['better-sqlite3', 'unix-dgram', 'epoll', '@serialport/bindings-cpp'] as const;

/** A node -e script that loads each native addon from a node_modules folder and exits 1 naming the first that fails. */
export function loadNativeAddons(modules: string): string {
  return [
    `const { createRequire } = require('node:module');`,
    `const load = createRequire(${JSON.stringify(join(modules, '..', 'package.json'))});`,
    `for (const name of ${JSON.stringify(NATIVE_ADDONS)}) {`,
    `  try { load(name); } catch (err) { console.error(name + ': ' + err.message); process.exit(1); }`,
    `}`,
    `const Db = load('better-sqlite3'); new Db(':memory:').prepare('select 1').get();`,
  ].join('\n');
}

/** Files that a running gateway never reads: source maps, and native-addon build leftovers. */
function trimNodeModules(modules: string): void {
  walk(modules, (path) => {
    if (path.endsWith('.map') && lstatSync(path).isFile()) rmSync(path);
  });
  // better-sqlite3 ships the SQLite sources it compiled (deps/, src/); the addon is build/Release/*.node.
  for (const dir of ['better-sqlite3/deps', 'better-sqlite3/src']) rmSync(join(modules, dir), { recursive: true, force: true });
  // node-gyp leaves objects and makefiles next to each built addon: keep build/Release/*.node only.
  walk(modules, (path) => {
    if (!path.endsWith('/build') || !existsSync(join(dirname(path), 'binding.gyp'))) return;
    for (const entry of readdirSync(path)) {
      if (entry !== 'Release') rmSync(join(path, entry), { recursive: true, force: true });
    }
    const release = join(path, 'Release');
    if (!existsSync(release)) return;
    for (const entry of readdirSync(release)) {
      if (!entry.endsWith('.node')) rmSync(join(release, entry), { recursive: true, force: true });
    }
  });
}

/** No file writable by group or others, directories traversable: what dpkg installs as root. */
function normaliseModes(root: string): void {
  walk(root, (path) => {
    const st = lstatSync(path);
    if (st.isSymbolicLink()) return;
    const exec = st.isDirectory() || (st.mode & 0o111) !== 0;
    chmodSync(path, exec ? 0o755 : 0o644);
  });
}

function packagedFiles(root: string): { files: string[]; bytes: number } {
  const files: string[] = [];
  let bytes = 0;
  walk(root, (path) => {
    if (path.startsWith(join(root, 'DEBIAN'))) return;
    const st = lstatSync(path);
    if (st.isFile()) {
      files.push(`/${relative(root, path)}`);
      bytes += st.size;
    }
  });
  return { files, bytes };
}

function md5sums(root: string, files: readonly string[]): string {
  return files.map((f) => `${createHash('md5').update(readFileSync(join(root, f))).digest('hex')}  ${f.slice(1)}`).join('\n') + '\n';
}

/**
 * /etc/swarmgate/gateway.yaml.example: the demo gateway config with its paths made those of an
 * installed gateway (profiles beside it in /etc/swarmgate/profiles, data in /var/lib/swarmgate).
 */
export function exampleConfig(demoYaml: string): string {
  const body = demoYaml
    .replace(/^((?:\s*-\s*|\s*)profile:\s*)\.\.\/\.\.\/devices\/profiles\//gm, '$1profiles/')
    .replace(/^dataDir:.*$/m, `dataDir: ${STATE_DIR}`);
  const header = [
    '# An example gateway config (the demo facility\'s gateway, with installed paths). An enrolled',
    '# gateway gets its own gateway.yaml from the hub; to write one by hand, copy this file to',
    `# ${CONFIG_DIR}/gateway.yaml, point each device's connection at the real equipment and check it:`,
    `#   swarmgate edge check ${CONFIG_DIR}/gateway.yaml`,
    '',
  ].join('\n');
  return `${header}${body}`;
}

/** Builds the package; returns where it is and what it measured. */
export async function buildDeb(options: BuildOptions = {}): Promise<BuildResult> {
  const started = Date.now();
  const repo = options.repo ?? REPO;
  const outDir = options.outDir ?? join(repo, 'dist');
  const compression = options.compression ?? 'xz';
  const progress = options.progress ?? ((line: string): void => void process.stderr.write(`${line}\n`));

  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string };
  const version = debianVersion(pkg.version);
  const arch = (await run('architecture', 'dpkg', ['--print-architecture'], repo)).trim();
  const nodeMajor = Number(process.versions.node.split('.')[0]);
  const nodeAbi = process.versions.modules;
  if (!existsSync(join(repo, 'node_modules', 'better-sqlite3'))) fail('dependencies', `no node_modules in ${repo}: run npm ci first`);

  const staging = mkdtempSync(join(tmpdir(), 'swarmgate-deb-'));
  const root = join(staging, 'root');
  // The app goes into its release folder; current and bin are links to it (layout.ts).
  const app = join(root, releaseDir(pkg.version));
  progress(`building ${debFileName(version, arch)} (Node.js ${process.versions.node}, ABI ${nodeAbi}) in ${staging}`);
  try {
    await step(progress, '[1/6] compiling the app (tsc -p tsconfig.build.json)', async () => {
      mkdirSync(app, { recursive: true });
      const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
      await run('compile', process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', join(app, 'dist'), '--sourceMap', 'false'], repo);
    });

    await step(progress, '[2/6] copying bin/, package.json, profiles and examples', () => {
      mkdirSync(join(app, 'bin'), { recursive: true });
      copyFileSync(join(repo, 'bin', 'swarmgate.js'), join(app, 'bin', 'swarmgate.js'));
      chmodSync(join(app, 'bin', 'swarmgate.js'), 0o755);
      for (const f of ['package.json', 'package-lock.json', 'README.md']) copyFileSync(join(repo, f), join(app, f));
      const profiles = join(root, CONFIG_DIR, 'profiles');
      mkdirSync(profiles, { recursive: true });
      for (const f of readdirSync(join(repo, 'devices', 'profiles')).filter((n) => n.endsWith('.yaml'))) {
        copyFileSync(join(repo, 'devices', 'profiles', f), join(profiles, f));
      }
      writeFileSync(join(root, CONFIG_DIR, 'gateway.yaml.example'), exampleConfig(readFileSync(join(repo, 'deploy', 'examples', 'demo-gateway.yaml'), 'utf8')));
      const docs = join(root, DOC_DIR);
      mkdirSync(docs, { recursive: true });
      copyFileSync(join(repo, 'deploy', 'systemd', 'swarmgate-hub.service'), join(docs, 'swarmgate-hub.service.example'));
      // `swarmgate image prepare` reads its first-boot scripts from here (a technician may run it anywhere).
      cpSync(join(repo, 'deploy', 'image', 'boot'), join(app, 'deploy', 'image', 'boot'), { recursive: true });
    });

    const modules = await step(progress, '[3/6] production dependencies (npm ls --omit=dev, as release build: shared/release/app-files.ts)', () => {
      // The one list of what the app is made of decides which node_modules folders ship; they are
      // copied as they are (native addons built here included), never pruned in the checkout.
      // npm ls runs where node_modules really is: a git worktree may link it from another checkout
      // of the same project, and npm misreads a linked node_modules.
      const source = realpathSync(join(repo, 'node_modules'));
      const listed = productionModules(dirname(source));
      if (listed.length === 0) fail('dependencies', `npm ls --omit=dev lists no production dependencies in ${dirname(source)}: run npm ci first`);
      for (const dir of listed) {
        cpSync(join(source, dir.slice('node_modules/'.length)), join(app, dir), { recursive: true, dereference: false, verbatimSymlinks: true });
      }
      for (const dev of ['typescript', 'vitest', 'tsx']) {
        if (existsSync(join(app, 'node_modules', dev))) {
          fail('dependencies', `npm ls --omit=dev in ${dirname(source)} lists the dev dependency ${dev}: its node_modules does not match package.json and package-lock.json; run npm ci there`);
        }
      }
      trimNodeModules(join(app, 'node_modules'));
      return listed.length;
    });

    await step(progress, `[4/6] checking the staged app runs (native addons: ${NATIVE_ADDONS.join(', ')}; swarmgate --help)`, async () => {
      await run('check', process.execPath, ['-e', loadNativeAddons(join(app, 'node_modules'))], app).catch((err: unknown) => {
        fail('check', `a native addon does not load from the staged node_modules (unix-dgram and epoll need make and g++ when npm ci runs; the systemd unit is Type=notify and needs unix-dgram): ${errorMessage(err)}`, err);
      });
      const help = await run('check', process.execPath, [join(app, 'bin', 'swarmgate.js'), '--help'], app);
      if (!help.includes('usage: swarmgate')) fail('check', `swarmgate --help from the staged app printed no usage:\n${help}`);
    });

    progress(`  ${modules} production dependency folders`);
    const installedSizeKiB = await step(progress, '[5/6] unit, folders and DEBIAN/ (control, conffiles, md5sums, scripts)', () => {
      mkdirSync(join(root, UNIT_DIR), { recursive: true });
      copyFileSync(join(repo, 'deploy', 'systemd', UNIT_NAME), join(root, UNIT_DIR, UNIT_NAME));
      mkdirSync(join(root, STATE_DIR), { recursive: true });
      mkdirSync(join(root, dirname(COMMAND_PATH)), { recursive: true });
      writeFileSync(join(root, COMMAND_PATH), commandScript(readFileSync(join(repo, 'deploy', 'package', 'swarmgate-command.sh'), 'utf8')), { mode: 0o755 });
      chmodSync(join(root, COMMAND_PATH), 0o755);
      // Not `current`: dpkg would own it and put it back on every upgrade and reinstall, undoing an
      // over-the-air update; the postinst makes it (MAINTAINER_SCRIPTS, layout.ts).
      for (const entry of ['bin', 'README.md']) symlinkSync(join(relative(APP_DIR, CURRENT_LINK), entry), join(root, APP_DIR, entry));
      normaliseModes(root);

      const { files, bytes } = packagedFiles(root);
      const kib = Math.ceil(bytes / 1024);
      const debian = join(root, 'DEBIAN');
      mkdirSync(debian);
      writeFileSync(join(debian, 'control'), controlFile({ version, arch, installedSizeKiB: kib, nodeMajor }));
      writeFileSync(join(debian, 'conffiles'), conffiles(files));
      writeFileSync(join(debian, 'md5sums'), md5sums(root, files));
      const values = { NODE_MAJOR: String(nodeMajor), NODE_ABI: nodeAbi, CONFIG_DIR, STATE_DIR, UNIT_NAME, APP_DIR, RELEASES_DIR, RELEASE_DIR: releaseDir(pkg.version) };
      for (const script of MAINTAINER_SCRIPTS) {
        const text = fillTemplate(readFileSync(join(repo, 'deploy', 'package', 'maintainer', script), 'utf8'), values);
        writeFileSync(join(debian, script), text, { mode: 0o755 });
        chmodSync(join(debian, script), 0o755);
      }
      return kib;
    });

    const debFile = join(outDir, debFileName(version, arch));
    await step(progress, `[6/6] dpkg-deb --build (${compression}; ${Math.round(installedSizeKiB / 1024)} MiB to pack)`, async () => {
      mkdirSync(outDir, { recursive: true });
      await run('dpkg-deb', 'dpkg-deb', ['--root-owner-group', `-Z${compression}`, '--build', root, debFile], repo);
    });
    const bytes = statSync(debFile).size;
    const seconds = (Date.now() - started) / 1000;
    progress(`wrote ${debFile}: ${(bytes / 1024 / 1024).toFixed(1)} MiB (installed ${Math.round(installedSizeKiB / 1024)} MiB) in ${seconds.toFixed(0)} s`);
    return { debFile, version, arch, bytes, installedSizeKiB, seconds, ...(options.keepStaging ? { stagingRoot: root } : {}) };
  } finally {
    if (!options.keepStaging) rmSync(staging, { recursive: true, force: true });
  }
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { out: { type: 'string' }, compression: { type: 'string' }, keep: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write('usage: npm run package:deb -- [--out DIR] [--compression xz|gzip|none] [--keep]\n');
    return 0;
  }
  const compression = values.compression ?? 'xz';
  if (compression !== 'xz' && compression !== 'gzip' && compression !== 'none') {
    process.stderr.write(`--compression must be xz, gzip or none, got "${compression}"\n`);
    return 2;
  }
  const result = await buildDeb({ compression, keepStaging: values.keep ?? false, ...(values.out ? { outDir: resolve(values.out) } : {}) });
  process.stdout.write(`${result.debFile}\n`);
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      process.stderr.write(`package:deb: ${err instanceof SwarmgateError ? err.toDisplay() : errorMessage(err)}\n`);
      process.exitCode = 1;
    },
  );
}
