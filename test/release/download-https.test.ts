/**
 * Release downloads go over HTTPS: from a hub whose API has its own CA (a self-signed certificate
 * made by openssl), trusted through update.caFile; refused without it; and plain http only to a
 * loopback address.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkDownloadUrl, download } from '../../edge/update/download.js';
import type { Hub } from '../../hub/index.js';
import { isSwarmgateError } from '../../shared/kit/errors.js';
import { sha256File } from '../../shared/release/artifact.js';
import type { BuiltRelease } from '../../shared/release/artifact.js';
import { tempDir } from '../support/tmp.js';
import { buildTestRelease, desiredUpdate, makeKeys, startReleaseHub, storeRelease } from './support/releases.js';

const dir = tempDir('swg-update-https-');
let hub: Hub;
let release: BuiltRelease;
const cert = join(dir.path, 'api-cert.pem');

beforeAll(async () => {
  // node-opcua may leave OPENSSL_CONF set to "undefined" in this process: openssl would fail on it.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'OPENSSL_CONF'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir.path, 'api-key.pem'), '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'pipe', env });
  const keys = makeKeys(join(dir.path, 'keys'));
  release = await buildTestRelease(dir.path, keys, '4.0.0', { padFiles: 4, padBytes: 256 * 1024 });
  hub = await startReleaseHub(dir.path, keys, { tls: { certFile: cert, keyFile: join(dir.path, 'api-key.pem') } });
  await storeRelease(hub, release);
}, 60_000);

afterAll(async () => {
  await hub?.stop();
  dir.remove();
});

describe('release downloads', () => {
  it('come over HTTPS from the hub, trusted through the configured CA, and not without it', async () => {
    const desired = await desiredUpdate(hub, dir.path, 'site-h', 'gw-h', '4.0.0');
    expect(desired.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/api\/v1\/releases\/4\.0\.0\/artifact$/);
    const size = desired.manifest.artifact.size;
    const untrusted = await download({ url: desired.url, token: desired.token, file: join(dir.path, 'a.part'), size }).catch((e: unknown) => e);
    expect(isSwarmgateError(untrusted, 'SWG_ERR_UPDATE_DOWNLOAD') && untrusted.details.check).toBe('connect');
    const file = join(dir.path, 'b.part');
    const got = await download({ url: desired.url, token: desired.token, file, size, caFile: cert });
    expect(got.bytes).toBe(size);
    expect(await sha256File(file)).toBe(release.manifest.artifact.sha256);
    expect(readFileSync(file).equals(readFileSync(release.tarball))).toBe(true);
  }, 120_000);

  it('refuse plain http except to a loopback address', () => {
    for (const url of ['http://10.0.0.5:8443/api/v1/releases/1/artifact', 'http://hub.example/x', 'ftp://127.0.0.1/x', 'not a url']) {
      let err: unknown;
      try {
        checkDownloadUrl(url);
      } catch (e) {
        err = e;
      }
      expect(isSwarmgateError(err, 'SWG_ERR_UPDATE_DOWNLOAD') && err.details.check, url).toBe('url');
    }
    for (const url of ['https://hub.example:8443/x', 'http://127.0.0.1:8080/x', 'http://[::1]:8080/x', 'http://localhost/x']) expect(checkDownloadUrl(url).href).toBeTruthy();
  });
});
