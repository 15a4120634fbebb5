/**
 * Building a release: the app tree packed into a gzip tarball (GNU tar, stable member order and
 * owners) and its signed manifest beside it. And the one file hash both sides compute.
 */
import { spawnSync } from 'node:child_process';
import { createHash, type KeyObject } from 'node:crypto';
import { createReadStream, lstatSync, mkdirSync, readdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { SwarmgateError } from '../kit/errors.js';
import { signManifest } from './signing.js';
import type { ReleaseManifest } from './manifest.js';

export interface BuildReleaseOptions {
  readonly version: string;
  readonly privateKey: KeyObject;
  /** The folder the files are taken from. */
  readonly sourceDir: string;
  /** Relative paths under sourceDir (appFiles(sourceDir), or every entry of a staged folder). */
  readonly files: readonly string[];
  readonly outDir: string;
  readonly minNode: string;
  /** The launcher inside the tree; default bin/swarmgate.js. */
  readonly entry?: string;
  readonly clock?: () => Date;
}

export interface BuiltRelease {
  readonly manifest: ReleaseManifest;
  readonly tarball: string;
  readonly manifestFile: string;
}

export const manifestFileName = (version: string): string => `swarmgate-${version}.manifest.json`;
export const tarballFileName = (version: string): string => `swarmgate-${version}.tar.gz`;

/** Every top-level entry of a staged app folder (release build --from DIR). */
export function stagedFiles(dir: string): string[] {
  return readdirSync(dir).sort();
}

/**
 * A symbolic link in the staged tree that would point outside the release once unpacked on a
 * gateway (an absolute target, or one climbing out of the tree), or undefined when there is none.
 */
export function escapingLink(sourceDir: string, files: readonly string[]): { path: string; target: string } | undefined {
  const root = resolve(sourceDir);
  const stack = files.filter((f) => f !== '.git').map((f) => join(root, f));
  while (stack.length > 0) {
    const path = stack.pop() as string;
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isSymbolicLink()) {
      const target = readlinkSync(path);
      const landed = relative(root, resolve(dirname(path), target));
      if (isAbsolute(target) || landed.startsWith('..') || isAbsolute(landed)) return { path: relative(root, path), target };
    } else if (st.isDirectory()) {
      for (const name of readdirSync(path)) if (name !== '.git') stack.push(join(path, name));
    }
  }
  return undefined;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export async function buildRelease(options: BuildReleaseOptions): Promise<BuiltRelease> {
  const { version, sourceDir, outDir } = options;
  const entry = options.entry ?? 'bin/swarmgate.js';
  try {
    if (!statSync(join(sourceDir, entry)).isFile()) throw new Error('not a file');
  } catch {
    throw new SwarmgateError('SWG_ERR_RELEASE_BUILD', `${sourceDir}: the entry ${entry} is missing`);
  }
  // Unpacked on a gateway, such a link would point into the gateway's own disk, not the release.
  const escaping = escapingLink(sourceDir, options.files);
  if (escaping) {
    throw new SwarmgateError('SWG_ERR_RELEASE_BUILD', `${sourceDir}: ${escaping.path} is a link to ${escaping.target}, outside the release; copy what it points to into the staged folder (cp -L) or make the link relative inside it`);
  }
  mkdirSync(outDir, { recursive: true });
  const tarball = resolve(outDir, tarballFileName(version));
  const created = (options.clock?.() ?? new Date()).toISOString();
  const tar = spawnSync(
    'tar',
    ['-czf', tarball, '-C', sourceDir, '--sort=name', '--owner=0', '--group=0', '--numeric-owner', `--mtime=${created}`, '--exclude=.git', '--null', '-T', '-'],
    { input: `${options.files.join('\0')}\0`, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
  );
  if (tar.error || tar.status !== 0) throw new SwarmgateError('SWG_ERR_RELEASE_BUILD', `tar failed: ${tar.error?.message ?? tar.stderr.slice(0, 1000)}`);
  const size = statSync(tarball).size;
  const manifest = signManifest(
    { v: 1, name: 'swarmgate', version, created, artifact: { file: tarballFileName(version), size, sha256: await sha256File(tarball) }, minNode: options.minNode, entry },
    options.privateKey,
  );
  const manifestFile = resolve(outDir, manifestFileName(version));
  writeFileSync(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
  return { manifest, tarball, manifestFile };
}
