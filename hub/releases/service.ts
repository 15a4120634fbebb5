/**
 * The releases the hub holds. A release is created from its manifest, which must verify with the
 * fleet public key the hub holds (releases.publicKeyFile); its artifact is then uploaded and
 * checked against the manifest's size and sha256 before the release is ready to deploy. Artifacts
 * are files in releases.dir, served to gateways with Range support (api/plugins/releases.ts).
 */
import { createHash, type KeyObject } from 'node:crypto';
import { createWriteStream, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { SwarmgateError, errorMessage } from '../../shared/kit/errors.js';
import { folderCreateProblem } from '../../shared/kit/writable-folder.js';
import { statePathHint } from '../config-paths.js';
import type { ReleaseManifest } from '../../shared/release/manifest.js';
import { verifyManifest } from '../../shared/release/signing.js';
import { num, optNum, str, type Sql, type SqlRow } from '../db/sql.js';

export type ReleaseState = 'uploading' | 'ready';

export interface ReleaseView {
  readonly version: string;
  readonly state: ReleaseState;
  readonly size: number;
  readonly sha256: string;
  readonly createdAt: number;
  readonly uploadedAt?: number;
  readonly manifest: ReleaseManifest;
}

export interface ReleaseServiceOptions {
  readonly sql: Sql;
  /** Where artifacts are kept; without it uploads and downloads answer 503. */
  readonly dir?: string;
  /** The fleet public key; without it no release can be created. */
  readonly publicKey?: KeyObject;
  readonly clock?: () => number;
}

/** How much of an upload larger than its manifest is read and dropped before the connection is cut. */
const DISCARD_BYTES = 64 * 1024 * 1024;
const DIGEST_HINT = 'the release stays waiting for its artifact: upload the right artifact again, or build the release again and upload both (its new manifest replaces this one)';

export const sha256Hex = (text: string): string => createHash('sha256').update(text).digest('hex');

function view(row: SqlRow): ReleaseView {
  const uploadedAt = optNum(row, 'uploaded_at');
  return {
    version: str(row, 'version'),
    state: str(row, 'state') as ReleaseState,
    size: num(row, 'size'),
    sha256: str(row, 'sha256'),
    createdAt: num(row, 'created_at'),
    ...(uploadedAt === undefined ? {} : { uploadedAt }),
    manifest: JSON.parse(str(row, 'manifest')) as ReleaseManifest,
  };
}

export class ReleaseService {
  private readonly clock: () => number;

  constructor(private readonly options: ReleaseServiceOptions) {
    this.clock = options.clock ?? Date.now;
  }

  /**
   * Why artifacts cannot be stored in releases.dir now (undefined: they can, or there is no dir):
   * the folder is made when missing; one this process cannot make or write (/etc under the shipped
   * units, read-only to the hub) is named with the reason. Checked when the hub starts and before
   * every new release and upload, so fixing the folder needs no restart.
   */
  storageProblem(): SwarmgateError | undefined {
    const dir = this.options.dir;
    if (!dir) return undefined;
    let made: unknown;
    try {
      mkdirSync(dir, { recursive: true });
    } catch (err) {
      made = err;
    }
    const problem = folderCreateProblem(dir);
    if (!problem && made === undefined) return undefined;
    const why = problem ? `${problem.folder} ${problem.what} (${problem.errno})` : `it cannot be made: ${errorMessage(made)}`;
    const errno = problem?.errno ?? (made as NodeJS.ErrnoException).code;
    return new SwarmgateError('SWG_ERR_RELEASE_STORAGE', `this hub cannot store release artifacts in releases.dir ${dir}: ${why}`, {
      ...(made === undefined ? {} : { cause: made }),
      details: { dir, ...(problem ? { folder: problem.folder } : {}), ...(errno ? { errno } : {}) },
      hint: statePathHint('releases.dir', dir),
    });
  }

  private assertStorable(): void {
    const problem = this.storageProblem();
    if (problem) throw problem;
  }

  async list(): Promise<ReleaseView[]> {
    return (await this.options.sql.all('SELECT * FROM releases ORDER BY created_at DESC')).map(view);
  }

  async get(version: string): Promise<ReleaseView> {
    const row = (await this.options.sql.all('SELECT * FROM releases WHERE version = ?', [version]))[0];
    if (!row) throw new SwarmgateError('SWG_ERR_RELEASE_UNKNOWN', `no release "${version}" on this hub`, { details: { version } });
    return view(row);
  }

  /**
   * Verifies the manifest with the fleet key and records the release (state uploading). While the
   * release has no verified artifact yet, a manifest of the same version replaces the one recorded
   * (a rebuilt release after a refused upload); once its artifact is verified, the version is taken.
   */
  async create(manifestInput: unknown): Promise<ReleaseView> {
    const key = this.options.publicKey;
    if (!key) throw new SwarmgateError('SWG_ERR_RELEASE_KEY', 'this hub holds no fleet public key: set releases.publicKeyFile in the hub config');
    const manifest = verifyManifest(manifestInput, key, 'uploaded manifest');
    this.assertStorable();
    const existing = (await this.options.sql.all('SELECT * FROM releases WHERE version = ?', [manifest.version]))[0];
    if (existing) {
      const v = view(existing);
      if (v.state !== 'uploading') throw new SwarmgateError('SWG_ERR_RELEASE_EXISTS', `release ${manifest.version} exists already (${v.state})`, { details: { version: manifest.version } });
      // No verified artifact yet: the same manifest is a retried upload, another one replaces it.
      if (v.sha256 === manifest.artifact.sha256 && JSON.stringify(v.manifest) === JSON.stringify(manifest)) return v;
      await this.options.sql.all('UPDATE releases SET manifest = ?, size = ?, sha256 = ?, created_at = ? WHERE version = ? AND state = ?', [
        JSON.stringify(manifest),
        manifest.artifact.size,
        manifest.artifact.sha256,
        this.clock(),
        manifest.version,
        'uploading',
      ]);
      return this.get(manifest.version);
    }
    await this.options.sql.all('INSERT INTO releases (version, manifest, size, sha256, state, created_at, uploaded_at) VALUES (?, ?, ?, ?, ?, ?, NULL)', [
      manifest.version,
      JSON.stringify(manifest),
      manifest.artifact.size,
      manifest.artifact.sha256,
      'uploading',
      this.clock(),
    ]);
    return this.get(manifest.version);
  }

  /** Streams the artifact to disk, hashing it; kept only when it is the one the manifest names. */
  async upload(version: string, body: Readable): Promise<ReleaseView> {
    const release = await this.get(version);
    if (release.state === 'ready') throw new SwarmgateError('SWG_ERR_RELEASE_EXISTS', `the artifact of ${version} is uploaded already`);
    this.assertStorable();
    const final = this.artifactPath(version);
    const tmp = `${final}.upload-${process.pid}-${Date.now()}`;
    const hash = createHash('sha256');
    let size = 0;
    try {
      await new Promise<void>((resolve, reject) => {
        const out = createWriteStream(tmp);
        const tooLarge = (): SwarmgateError => new SwarmgateError('SWG_ERR_RELEASE_DIGEST', `the uploaded artifact of ${version} is larger than the signed manifest's ${release.size} bytes`, { hint: DIGEST_HINT });
        body.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > release.size) {
            // Read (and drop) a little more so the client gets the answer rather than a closed socket.
            if (!out.destroyed) {
              out.destroy();
              body.resume();
            }
            if (size > release.size + DISCARD_BYTES) {
              body.destroy();
              reject(tooLarge());
            }
            return;
          }
          hash.update(chunk);
          if (!out.write(chunk)) {
            body.pause();
            out.once('drain', () => body.resume());
          }
        });
        body.on('end', () => (size > release.size ? reject(tooLarge()) : out.end(() => resolve())));
        body.on('error', reject);
        out.on('error', reject);
      });
      const sha = hash.digest('hex');
      if (size !== release.size || sha !== release.sha256) {
        throw new SwarmgateError('SWG_ERR_RELEASE_DIGEST', `the uploaded artifact of ${version} is ${size} bytes sha256 ${sha}, the signed manifest says ${release.size} bytes sha256 ${release.sha256}`, { hint: DIGEST_HINT });
      }
      renameSync(tmp, final);
    } catch (err) {
      rmSync(tmp, { force: true });
      if (err instanceof SwarmgateError) throw err;
      throw new SwarmgateError('SWG_ERR_INTERNAL', `storing the artifact of ${version} failed: ${errorMessage(err)}`, { cause: err });
    }
    // Only the manifest the artifact was checked against, and only once: a manifest replaced while
    // this upload ran stays uploading (the file here is then overwritten by its own upload).
    const marked = await this.options.sql.all('UPDATE releases SET state = ?, uploaded_at = ? WHERE version = ? AND sha256 = ? AND state = ? RETURNING version', ['ready', this.clock(), version, release.sha256, 'uploading']);
    if (marked.length === 0) throw new SwarmgateError('SWG_ERR_RELEASE_DIGEST', `the manifest of ${version} was replaced during this upload; upload the artifact again`);
    return this.get(version);
  }

  artifactPath(version: string): string {
    const dir = this.options.dir;
    if (!dir) throw new SwarmgateError('SWG_ERR_API_UNAVAILABLE', 'this hub keeps no release artifacts: set releases.dir in the hub config');
    return join(dir, `${version}.tar.gz`);
  }

  /**
   * The artifact file of a ready release, as this process sees it. With several hub processes the
   * upload went to one of them: a missing file means releases.dir is not shared between them.
   */
  readyArtifact(version: string): { readonly file: string; readonly size: number } {
    const file = this.artifactPath(version);
    const stat = statSync(file, { throwIfNoEntry: false });
    if (!stat?.isFile()) {
      throw new SwarmgateError('SWG_ERR_RELEASE_UNKNOWN', `the artifact of release ${version} is missing on this hub: ${file} does not exist; releases.dir must be shared storage for all hub processes (the upload went to a hub process that keeps another releases.dir)`, {
        details: { version, file },
        hint: 'mount one releases.dir (NFS or a shared volume, same path) on every hub process, or copy the file there from the hub process that took the upload',
      });
    }
    return { file, size: stat.size };
  }

  /** A gateway's download token for this release: one of a deployment of it sent to that gateway. */
  async mayDownload(version: string, token: string): Promise<boolean> {
    const rows = await this.options.sql.all('SELECT d.version FROM deployment_gateways g JOIN deployments d ON d.id = g.deployment WHERE g.token_hash = ?', [sha256Hex(token)]);
    return rows.some((r) => str(r, 'version') === version);
  }
}
