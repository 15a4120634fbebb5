/**
 * Reading config, profile and rules files: only regular files under the size limit, never a device,
 * pipe or directory, and never blocking on a named pipe.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CONFIG_FILE_LIMIT_BYTES, SourceFile, readConfigFile } from '../../shared/config-file.js';
import { isSwarmgateError } from '../../shared/errors.js';
import { tempDir } from '../support/tmp.js';

const dir = tempDir('swg-config-file-');
afterAll(() => dir.remove());

function refusal(file: string, limit?: number): string {
  try {
    readConfigFile(file, limit === undefined ? {} : { limitBytes: limit });
  } catch (err) {
    if (isSwarmgateError(err)) return err.message;
    throw err;
  }
  throw new Error(`${file} was read`);
}

describe('readConfigFile', () => {
  it('reads a regular file', () => {
    const file = join(dir.path, 'ok.yaml');
    writeFileSync(file, 'a: 1\n');
    expect(readConfigFile(file)).toBe('a: 1\n');
  });

  it('refuses character devices without reading them', () => {
    expect(refusal('/dev/zero')).toBe('/dev/zero: not a regular file (character device)');
    expect(refusal('/dev/urandom')).toBe('/dev/urandom: not a regular file (character device)');
  });

  it('refuses a named pipe without blocking on it', () => {
    const fifo = join(dir.path, 'pipe.yaml');
    execFileSync('mkfifo', [fifo]);
    // No writer ever opens it: a blocking open would hang this test until its timeout.
    expect(refusal(fifo)).toBe(`${fifo}: not a regular file (named pipe)`);
  }, 5000);

  it('refuses a directory', () => {
    expect(refusal(dir.path)).toBe(`${dir.path}: not a regular file (directory)`);
  });

  it('refuses a file over the limit and names both sizes', () => {
    const file = join(dir.path, 'big.yaml');
    writeFileSync(file, Buffer.alloc(Math.round(5.2 * 1024 * 1024), 0x20));
    expect(CONFIG_FILE_LIMIT_BYTES).toBe(1024 * 1024);
    expect(refusal(file)).toBe(`${file}: 5.2 MiB exceeds the 1 MiB limit for config files`);
    const small = join(dir.path, 'small.yaml');
    writeFileSync(small, 'x'.repeat(2049));
    expect(refusal(small, 2048)).toBe(`${small}: 2049 bytes exceeds the 2 KiB limit for config files`);
  });

  it('says when a file does not exist', () => {
    const err = (() => {
      try {
        readConfigFile(join(dir.path, 'missing.yaml'));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(isSwarmgateError(err, 'SWG_ERR_CONFIG_NOT_FOUND')).toBe(true);
    expect((err as Error).message).toContain('missing.yaml: no such file');
  });

  it('SourceFile.read goes through the same check', () => {
    expect(() => SourceFile.read('/dev/zero')).toThrow('/dev/zero: not a regular file (character device)');
  });
});
