/** The enrollment settings of a hub config, with the PEM files it names read (a clear error per unreadable file). */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { SwarmgateError, errorMessage } from '../../shared/kit/errors.js';
import { parseDuration, type EnrollmentConfig } from './schema.js';
import type { EnrollmentSettings } from './service.js';

function readPem(file: string, field: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `${field}: cannot read ${file} (${errorMessage(err)})`);
  }
  if (!text.includes('-----BEGIN ')) throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `${field}: ${file} is not PEM`);
  return text;
}

/**
 * sha256 fingerprint (AB:CD:... as Node prints it) of the last certificate in the API's chain
 * file: the CA (or the self-signed certificate) a gateway pins when it enrolls.
 */
export function caFingerprintOf(certFile: string): string {
  const pems = readFileSync(certFile, 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const last = pems[pems.length - 1];
  if (!last) throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `api.tls.certFile: ${certFile} holds no PEM certificate`);
  return `sha256:${new X509Certificate(last).fingerprint256}`;
}

/**
 * `apiCertFile`: the API's TLS chain (its CA goes into claim URIs); `releaseKeyFile`: the fleet's
 * release-signing public key (releases.publicKeyFile), pinned by each gateway that enrolls.
 */
export function enrollmentSettings(config: EnrollmentConfig, apiCertFile?: string, releaseKeyFile?: string): EnrollmentSettings {
  if (!existsSync(config.templatesDir) || !statSync(config.templatesDir).isDirectory()) {
    throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `enrollment.templatesDir: ${config.templatesDir} is not a folder (it holds <site>.yaml or default.yaml gateway templates)`);
  }
  return {
    ...(config.hubUrl ? { hubUrl: config.hubUrl } : {}),
    ...(apiCertFile ? { caFingerprint: caFingerprintOf(apiCertFile) } : {}),
    brokerUrl: config.brokerUrl,
    ...(config.brokerCaFile ? { brokerCaPem: readPem(config.brokerCaFile, 'enrollment.brokerCaFile') } : {}),
    ...(releaseKeyFile ? { releaseKeyPem: readPem(releaseKeyFile, 'releases.publicKeyFile') } : {}),
    templatesDir: config.templatesDir,
    defaultTtlMs: parseDuration(config.defaultTtl) ?? 7 * 86_400_000,
    maxTtlMs: parseDuration(config.maxTtl) ?? 90 * 86_400_000,
  };
}
