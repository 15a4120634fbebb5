/**
 * `swarmgate hub release` against a hub it cannot talk to: an HTTPS hub whose certificate this
 * process does not trust says why (the TLS error, and how to trust the hub's CA) instead of
 * "fetch failed"; a closed port names the refused connection; `deploy --help` prints the usage.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { hubReleaseCommand } from '../../cli/hub-release.js';
import { isSwarmgateError } from '../../shared/kit/errors.js';
import { tempDir } from '../support/tmp.js';

const dir = tempDir('swg-cli-hub-release-');
let server: Server;
let url = '';

beforeAll(async () => {
  // node-opcua may leave OPENSSL_CONF set to "undefined" in this process: openssl would fail on it.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'OPENSSL_CONF'));
  const [key, cert] = [join(dir.path, 'key.pem'), join(dir.path, 'cert.pem')];
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'pipe', env });
  server = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_req, res) => res.end('{"items":[]}'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  dir.remove();
});

async function failure(args: string[]): Promise<{ code: string; message: string; hint: string }> {
  try {
    await hubReleaseCommand(args);
  } catch (err) {
    if (isSwarmgateError(err)) return { code: err.code, message: err.message, hint: err.hint };
    throw err;
  }
  throw new Error('the command did not fail');
}

describe('swarmgate hub release', () => {
  it('says why an HTTPS hub with a private CA is unreachable, and how to trust it', async () => {
    const f = await failure(['list', '--api', url, '--token', 't']);
    expect(f.code).toBe('SWG_ERR_API_UNREACHABLE');
    expect(f.message).toBe(`GET ${url}/api/v1/releases: self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT)`);
    expect(f.hint).toContain('NODE_EXTRA_CA_CERTS=/path/ca.pem');
  });

  it('names a refused connection', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const f = await failure(['status', '--api', `https://127.0.0.1:${port}`, '--token', 't']);
    expect(f.code).toBe('SWG_ERR_API_UNREACHABLE');
    expect(f.message).toContain('ECONNREFUSED');
  });

  it('prints the usage for --help after a subcommand', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await hubReleaseCommand(['deploy', '--help'])).toBe(0);
      expect(String(out.mock.calls[0]?.[0])).toContain('swarmgate hub release deploy --version V');
    } finally {
      out.mockRestore();
    }
  });
});
