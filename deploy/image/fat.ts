/**
 * Files on a FAT partition inside an image file, through mtools (`-i image@@offset`): no mount,
 * no root, no loop device. Paths are absolute on the partition (`/cmdline.txt`).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SwarmgateError, errorMessage } from '../../shared/kit/errors.js';

/** mtools refuses FAT geometries it finds odd unless told not to check; images made by other tools often are. */
const MTOOLS_ENV = { ...process.env, MTOOLS_SKIP_CHECK: '1' };

export class FatPartition {
  constructor(
    readonly image: string,
    readonly offset: number,
  ) {}

  private get drive(): string {
    return `${this.image}@@${this.offset}`;
  }

  private run(tool: string, args: readonly string[]): Promise<Buffer> {
    return new Promise((done, reject) => {
      execFile(tool, ['-i', this.drive, ...args], { env: MTOOLS_ENV, encoding: 'buffer', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (!err) return done(stdout);
        const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
        reject(
          new SwarmgateError(
            missing ? 'SWG_ERR_IMAGE_TOOL' : 'SWG_ERR_IMAGE_INVALID',
            missing ? `${tool} not found (mtools is not installed)` : `${tool} ${args.join(' ')} on ${this.drive}: ${stderr.toString('utf8').trim() || errorMessage(err)}`,
            missing ? { cause: err } : { cause: err, hint: 'check that the image is a complete, unpacked Raspberry Pi OS image with room left on its boot partition' },
          ),
        );
      });
    });
  }

  /** Names in a folder (files and folders, without . and ..), or undefined when the folder does not exist. */
  async list(dir = '/'): Promise<string[] | undefined> {
    try {
      const out = await this.run('mdir', ['-b', `::${dir}`]);
      return out
        .toString('utf8')
        .split('\n')
        .map((line) => line.trim())
        .filter(Boolean)
        .map((path) => path.replace(/^::/, '').split('/').filter(Boolean).pop() ?? '')
        .filter((name) => name && name !== '.' && name !== '..');
    } catch (err) {
      if (err instanceof SwarmgateError && err.code === 'SWG_ERR_IMAGE_INVALID' && /not found/i.test(err.message)) return undefined;
      throw err;
    }
  }

  async exists(path: string): Promise<boolean> {
    const slash = path.lastIndexOf('/');
    const names = await this.list(path.slice(0, slash) || '/');
    return names?.includes(path.slice(slash + 1)) ?? false;
  }

  /** A file's bytes, unchanged (mtype without -t does no text conversion). */
  read(path: string): Promise<Buffer> {
    return this.run('mtype', [`::${path}`]);
  }

  async mkdir(path: string): Promise<void> {
    if (!(await this.exists(path))) await this.run('mmd', [`::${path}`]);
  }

  /** Writes (or replaces) a file from bytes. */
  async write(path: string, data: string | Uint8Array): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'swarmgate-fat-'));
    try {
      const local = join(dir, 'file');
      writeFileSync(local, data, { mode: 0o600 });
      await this.copyIn(local, path);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Copies a local file onto the partition (replacing one of the same name). */
  async copyIn(localFile: string, path: string): Promise<void> {
    await this.run('mcopy', ['-o', localFile, `::${path}`]);
  }

  async remove(path: string): Promise<void> {
    if (await this.exists(path)) await this.run('mdel', [`::${path}`]);
  }
}
