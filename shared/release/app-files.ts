/**
 * Which files make the installed gateway app: ONE list, used by `swarmgate release build` and meant
 * for the Debian package's staging as well. The app is what the systemd unit runs
 * (`node <root>/bin/swarmgate.js edge ...`): the launcher, the compiled JavaScript (dist/, from
 * `npm run build`), package.json, the production dependencies, the unit files and the shipped
 * device profiles.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { SwarmgateError } from '../kit/errors.js';

/** Required parts of the app tree (relative to the package root). */
const REQUIRED = ['package.json', 'bin/swarmgate.js', 'dist/cli/main.js'] as const;
/** Taken when present. */
const OPTIONAL = ['package-lock.json', 'README.md', 'LICENSE', 'deploy/systemd', 'devices/profiles'] as const;

/**
 * The app's files and folders under `root` (a built checkout), relative, in a stable order: the
 * fixed parts plus each production dependency's folder under node_modules (`npm ls --omit=dev`).
 */
export function appFiles(root: string): string[] {
  const missing = REQUIRED.filter((p) => !existsSync(join(root, p)));
  if (missing.length > 0) throw new SwarmgateError('SWG_ERR_RELEASE_BUILD', `${root}: the app is not built, missing ${missing.join(', ')}`);
  const files: string[] = ['package.json', 'bin', 'dist', ...OPTIONAL.filter((p) => existsSync(join(root, p)))];
  return [...files, ...productionModules(root)].sort();
}

/** Top-level folders of the production dependencies, relative to root (node_modules/...). */
export function productionModules(root: string): string[] {
  const modules = join(root, 'node_modules');
  if (!existsSync(modules)) return [];
  const listed = spawnSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  // npm ls exits 1 on extraneous or invalid packages but still lists what is installed.
  if (listed.error || !listed.stdout) throw new SwarmgateError('SWG_ERR_RELEASE_BUILD', `npm ls --omit=dev failed in ${root}: ${listed.error?.message ?? listed.stderr.slice(0, 500)}`);
  const real = realpathSync(modules);
  const dirs = new Set<string>();
  for (const line of listed.stdout.split('\n')) {
    const path = line.trim();
    if (!path) continue;
    const under = path.startsWith(real + sep) ? relative(real, path) : path.startsWith(modules + sep) ? relative(modules, path) : undefined;
    if (under === undefined || under.startsWith('..')) continue;
    // node_modules/a/node_modules/b is inside node_modules/a already.
    const parts = under.split(sep);
    const top = parts[0]?.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? '');
    if (top) dirs.add(`node_modules/${top}`);
  }
  return [...dirs].sort();
}

/** `>=20.19` (package.json engines.node) as the lowest version it allows, e.g. 20.19.0. */
export function minimumNode(root: string, fallback = '20.0.0'): string {
  try {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines?: { node?: string } };
    const m = /(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(pkg.engines?.node ?? '');
    return m ? `${m[1]}.${m[2] ?? 0}.${m[3] ?? 0}` : fallback;
  } catch {
    return fallback;
  }
}
