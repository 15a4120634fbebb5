/**
 * Writes what enrollment gave the gateway into its config folder:
 *   gateway.yaml              the hub's config for it, with the paths of the files below
 *   identity.json             who it is (its presence means "enrolled"; written last)
 *   secrets/gateway-key.pem   its private key (0600)      secrets/broker-password (0600)
 *   broker-ca.pem             the broker's CA, when the hub gave one
 *   release-key.pem           the fleet's release-signing public key, when the hub gave one
 *                             (update.releaseKeyFile, when the site template has an update section)
 *   hub-ca.pem                the CA the hub's HTTPS was trusted with at enrollment (update.caFile)
 * Every file is written to a temporary name first and renamed into place only once all of them
 * are written, so a failure leaves the folder as it was.
 */
import { chownSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { SwarmgateError, errorMessage } from '../../shared/kit/errors.js';
import type { EnrolledIdentity } from '../../shared/wire/enrollment.js';
import type { GatewayKeyPair } from './keys.js';

export const IDENTITY_FILE = 'identity.json';

export interface IdentityRecord {
  readonly gateway: string;
  readonly site: string;
  readonly hub: string;
  readonly tokenId: string;
  readonly keyFingerprint: string;
  readonly brokerUrl: string;
  readonly enrolledAt: string;
}

export interface WrittenIdentity {
  readonly dir: string;
  readonly configFile: string;
  readonly files: readonly string[];
}

export interface PlannedFile {
  readonly path: string;
  readonly text: string;
  readonly mode: number;
}

/** Whether `dir` holds an enrolled gateway's identity. */
export function isEnrolled(dir: string): boolean {
  return existsSync(join(dir, IDENTITY_FILE));
}

function configText(identity: EnrolledIdentity, paths: { password: string; ca?: string; releaseKey?: string; hubCa?: string }): string {
  const doc = parseDocument(identity.configYaml);
  if (doc.errors.length > 0) throw new SwarmgateError('SWG_ERR_ENROLL_RESPONSE', `the config in the enrollment answer is not YAML: ${doc.errors[0]?.message ?? ''}`);
  doc.setIn(['federation', 'mqtt', 'passwordFile'], paths.password);
  if (paths.ca) doc.setIn(['federation', 'mqtt', 'tls', 'ca'], paths.ca);
  // Updates are the site template's choice (its update section, with the install root); the
  // pinned release key and the hub's CA go into it when it is there.
  if (doc.hasIn(['update'])) {
    if (paths.releaseKey) doc.setIn(['update', 'releaseKeyFile'], paths.releaseKey);
    if (paths.hubCa) doc.setIn(['update', 'caFile'], paths.hubCa);
  }
  return doc.toString();
}

/**
 * Gives a file or folder the owner of `dir` when run as root (first boot, sudo) into a folder the
 * gateway's service user owns: the service could not read its own secrets otherwise.
 */
export function ownedLike(dir: string): (path: string) => void {
  const owner = process.getuid?.() === 0 ? statSync(dir) : undefined;
  return (path) => {
    if (owner && owner.uid !== 0) chownSync(path, owner.uid, owner.gid);
  };
}

export function writeDurably(file: PlannedFile, tmp: string): void {
  const fd = openSync(tmp, 'w', file.mode);
  try {
    writeSync(fd, file.text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export interface WriteOptions {
  /** The config file name in the folder (default gateway.yaml). */
  readonly configFileName?: string;
  /** The CA the hub's HTTPS was trusted with (from the pinned fingerprint). */
  readonly hubCaPem?: string;
}

export function writeIdentity(dir: string, hub: string, identity: EnrolledIdentity, key: GatewayKeyPair, options: WriteOptions = {}): WrittenIdentity {
  const configFileName = options.configFileName ?? 'gateway.yaml';
  const out = resolve(dir);
  const secrets = join(out, 'secrets');
  const password = join(secrets, 'broker-password');
  const ca = identity.broker.caPem ? join(out, 'broker-ca.pem') : undefined;
  const releaseKey = identity.releaseKeyPem ? join(out, 'release-key.pem') : undefined;
  const hubCa = options.hubCaPem ? join(out, 'hub-ca.pem') : undefined;
  const configFile = join(out, configFileName);
  const record: IdentityRecord = {
    gateway: identity.gateway,
    site: identity.site,
    hub,
    tokenId: identity.tokenId,
    keyFingerprint: identity.keyFingerprint,
    brokerUrl: identity.broker.url,
    enrolledAt: new Date(identity.issuedAt).toISOString(),
  };
  const planned: PlannedFile[] = [
    { path: join(secrets, 'gateway-key.pem'), text: key.privateKeyPem, mode: 0o600 },
    { path: password, text: `${identity.broker.password}\n`, mode: 0o600 },
    ...(ca && identity.broker.caPem ? [{ path: ca, text: identity.broker.caPem, mode: 0o644 }] : []),
    ...(releaseKey && identity.releaseKeyPem ? [{ path: releaseKey, text: identity.releaseKeyPem, mode: 0o644 }] : []),
    ...(hubCa && options.hubCaPem ? [{ path: hubCa, text: options.hubCaPem, mode: 0o644 }] : []),
    { path: configFile, text: configText(identity, { password, ...(ca ? { ca } : {}), ...(releaseKey ? { releaseKey } : {}), ...(hubCa ? { hubCa } : {}) }), mode: 0o640 },
    { path: join(out, IDENTITY_FILE), text: `${JSON.stringify(record, null, 2)}\n`, mode: 0o644 },
  ];
  const tmpOf = (p: string): string => `${p}.enrolling-${process.pid}`;
  try {
    mkdirSync(out, { recursive: true, mode: 0o755 });
    mkdirSync(secrets, { recursive: true, mode: 0o700 });
    const own = ownedLike(out);
    own(secrets);
    for (const file of planned) {
      writeDurably(file, tmpOf(file.path));
      own(tmpOf(file.path));
    }
  } catch (err) {
    for (const file of planned) rmSync(tmpOf(file.path), { force: true });
    throw new SwarmgateError('SWG_ERR_FILE_WRITE', `cannot write the gateway's identity into ${out}: ${errorMessage(err)}`, { cause: err });
  }
  // identity.json last: a gateway is enrolled only once every other file is in place.
  for (const file of planned) renameSync(tmpOf(file.path), file.path);
  return { dir: out, configFile, files: planned.map((f) => f.path) };
}
