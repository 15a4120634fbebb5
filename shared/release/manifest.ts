/**
 * The release manifest: what `swarmgate release build` writes next to the app tarball, what the hub
 * stores and hands to gateways, and what a gateway checks before it unpacks anything. The signature
 * is Ed25519 over the canonical bytes of the manifest without its `signature` field (canonical.ts),
 * so the manifest may travel as JSON through the hub and MQTT and still verify.
 */
import { Type, type Static } from '@sinclair/typebox';
import { compareVersions } from './version.js';

const strict = { additionalProperties: false } as const;

/** A release version: semver-like, safe as a file and folder name. */
export const RELEASE_VERSION_PATTERN = '^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$';
export const ReleaseVersionSchema = Type.String({ pattern: RELEASE_VERSION_PATTERN, description: 'e.g. 0.2.0 or 0.2.0-rc.1; letters, digits, ".", "_", "+", "-"' });

export const ReleaseSignatureSchema = Type.Object(
  {
    alg: Type.Literal('ed25519'),
    /** First 16 hex digits of the SHA-256 of the public key (SPKI DER): names the key that signed. */
    keyId: Type.String({ pattern: '^[0-9a-f]{16}$' }),
    value: Type.String({ pattern: '^[A-Za-z0-9+/]{86}==$', description: 'the 64-byte signature, base64' }),
  },
  strict,
);

export const ReleaseManifestSchema = Type.Object(
  {
    v: Type.Literal(1),
    name: Type.Literal('swarmgate'),
    version: ReleaseVersionSchema,
    /** ISO 8601 time of the build. */
    created: Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$', maxLength: 40 }),
    artifact: Type.Object(
      {
        file: Type.String({ pattern: '^[0-9A-Za-z][0-9A-Za-z._+-]{0,127}\\.tar\\.gz$' }),
        size: Type.Integer({ minimum: 1, maximum: 4 * 1024 ** 3 }),
        sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
      },
      strict,
    ),
    /** Lowest Node.js version the release runs on (from package.json engines.node), e.g. 20.19.0. */
    minNode: Type.String({ pattern: '^[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}$' }),
    /** What `node <installRoot>/current/<entry>` runs (relative to the release folder). */
    entry: Type.String({ pattern: '^[0-9A-Za-z_][0-9A-Za-z._/-]{0,255}$' }),
    signature: ReleaseSignatureSchema,
  },
  strict,
);

export type ReleaseManifest = Static<typeof ReleaseManifestSchema>;
export type UnsignedManifest = Omit<ReleaseManifest, 'signature'>;
export type ReleaseSignature = Static<typeof ReleaseSignatureSchema>;

/** JSON with object keys sorted at every level and no whitespace: the bytes that are signed. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The signed bytes: the canonical JSON of the manifest without `signature`. */
export function signedBytes(manifest: UnsignedManifest | ReleaseManifest): Buffer {
  const { signature: _signature, ...rest } = manifest as ReleaseManifest;
  return Buffer.from(canonicalJson(rest), 'utf8');
}

/** `1.2.3` >= `1.2.0`? (a Node.js version, `v` allowed; compareVersions). */
export function versionAtLeast(have: string, need: string): boolean {
  return compareVersions(have.replace(/^v/, ''), need) >= 0;
}
