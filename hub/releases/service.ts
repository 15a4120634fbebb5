/**
 * The releases the hub holds. A release is created from its manifest, which must verify with the
 * fleet public key the hub holds (releases.publicKeyFile); its artifact is then uploaded and
 * checked against the manifest's size and sha256 before the release is ready to deploy. Artifacts
 * are files in releases.dir, served to gateways with Range support (api/plugins/releases.ts).
 */
import { createHash, type KeyObject } from 'node:crypto';
import { createWriteStream, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { SwarmgateError, errorMessage } from '../../shared/kit/errors.js';
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
    if (options.dir) mkdirSync(options.dir, { recursive: true });
  }

  async list(): Promise<ReleaseView[]> {
    return (await this.options.sql.all('SELECT * FROM releases ORDER BY created_at DESC')).map(view);
  }

  async get(version: string): Promise<ReleaseView> {
    const row = (await this.options.sql.all('SELECT * FROM releases WHERE version = ?', [version]))[0];
    if (!row) throw new SwarmgateError('SWG_ERR_RELEASE_UNKNOWN', `no release "${version}" on this hub`, { details: { version } });
    return view(row);
  }

  /** Verifies the manifest with the fleet key and records the release (state uploading). */
  async create(manifestInput: unknown): Promise<ReleaseView> {
    const key = this.options.publicKey;
    if (!key) throw new SwarmgateError('SWG_ERR_RELEASE_KEY', 'this hub holds no fleet public key: set releases.publicKeyFile in the hub config');
    const manifest = verifyManifest(manifestInput, key, 'uploaded manifest');
    const existing = (await this.options.sql.all('SELECT * FROM releases WHERE version = ?', [manifest.version]))[0];
    if (existing) {
      const v = view(existing);
      // Creating it again with the same artifact is a retried upload; anything else is a clash.
      if (v.sha256 === manifest.artifact.sha256 && v.state === 'uploading') return v;
      throw new SwarmgateError('SWG_ERR_RELEASE_EXISTS', `release ${manifest.version} exists already (${v.state})`, { details: { version: manifest.version } });
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
    const final = this.artifactPath(version);
    const tmp = `${final}.upload-${process.pid}-${Date.now()}`;
    const hash = createHash('sha256');
    let size = 0;
    try {
      await new Promise<void>((resolve, reject) => {
        const out = createWriteStream(tmp);
        body.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > release.size) {
            body.destroy();
            out.destroy();
            reject(new SwarmgateError('SWG_ERR_RELEASE_DIGEST', `the upload is larger than the manifest's ${release.size} bytes`));
            return;
          }
          hash.update(chunk);
          if (!out.write(chunk)) {
            body.pause();
            out.once('drain', () => body.resume());
          }
        });
        body.on('end', () => out.end(() => resolve()));
        body.on('error', reject);
        out.on('error', reject);
      });
      const sha = hash.digest('hex');
      if (size !== release.size || sha !== release.sha256) {
        throw new SwarmgateError('SWG_ERR_RELEASE_DIGEST', `the uploaded artifact of ${version} is ${size} bytes sha256 ${sha}, the signed manifest says ${release.size} bytes sha256 ${release.sha256}`);
      }
      renameSync(tmp, final);
    } catch (err) {
      rmSync(tmp, { force: true });
      if (err instanceof SwarmgateError) throw err;
      throw new SwarmgateError('SWG_ERR_INTERNAL', `storing the artifact of ${version} failed: ${errorMessage(err)}`, { cause: err });
    }
    await this.options.sql.all('UPDATE releases SET state = ?, uploaded_at = ? WHERE version = ?', ['ready', this.clock(), version]);
    return this.get(version);
  }

  artifactPath(version: string): string {
    const dir = this.options.dir;
    if (!dir) throw new SwarmgateError('SWG_ERR_API_UNAVAILABLE', 'this hub keeps no release artifacts: set releases.dir in the hub config');
    return join(dir, `${version}.tar.gz`);
  }

  /** A gateway's download token for this release: one of a deployment of it sent to that gateway. */
  async mayDownload(version: string, token: string): Promise<boolean> {
    const rows = await this.options.sql.all('SELECT d.version FROM deployment_gateways g JOIN deployments d ON d.id = g.deployment WHERE g.token_hash = ?', [sha256Hex(token)]);
    return rows.some((r) => str(r, 'version') === version);
  }
}
