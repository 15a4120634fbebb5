/**
 * Files a hub config names, as an operator gets them wrong: a missing TLS key, certificate and key
 * swapped, a key of another certificate (each problem names the field and the config file, not a
 * bare ENOENT or "PEM routines::no start line"), and a credentials file that does not exist (a
 * typo looks like a first start: the warning says the file does not exist, naming the path).
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedBroker } from '../../hub/broker/embedded.js';
import { loadHubConfig } from '../../hub/config.js';
import { isSwarmgateError } from '../../shared/kit/errors.js';
import { capturedLog } from '../support/captured-log.js';
import { tempDir } from '../support/tmp.js';

const dir = tempDir('swg-hub-config-files-');
afterAll(() => dir.remove());

function certAndKey(name: string): void {
  // node-opcua may leave OPENSSL_CONF set to "undefined" in this process: openssl would fail on it.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'OPENSSL_CONF'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir.path, `${name}-key.pem`), '-out', join(dir.path, `${name}-cert.pem`), '-days', '1', '-subj', '/CN=localhost'], { stdio: 'pipe', env });
}

function load(tls: string, where: 'api' | 'broker' = 'api'): unknown {
  const file = join(dir.path, 'hub.yaml');
  const broker = where === 'broker' ? `broker: { embedded: { port: 0, credentialsFile: users.yaml, tls: ${tls} } }\n` : 'broker: { embedded: { port: 0, credentialsFile: users.yaml } }\n';
  writeFileSync(file, `${broker}store: { kind: sqlite, path: hub.db }\n${where === 'api' ? `api: { port: 0, tls: ${tls} }\n` : ''}`);
  try {
    loadHubConfig(file);
    return undefined;
  } catch (err) {
    return err;
  }
}

describe('hub config: TLS files', () => {
  beforeAll(() => {
    certAndKey('a');
    certAndKey('b');
  });
  const file = () => join(dir.path, 'hub.yaml');

  it('loads a certificate and its key', () => {
    expect(load('{ certFile: a-cert.pem, keyFile: a-key.pem }')).toBeUndefined();
  });

  it('a missing key file names api.tls.keyFile, the file and the config file', () => {
    const err = load('{ certFile: a-cert.pem, keyFile: missing-key.pem }');
    expect(isSwarmgateError(err, 'SWG_ERR_CONFIG_INVALID'), String(err)).toBe(true);
    const message = (err as Error).message;
    expect(message).toContain(`problem(s) in ${file()}`);
    expect(message).toMatch(/api\.tls\.keyFile: cannot read .*missing-key\.pem: no such file \(keyFile: the PEM private key\)/);
  });

  it('swapped certificate and key say so, naming both fields', () => {
    const message = (load('{ certFile: a-key.pem, keyFile: a-cert.pem }') as Error).message;
    expect(message).toMatch(/api\.tls\.certFile: .*a-key\.pem holds a private key and keyFile .*a-cert\.pem a certificate: certFile and keyFile are swapped/);
    expect(message).not.toContain('no start line');
  });

  it('a key of another certificate, and a file that holds neither', () => {
    expect((load('{ certFile: a-cert.pem, keyFile: b-key.pem }') as Error).message).toMatch(/api\.tls\.keyFile: .*b-key\.pem is not the private key of the certificate in certFile .*a-cert\.pem/);
    writeFileSync(join(dir.path, 'notes.txt'), 'hello\n');
    expect((load('{ certFile: notes.txt, keyFile: a-key.pem }') as Error).message).toMatch(/api\.tls\.certFile: .*notes\.txt holds no PEM block, not a PEM certificate/);
  });

  it('the embedded broker TLS listener: broker.embedded.tls.certFile', () => {
    expect((load('{ certFile: missing-cert.pem, keyFile: a-key.pem }', 'broker') as Error).message).toMatch(/broker\.embedded\.tls\.certFile: cannot read .*missing-cert\.pem: no such file/);
  });
});

describe('hub: a credentials file that does not exist', () => {
  it('warns that the configured file does not exist, naming the path and the field', async () => {
    const { log, lines } = capturedLog<{ msg: string; file?: string }>('warn');
    const missing = join(dir.path, 'typo', 'userz.yaml');
    const broker = await startEmbeddedBroker({ host: '127.0.0.1', port: 0, credentialsFile: missing, logger: log });
    await broker.close();
    const warning = lines.find((l) => l.file === missing);
    expect(warning?.msg).toContain(`credentials file ${missing} does not exist (broker.embedded.credentialsFile)`);
  });
});
