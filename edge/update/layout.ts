/**
 * The install layout the updater owns, under update.installRoot:
 *
 *   releases/<version>/           a complete release (only ever made by renaming a finished .partial)
 *   releases/<version>.partial-<pid>/  being unpacked (one per process: an unpacker orphaned by a
 *                                 kill writes only into its own); removed at the next install
 *   current -> releases/<version> what the service runs; switched by symlink + rename (atomic)
 *   staging/                      downloads (resumable), verified before anything is unpacked
 *   update-state.json             the pending update and the last outcome (state.ts)
 *
 * Every step that matters on a power cut is a rename, followed by an fsync of the folder.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { SwarmgateError, errorMessage } from '../../shared/kit/errors.js';
import { RELEASE_VERSION_PATTERN } from '../../shared/release/manifest.js';

const VERSION = new RegExp(RELEASE_VERSION_PATTERN);

export class InstallLayout {
  constructor(readonly root: string) {}

  get releasesDir(): string {
    return join(this.root, 'releases');
  }
  get stagingDir(): string {
    return join(this.root, 'staging');
  }
  get currentLink(): string {
    return join(this.root, 'current');
  }
  get stateFile(): string {
    return join(this.root, 'update-state.json');
  }
  releaseDir(version: string): string {
    if (!VERSION.test(version)) throw new SwarmgateError('SWG_ERR_UPDATE_INSTALL', `"${version}" is not a release version`);
    return join(this.releasesDir, version);
  }
  partialDir(version: string): string {
    return `${this.releaseDir(version)}.partial-${process.pid}`;
  }

  /** The version `current` points to; undefined when there is no link (not the releases layout). */
  currentVersion(): string | undefined {
    try {
      const target = readlinkSync(this.currentLink);
      const version = basename(target);
      return VERSION.test(version) ? version : undefined;
    } catch {
      return undefined;
    }
  }

  isComplete(version: string): boolean {
    try {
      return lstatSync(this.releaseDir(version)).isDirectory();
    } catch {
      return false;
    }
  }

  /** Points `current` at releases/<version>: a new link under a temporary name renamed over the old one. */
  switchCurrent(version: string): void {
    if (!this.isComplete(version)) throw new SwarmgateError('SWG_ERR_UPDATE_INSTALL', `releases/${version} is not a complete release; current stays`);
    const tmp = join(this.root, `.current-${process.pid}`);
    try {
      rmSync(tmp, { force: true });
      symlinkSync(join('releases', version), tmp);
      renameSync(tmp, this.currentLink);
      fsyncDir(this.root);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw new SwarmgateError('SWG_ERR_UPDATE_INSTALL', `cannot switch current to ${version}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** Leftovers of an interrupted install: partial folders, stray temporary links, downloads of other artifacts. */
  clean(keepStaged?: string): void {
    for (const name of safeList(this.stagingDir)) if (name !== keepStaged) rmSync(join(this.stagingDir, name), { force: true });
    for (const name of safeList(this.releasesDir)) if (name.includes('.partial')) rmSync(join(this.releasesDir, name), { recursive: true, force: true });
    for (const name of safeList(this.root)) if (name.startsWith('.current-')) rmSync(join(this.root, name), { force: true });
  }

  /** Removes old release folders, keeping `keep` newest by name order of use: current, previous and the rest by mtime. */
  prune(keep: number, protect: readonly (string | undefined)[]): string[] {
    const kept = new Set(protect.filter((v): v is string => v !== undefined));
    const others = safeList(this.releasesDir)
      .filter((n) => !n.includes('.partial') && !kept.has(n) && VERSION.test(n))
      .map((n) => ({ n, t: lstatSync(join(this.releasesDir, n)).mtimeMs }))
      .sort((a, b) => b.t - a.t);
    const removed: string[] = [];
    for (const { n } of others.slice(Math.max(0, keep - kept.size))) {
      rmSync(join(this.releasesDir, n), { recursive: true, force: true });
      removed.push(n);
    }
    return removed;
  }

  ensureDirs(): void {
    mkdirSync(this.releasesDir, { recursive: true });
    mkdirSync(this.stagingDir, { recursive: true });
  }
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Flushes the file system holding `dir` (syncfs via `sync -f`; a full sync where that is missing). */
export function syncFileSystem(dir: string): void {
  const r = spawnSync('sync', ['-f', dir]);
  if (r.error || r.status !== 0) spawnSync('sync');
}

/** Removes a file when present. */
export function removeFile(path: string): void {
  if (existsSync(path)) unlinkSync(path);
}
