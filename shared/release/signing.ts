/**
 * Ed25519 release keys (node:crypto): the fleet's private key signs manifests on the build machine;
 * the hub and every gateway hold only the public key and refuse any manifest it did not sign.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SwarmgateError, errorMessage } from '../kit/errors.js';
import { decode } from '../wire/codec.js';
import { ReleaseManifestSchema, signedBytes, type ReleaseManifest, type UnsignedManifest } from './manifest.js';

export interface ReleaseKeyPair {
  /** PKCS#8 PEM. */
  readonly privatePem: string;
  /** SPKI PEM. */
  readonly publicPem: string;
  readonly keyId: string;
}

export function generateReleaseKeys(): ReleaseKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyId: keyIdOf(publicKey),
  };
}

/** First 16 hex digits of SHA-256 over the public key's SPKI DER. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

function ed25519(key: KeyObject, file: string, type: 'public' | 'private'): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519') throw new SwarmgateError('SWG_ERR_RELEASE_KEY', `${file}: is a ${key.asymmetricKeyType ?? 'unknown'} key, not Ed25519`);
  if (key.type !== type) throw new SwarmgateError('SWG_ERR_RELEASE_KEY', `${file}: is a ${key.type} key, a ${type} key is needed here`);
  return key;
}

export function readPrivateKey(file: string): KeyObject {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SwarmgateError('SWG_ERR_RELEASE_KEY', `cannot read the private key ${file}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    return ed25519(createPrivateKey(pem), file, 'private');
  } catch (err) {
    if (err instanceof SwarmgateError) throw err;
    throw new SwarmgateError('SWG_ERR_RELEASE_KEY', `${file}: not a private key in PEM: ${errorMessage(err)}`, { cause: err });
  }
}

/** A public key from PEM text (SPKI). */
export function parsePublicKey(pem: string, where: string): KeyObject {
  try {
    return ed25519(createPublicKey(pem), where, 'public');
  } catch (err) {
    if (err instanceof SwarmgateError) throw err;
    throw new SwarmgateError('SWG_ERR_RELEASE_KEY', `${where}: not a public key in PEM: ${errorMessage(err)}`, { cause: err });
  }
}

export function readPublicKey(file: string): KeyObject {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SwarmgateError('SWG_ERR_RELEASE_KEY', `cannot read the release public key ${file}: ${errorMessage(err)}`, { cause: err });
  }
  return parsePublicKey(pem, file);
}

export function signManifest(manifest: UnsignedManifest, privateKey: KeyObject): ReleaseManifest {
  const value = sign(null, signedBytes(manifest), privateKey).toString('base64');
  return { ...manifest, signature: { alg: 'ed25519', keyId: keyIdOf(createPublicKey(privateKey)), value } };
}

/**
 * Parses and checks a manifest: its schema, then its signature against the pinned public key.
 * Throws SWG_ERR_RELEASE_INVALID or SWG_ERR_RELEASE_SIGNATURE naming what failed.
 */
export function verifyManifest(input: unknown, publicKey: KeyObject, where = 'manifest'): ReleaseManifest {
  const text = typeof input === 'string' || Buffer.isBuffer(input) ? input : JSON.stringify(input);
  const decoded = decode(ReleaseManifestSchema, where, text, 64 * 1024);
  if (!decoded.ok) throw new SwarmgateError('SWG_ERR_RELEASE_INVALID', decoded.error, { details: { check: 'schema' } });
  const manifest = decoded.value;
  const pinned = keyIdOf(publicKey);
  if (manifest.signature.keyId !== pinned) {
    throw new SwarmgateError('SWG_ERR_RELEASE_SIGNATURE', `${where}: release ${manifest.version} is signed by key ${manifest.signature.keyId}, but the pinned key is ${pinned}`, {
      details: { check: 'signature', keyId: manifest.signature.keyId, pinned },
    });
  }
  const ok = verify(null, signedBytes(manifest), publicKey, Buffer.from(manifest.signature.value, 'base64'));
  if (!ok) throw new SwarmgateError('SWG_ERR_RELEASE_SIGNATURE', `${where}: the signature of release ${manifest.version} does not verify with the pinned key ${pinned}`, { details: { check: 'signature' } });
  return manifest;
}
