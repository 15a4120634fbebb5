/**
 * Release artifacts: the key pair, the tarball and its signed manifest, as `swarmgate release`
 * makes them; a manifest altered in any signed field, or signed by another key, is refused.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isSwarmgateError } from '../../shared/kit/errors.js';
import { sha256File } from '../../shared/release/artifact.js';
import { canonicalJson, type ReleaseManifest } from '../../shared/release/manifest.js';
import { generateReleaseKeys, parsePublicKey, readPublicKey, verifyManifest } from '../../shared/release/signing.js';
import { runCli, type CliResult } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

const dir = tempDir('swarmgate-release-');
afterAll(() => dir.remove());

const cli = (args: string[]): CliResult => runCli(args, { timeoutMs: 60_000 });

function refusedWith(fn: () => unknown, code: string, check?: string): void {
  try {
    fn();
  } catch (err) {
    expect(isSwarmgateError(err) && err.code).toBe(code);
    if (check && isSwarmgateError(err)) expect(err.details.check).toBe(check);
    return;
  }
  throw new Error(`expected ${code}`);
}

describe('swarmgate release', () => {
  const keys = join(dir.path, 'keys');
  const app = join(dir.path, 'app');
  const out = join(dir.path, 'out');

  it('keygen writes an Ed25519 pair, the private key 0600, and refuses to overwrite it', () => {
    const r = cli(['release', 'keygen', '--out', keys]);
    expect(r.status, r.stderr).toBe(0);
    expect(statSync(join(keys, 'release.key')).mode & 0o777).toBe(0o600);
    expect(readPublicKey(join(keys, 'release.pub')).asymmetricKeyType).toBe('ed25519');
    const again = cli(['release', 'keygen', '--out', keys]);
    expect(again.status).toBe(2);
    expect(again.stderr).toContain('SWG_ERR_CLI_USAGE');
  });

  it('build packs a staged app and signs a manifest that verifies; the tarball holds the tree', async () => {
    mkdirSync(join(app, 'bin'), { recursive: true });
    writeFileSync(join(app, 'bin', 'swarmgate.js'), 'console.log("v1")\n');
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'swarmgate', engines: { node: '>=20.19' } }));
    const r = cli(['release', 'build', '--version', '1.2.3', '--key', join(keys, 'release.key'), '--from', app, '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    const manifestText = readFileSync(join(out, 'swarmgate-1.2.3.manifest.json'), 'utf8');
    const manifest = verifyManifest(manifestText, readPublicKey(join(keys, 'release.pub')));
    expect(manifest).toMatchObject({ version: '1.2.3', minNode: '20.19.0', entry: 'bin/swarmgate.js', artifact: { file: 'swarmgate-1.2.3.tar.gz' } });
    const tarball = join(out, 'swarmgate-1.2.3.tar.gz');
    expect(manifest.artifact.size).toBe(statSync(tarball).size);
    expect(manifest.artifact.sha256).toBe(await sha256File(tarball));
    const list = spawnSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
    expect(list).toEqual(['bin/', 'bin/swarmgate.js', 'package.json']);
    const ok = cli(['release', 'verify', '--manifest', join(out, 'swarmgate-1.2.3.manifest.json'), '--pub', join(keys, 'release.pub'), '--artifact', tarball]);
    expect(ok.status, ok.stderr).toBe(0);
    // Tampered tarball: verify names the digest.
    const bad = join(dir.path, 'bad.tar.gz');
    const bytes = readFileSync(tarball);
    bytes[bytes.length - 5] = (bytes[bytes.length - 5] ?? 0) ^ 0xff;
    writeFileSync(bad, bytes);
    const refused = cli(['release', 'verify', '--manifest', join(out, 'swarmgate-1.2.3.manifest.json'), '--pub', join(keys, 'release.pub'), '--artifact', bad]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('SWG_ERR_RELEASE_DIGEST');
  });

  it('refuses a manifest changed in any signed field, signed by another key, or not matching the schema', () => {
    const manifest = JSON.parse(readFileSync(join(out, 'swarmgate-1.2.3.manifest.json'), 'utf8')) as ReleaseManifest;
    const pub = readPublicKey(join(keys, 'release.pub'));
    for (const change of [
      (m: ReleaseManifest) => (m.version = '1.2.4'),
      (m: ReleaseManifest) => (m.artifact.sha256 = 'f'.repeat(64)),
      (m: ReleaseManifest) => (m.artifact.size += 1),
      (m: ReleaseManifest) => (m.minNode = '18.0.0'),
      (m: ReleaseManifest) => (m.entry = 'evil.js'),
    ]) {
      const m = structuredClone(manifest);
      change(m);
      refusedWith(() => verifyManifest(m, pub), 'SWG_ERR_RELEASE_SIGNATURE', 'signature');
    }
    const other = parsePublicKey(generateReleaseKeys().publicPem, 'other.pub');
    refusedWith(() => verifyManifest(manifest, other), 'SWG_ERR_RELEASE_SIGNATURE', 'signature');
    refusedWith(() => verifyManifest({ ...manifest, extra: 1 }, pub), 'SWG_ERR_RELEASE_INVALID', 'schema');
    refusedWith(() => verifyManifest('not json', pub), 'SWG_ERR_RELEASE_INVALID', 'schema');
  });

  it('signs canonical JSON: key order does not matter', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: 'x' } })).toBe('{"a":{"c":"x","d":[1,{"y":2,"z":1}]},"b":1}');
  });
});
