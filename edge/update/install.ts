/**
 * Installing one release side by side, in an order where a kill at any instant leaves `current`
 * pointing at a complete release:
 *
 *   1. the manifest is verified against the pinned fleet key (nothing is written before this);
 *   2. the artifact is downloaded into staging/ (resuming an earlier partial download);
 *   3. its size and sha256 are checked against the manifest (a mismatch deletes it);
 *   4. it is unpacked into releases/<version>.partial-<pid>, flushed, and renamed to releases/<version>;
 *   5. the pending update is recorded (update-state.json, phase switching), `current` is switched
 *      (symlink + rename), and the pending update moves to phase checking.
 *
 * The caller restarts the service; the new release must then prove itself (updater.ts).
 */
import { spawnSync } from 'node:child_process';
import type { KeyObject } from 'node:crypto';
import { readdirSync, renameSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { SwarmgateError, errorMessage } from '../../shared/kit/errors.js';
import { escapingLink, sha256File } from '../../shared/release/artifact.js';
import { versionAtLeast, type ReleaseManifest } from '../../shared/release/manifest.js';
import { compareVersions } from '../../shared/release/version.js';
import { verifyManifest } from '../../shared/release/signing.js';
import { download } from './download.js';
import { fsyncDir, syncFileSystem, type InstallLayout } from './layout.js';
import { readUpdateState, writeUpdateState } from './state.js';
import { writeStartGuard } from './guard.js';

/** recorded: the pending update is in the state file and `current` is about to switch. */
export type InstallStep = 'verified' | 'downloading' | 'downloaded' | 'unpacking' | 'unpacked' | 'recorded' | 'switched';

export interface InstallRequest {
  readonly deployment: string;
  /** The manifest as received (verified here first). */
  readonly manifest: unknown;
  readonly url: string;
  readonly token: string;
  /** The deployment asks for an older release than the running one (going back on purpose). */
  readonly downgrade?: boolean;
}

export interface InstallOptions {
  readonly layout: InstallLayout;
  readonly publicKey: KeyObject;
  readonly caFile?: string;
  readonly healthDeadlineMs: number;
  /** Starts without a verdict before the start guard rolls back (update.maxBoots). */
  readonly maxBoots?: number;
  readonly clock?: () => number;
  /** Each step as it begins or ends (progress reports; tests kill the process at them). */
  readonly onStep?: (step: InstallStep) => void;
  readonly onProgress?: (bytes: number) => void;
  /** The Node.js version to check minNode against (default this process's). */
  readonly nodeVersion?: string;
}

export interface Installed {
  readonly manifest: ReleaseManifest;
  readonly previous: string;
  readonly resumedFrom: number;
  readonly downloadMs: number;
  readonly installMs: number;
}

/** Verifies the manifest against the pinned key and this machine; nothing is written. */
export function checkRelease(manifestInput: unknown, publicKey: KeyObject, nodeVersion = process.versions.node): ReleaseManifest {
  const manifest = verifyManifest(manifestInput, publicKey, 'release manifest');
  if (!versionAtLeast(nodeVersion, manifest.minNode)) {
    throw new SwarmgateError('SWG_ERR_UPDATE_NODE', `release ${manifest.version} needs Node.js ${manifest.minNode}, this gateway runs ${nodeVersion}`, { details: { check: 'node' } });
  }
  return manifest;
}

export async function installRelease(request: InstallRequest, options: InstallOptions): Promise<Installed> {
  const { layout } = options;
  const clock = options.clock ?? Date.now;
  const step = options.onStep ?? (() => undefined);
  // 1. Nothing is written before the manifest proves to be the fleet's.
  const manifest = checkRelease(request.manifest, options.publicKey, options.nodeVersion);
  step('verified');
  const previous = layout.currentVersion();
  if (previous === undefined) {
    throw new SwarmgateError('SWG_ERR_UPDATE_INSTALL', `${layout.currentLink} is not a link to releases/<version>: this install is not in the releases layout, so there is nothing to roll back to`, { details: { check: 'layout' } });
  }
  if (previous === manifest.version) throw new SwarmgateError('SWG_ERR_UPDATE_INSTALL', `release ${manifest.version} is running already`, { details: { check: 'running' } });
  // An older signed release is still signed: going back needs the deployment to say so, or an old
  // desired update replayed (or a version mistyped) would take the gateway back to it.
  if (compareVersions(manifest.version, previous) < 0 && request.downgrade !== true) {
    throw new SwarmgateError('SWG_ERR_UPDATE_INSTALL', `release ${manifest.version} is older than the running ${previous}; a deployment that goes back must say so (swarmgate hub release deploy --allow-downgrade)`, { details: { check: 'downgrade' } });
  }
  const pending = readUpdateState(layout.stateFile).pending;
  if (pending) throw new SwarmgateError('SWG_ERR_UPDATE_INSTALL', `release ${pending.version} is still waiting for its health verdict`, { details: { check: 'pending' } });

  const staged = join(layout.stagingDir, `${manifest.artifact.sha256}.tar.gz.part`);
  try {
    layout.ensureDirs();
    // A partial download of this very artifact is kept (it resumes); anything else left over goes.
    layout.clean(basename(staged));
  } catch (err) {
    throw new SwarmgateError('SWG_ERR_UPDATE_INSTALL', `cannot prepare ${layout.root}: ${errorMessage(err)}`, { cause: err });
  }
  await ensureFreeSpace(layout.root, manifest.artifact.size);

  // 2.-3. Download (resumable), then the bytes must be the ones the signature covers.
  const started = clock();
  step('downloading');
  const got = await download({ url: request.url, token: request.token, file: staged, size: manifest.artifact.size, ...(options.caFile ? { caFile: options.caFile } : {}), ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
  const size = statSync(staged).size;
  const sha = await sha256File(staged);
  if (size !== manifest.artifact.size || sha !== manifest.artifact.sha256) {
    rmSync(staged, { force: true });
    throw new SwarmgateError('SWG_ERR_RELEASE_DIGEST', `the download of ${manifest.version} is not the signed artifact: ${size} bytes sha256 ${sha.slice(0, 16)}…, the manifest says ${manifest.artifact.size} bytes sha256 ${manifest.artifact.sha256.slice(0, 16)}…`, {
      details: { check: size !== manifest.artifact.size ? 'size' : 'sha256' },
    });
  }
  const downloadMs = clock() - started;
  step('downloaded');

  // 4. Unpack beside the running release; only a finished folder gets the release's name.
  const installStarted = clock();
  const partial = layout.partialDir(manifest.version);
  const target = layout.releaseDir(manifest.version);
  try {
    step('unpacking');
    rmSync(partial, { recursive: true, force: true });
    // A folder of this version that is not current (an earlier, rolled-back copy) is replaced.
    rmSync(target, { recursive: true, force: true });
    mkdirSync(partial, { recursive: true });
    const tar = spawnSync('tar', ['-xzf', staged, '-C', partial, '--no-same-owner', '--no-overwrite-dir'], { encoding: 'utf8' });
    if (tar.error || tar.status !== 0) throw new Error(`tar: ${tar.error?.message ?? tar.stderr.slice(0, 500)}`);
    if (!statSync(join(partial, manifest.entry), { throwIfNoEntry: false })?.isFile()) throw new Error(`the release has no ${manifest.entry}`);
    // Signed, so built by us; still, a link out of the release would reach into this gateway's disk.
    const escaping = escapingLink(partial, readdirSync(partial));
    if (escaping) throw new Error(`${escaping.path} links to ${escaping.target}, outside the release`);
    writeFileSync(join(partial, '.swarmgate-release.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    syncFileSystem(partial);
    renameSync(partial, target);
    fsyncDir(layout.releasesDir);
    step('unpacked');
  } catch (err) {
    rmSync(partial, { recursive: true, force: true });
    throw new SwarmgateError('SWG_ERR_UPDATE_INSTALL', `cannot unpack release ${manifest.version}: ${errorMessage(err)}`, { cause: err, details: { check: 'unpack' } });
  }

  // 5. Pending first, then the switch: a kill in between leaves `current` on the old release and a
  // pending update the next start recognises as interrupted.
  const now = clock();
  const state = readUpdateState(layout.stateFile);
  writeUpdateState(layout.stateFile, { ...state, pending: { deployment: request.deployment, version: manifest.version, previous, phase: 'switching', switchedAt: now, deadline: now + options.healthDeadlineMs, boots: 0, ...(options.maxBoots ? { maxBoots: options.maxBoots } : {}) } });
  // The known-good release writes the start guard the service runs before each start (guard.ts).
  writeStartGuard(layout.root);
  step('recorded');
  layout.switchCurrent(manifest.version);
  const after = readUpdateState(layout.stateFile);
  if (after.pending) writeUpdateState(layout.stateFile, { ...after, pending: { ...after.pending, phase: 'checking' } });
  rmSync(staged, { force: true });
  step('switched');
  return { manifest, previous, resumedFrom: got.resumedFrom, downloadMs, installMs: clock() - installStarted };
}

/** Room for the download and the unpacked tree (taken as 4x the compressed size, plus 32 MiB). */
async function ensureFreeSpace(root: string, artifactSize: number): Promise<void> {
  let free: number;
  try {
    const s = await statfs(root);
    free = s.bavail * s.bsize;
  } catch {
    return; // not measurable here: the writes themselves will say so
  }
  const needed = 4 * artifactSize + 32 * 1024 * 1024;
  if (free < needed) {
    const mib = (n: number): string => `${Math.round(n / 1024 / 1024)} MiB`;
    throw new SwarmgateError('SWG_ERR_UPDATE_INSTALL', `${root} has ${mib(free)} free; the release needs about ${mib(needed)} (download and unpacked tree)`, { details: { check: 'disk', free, needed } });
  }
}
