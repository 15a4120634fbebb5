/**
 * A release is unpacked on gateways: a link in it that points outside it (an absolute target, or
 * one climbing out of the tree) would point into the gateway's own disk, so build refuses it.
 */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildRelease, escapingLink, stagedFiles } from '../../shared/release/artifact.js';
import { createPrivateKey } from 'node:crypto';
import { generateReleaseKeys } from '../../shared/release/signing.js';
import { tempDir } from '../support/tmp.js';

const dir = tempDir('swarmgate-links-');
afterAll(() => dir.remove());

function stage(name: string): string {
  const app = join(dir.path, name);
  mkdirSync(join(app, 'bin'), { recursive: true });
  mkdirSync(join(app, 'lib'), { recursive: true });
  writeFileSync(join(app, 'bin', 'swarmgate.js'), 'console.log(1)\n');
  writeFileSync(join(app, 'lib', 'a.js'), '\n');
  return app;
}

describe('release build and links', () => {
  it('keeps links inside the tree, refuses absolute ones and ones climbing out, naming them', async () => {
    const app = stage('app');
    symlinkSync('../lib/a.js', join(app, 'bin', 'a.js'));
    expect(escapingLink(app, stagedFiles(app))).toBeUndefined();
    symlinkSync('/etc/passwd', join(app, 'lib', 'abs'));
    expect(escapingLink(app, stagedFiles(app))).toEqual({ path: 'lib/abs', target: '/etc/passwd' });
    const privateKey = createPrivateKey(generateReleaseKeys().privatePem);
    await expect(buildRelease({ version: '1.0.0', privateKey, sourceDir: app, files: stagedFiles(app), outDir: join(dir.path, 'out'), minNode: '20.0.0' })).rejects.toThrow(
      /lib\/abs is a link to \/etc\/passwd, outside the release; copy what it points to/,
    );
    const climbing = stage('climbing');
    symlinkSync('../../outside', join(climbing, 'lib', 'up'));
    expect(escapingLink(climbing, stagedFiles(climbing))).toEqual({ path: 'lib/up', target: '../../outside' });
  });
});
