/**
 * The enrollment contract between a new gateway and the hub (POST /api/v1/enroll).
 *
 * A token is `swg-enroll-v1.<id>.<secret>`: the id finds the record, the 256-bit secret proves
 * possession; the hub stores only sha256(secret). The gateway sends the token, the public key it
 * generated and a signature over (token id, public key) made with that key. The hub answers with
 * the gateway's identity and a MAC over the identity keyed by sha256(secret): a response changed
 * on the way, or made by someone who does not hold the token's hash, fails the gateway's check and
 * nothing is written.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';

const strict = { additionalProperties: false } as const;

export const ENROLL_TOKEN_PREFIX = 'swg-enroll-v1';
const TOKEN_PATTERN = /^swg-enroll-v1\.([a-z0-9]{12})\.([A-Za-z0-9_-]{43})$/;

export const EnrollIdSchema = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$', description: 'letters, digits, "_" and "-", at most 64 characters' });

export const EnrollRequestSchema = Type.Object(
  {
    token: Type.String({ minLength: 1, maxLength: 200, description: `The one-time enrollment token (${ENROLL_TOKEN_PREFIX}.<id>.<secret>)` }),
    publicKey: Type.String({ minLength: 1, maxLength: 4096, description: "PEM (SPKI) of the Ed25519 key the gateway generated; its private half never leaves the gateway" }),
    proof: Type.String({ minLength: 1, maxLength: 200, description: 'base64 Ed25519 signature of enrollProofMessage(token id, publicKey) with that key' }),
    requestedId: Type.Optional(EnrollIdSchema),
    hostname: Type.Optional(Type.String({ maxLength: 253 })),
    version: Type.Optional(Type.String({ maxLength: 64, description: 'Swarmgate version of the gateway' })),
  },
  { ...strict, description: 'A gateway asking to enroll' },
);
export type EnrollRequest = Static<typeof EnrollRequestSchema>;

export const EnrolledIdentitySchema = Type.Object(
  {
    gateway: EnrollIdSchema,
    site: EnrollIdSchema,
    tokenId: Type.String(),
    /** sha256 fingerprint (hex) of the public key the hub recorded for this gateway. */
    keyFingerprint: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    broker: Type.Object(
      {
        url: Type.String({ pattern: '^(mqtts?|wss?)://' }),
        username: Type.String({ minLength: 1 }),
        password: Type.String({ minLength: 16 }),
        caPem: Type.Optional(Type.String({ description: 'PEM CA bundle of the broker certificate (mqtts)' })),
      },
      strict,
    ),
    /** PEM of the fleet's release-signing public key, pinned by the gateway for software updates. */
    releaseKeyPem: Type.Optional(Type.String()),
    /** The gateway's initial config (YAML text) from the site template, without secrets. */
    configYaml: Type.String({ minLength: 1 }),
    issuedAt: Type.Integer({ minimum: 0 }),
  },
  strict,
);
export type EnrolledIdentity = Static<typeof EnrolledIdentitySchema>;

export const EnrollResponseSchema = Type.Object(
  {
    identity: EnrolledIdentitySchema,
    mac: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'HMAC-SHA256 of the canonical identity, keyed by sha256(token secret)' }),
  },
  strict,
);
export type EnrollResponse = Static<typeof EnrollResponseSchema>;

export interface ParsedEnrollToken {
  readonly id: string;
  readonly secret: string;
}

/** The token's parts, or undefined when it is not a well-formed token. */
export function parseEnrollToken(token: string): ParsedEnrollToken | undefined {
  const m = TOKEN_PATTERN.exec(token.trim());
  return m ? { id: m[1] as string, secret: m[2] as string } : undefined;
}

/** What the hub stores of a token: sha256 of its secret (hex). */
export function enrollSecretHash(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** The bytes a gateway signs to show it holds the key it sends. */
export function enrollProofMessage(tokenId: string, publicKeyPem: string): Buffer {
  return Buffer.from(`swarmgate-enroll-v1\n${tokenId}\n${publicKeyPem.trim()}\n`);
}

/** JSON with keys sorted at every level: the same bytes on both sides whatever the key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function enrollMac(secretHashHex: string, identity: EnrolledIdentity): string {
  return createHmac('sha256', Buffer.from(secretHashHex, 'hex')).update(canonicalJson(identity)).digest('hex');
}

export function enrollMacMatches(secretHashHex: string, identity: EnrolledIdentity, mac: string): boolean {
  const expected = Buffer.from(enrollMac(secretHashHex, identity), 'hex');
  const given = Buffer.from(mac, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** sha256 (hex) of a PEM public key's DER bytes: how a gateway's key is named. */
export function keyFingerprint(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex');
}

/**
 * The claim a technician scans from the sticker: `swarmgate://enroll?hub=URL&token=T[&ca=sha256:HEX]`.
 * `swarmgate edge enroll --token` takes either the bare token or this URI.
 */
export function enrollClaimUri(hub: string, token: string, caFingerprint?: string): string {
  const q = new URLSearchParams({ hub, token, ...(caFingerprint ? { ca: caFingerprint } : {}) });
  return `swarmgate://enroll?${q.toString()}`;
}

export function parseEnrollClaimUri(text: string): { hub?: string; token: string; ca?: string } | undefined {
  if (!text.startsWith('swarmgate://enroll?')) return undefined;
  const q = new URLSearchParams(text.slice('swarmgate://enroll?'.length));
  const token = q.get('token');
  if (!token) return undefined;
  const hub = q.get('hub');
  const ca = q.get('ca');
  return { token, ...(hub ? { hub } : {}), ...(ca ? { ca } : {}) };
}
