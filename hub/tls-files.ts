/**
 * The TLS files a hub config names (api.tls, broker.embedded.tls), checked when the config is
 * loaded: each problem names the field, the file and what is wrong with it — a missing key file,
 * the certificate and key swapped, a key that is not the certificate's — instead of a bare ENOENT
 * or OpenSSL's "PEM routines::no start line" when the server starts.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileErrorReason, type ConfigProblem, type SourceFile } from '../shared/kit/config-file.js';
import { errorMessage } from '../shared/kit/errors.js';

interface TlsPair {
  readonly certFile: string;
  readonly keyFile: string;
}

const CERT = /-----BEGIN CERTIFICATE-----/;
const KEY = /-----BEGIN (?:[A-Z0-9]+ )?(?:ENCRYPTED )?PRIVATE KEY-----/;

/** What a PEM file holds, in words, for "holds X, not Y". */
function holds(text: string): string {
  if (CERT.test(text)) return 'a certificate';
  if (KEY.test(text)) return 'a private key';
  const label = text.match(/-----BEGIN ([A-Z0-9 ]+)-----/)?.[1];
  return label ? `a PEM ${label}` : 'no PEM block';
}

function read(file: string): { text?: string; reason?: string } {
  try {
    return { text: readFileSync(file, 'utf8') };
  } catch (err) {
    return { reason: fileErrorReason(err) };
  }
}

/** Problems of one certFile/keyFile pair at `at` (e.g. ['api', 'tls']). */
function pairProblems(source: SourceFile, at: readonly string[], pair: TlsPair): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const cert = read(pair.certFile);
  const key = read(pair.keyFile);
  const swapped = cert.text !== undefined && key.text !== undefined && KEY.test(cert.text) && !CERT.test(cert.text) && CERT.test(key.text) && !KEY.test(key.text);
  if (swapped) return [source.problem([...at, 'certFile'], `${pair.certFile} holds a private key and keyFile ${pair.keyFile} a certificate: certFile and keyFile are swapped (certFile: the PEM certificate chain, keyFile: the PEM private key)`)];
  if (cert.reason !== undefined) problems.push(source.problem([...at, 'certFile'], `cannot read ${pair.certFile}: ${cert.reason} (certFile: the PEM certificate chain)`));
  else if (cert.text !== undefined && !CERT.test(cert.text)) problems.push(source.problem([...at, 'certFile'], `${pair.certFile} holds ${holds(cert.text)}, not a PEM certificate (-----BEGIN CERTIFICATE-----)`));
  if (key.reason !== undefined) problems.push(source.problem([...at, 'keyFile'], `cannot read ${pair.keyFile}: ${key.reason} (keyFile: the PEM private key)`));
  else if (key.text !== undefined && !KEY.test(key.text)) problems.push(source.problem([...at, 'keyFile'], `${pair.keyFile} holds ${holds(key.text)}, not a PEM private key (-----BEGIN PRIVATE KEY-----)`));
  if (problems.length > 0 || cert.text === undefined || key.text === undefined) return problems;
  try {
    const x509 = new X509Certificate(cert.text);
    if (!/ENCRYPTED/.test(key.text) && !x509.checkPrivateKey(createPrivateKey(key.text))) {
      problems.push(source.problem([...at, 'keyFile'], `${pair.keyFile} is not the private key of the certificate in certFile ${pair.certFile}`));
    }
  } catch (err) {
    problems.push(source.problem([...at, 'certFile'], `${pair.certFile} / keyFile ${pair.keyFile}: do not load as a certificate and its key: ${errorMessage(err)}`));
  }
  return problems;
}

/** The TLS files of a parsed hub config (paths already resolved), as config problems. */
export function tlsFileProblems(source: SourceFile, config: { api?: { tls?: TlsPair }; broker: { embedded?: { tls?: TlsPair } } }): ConfigProblem[] {
  return [
    ...(config.api?.tls ? pairProblems(source, ['api', 'tls'], config.api.tls) : []),
    ...(config.broker.embedded?.tls ? pairProblems(source, ['broker', 'embedded', 'tls'], config.broker.embedded.tls) : []),
  ];
}
