/**
 * Password hashes for broker users, never stored plain, in two formats chosen by where the
 * password comes from, and verified by the format an entry carries (compared in constant time):
 *
 * - `$scrypt$N$r$p$<salt b64>$<hash b64>`: passwords a person chose (`--password`, web accounts).
 *   A guessable password needs a slow, memory-hard hash so a stolen file does not give it away;
 *   the cost is in the entry so it can be raised later without breaking existing ones.
 * - `$sha256$<salt b64>$<hmac b64>`: secrets this software generated (`generatePassword`: 256
 *   random bits; enrollment and `hub user add` without --password). HMAC-SHA256 keyed by a
 *   per-user random salt. A slow hash only multiplies the cost of each guess; against 2^256
 *   possible secrets no multiplier matters (one hash per guess is already out of reach), so the
 *   work factor buys nothing but CPU on every CONNECT: scrypt at N=16384 is ~50 ms of one core,
 *   which held a reconnecting fleet to ~20 connections/s. This format costs ~2 µs.
 *
 * Never give the fast format a password a person chose: `hashSecret` refuses anything shorter
 * than a generated secret.
 */
import { createHmac, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const KEY_LENGTH = 64;
const DEFAULT_COST = { N: 16384, r: 8, p: 1 } as const;
/** Bytes of randomness in a generated secret (256 bits). */
export const SECRET_BYTES = 32;
/** base64url of SECRET_BYTES; hashSecret refuses shorter input. */
const MIN_SECRET_CHARS = Math.ceil((SECRET_BYTES * 4) / 3);

const SCRYPT_FORMAT = /^\$scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/;
const SHA256_FORMAT = /^\$sha256\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]{43}=$/;

function scrypt(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** The slow hash, for passwords a person chose. */
export async function hashPassword(password: string, cost: { N: number; r: number; p: number } = DEFAULT_COST): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEY_LENGTH, { ...cost, maxmem: 256 * cost.N * cost.r });
  return `$scrypt$${cost.N}$${cost.r}$${cost.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

function hmac(secret: string, salt: Buffer): Buffer {
  return createHmac('sha256', salt).update(secret, 'utf8').digest();
}

/** The fast hash, for secrets from generatePassword only (see the header for why that is safe). */
export function hashSecret(secret: string): string {
  if (secret.length < MIN_SECRET_CHARS) throw new RangeError(`a generated secret has at least ${MIN_SECRET_CHARS} characters; hash chosen passwords with hashPassword`);
  const salt = randomBytes(16);
  return `$sha256$${salt.toString('base64')}$${hmac(secret, salt).toString('base64')}`;
}

/** True when `hash` is a well-formed entry of either format of this module. */
export function isPasswordHash(hash: string): boolean {
  return SCRYPT_FORMAT.test(hash) || SHA256_FORMAT.test(hash);
}

/** True for the fast format (a generated secret's entry). */
export function isSecretHash(hash: string): boolean {
  return SHA256_FORMAT.test(hash);
}

function verifySecret(secret: string, hash: string): boolean {
  const [, , saltB64, macB64] = hash.split('$');
  const expected = Buffer.from(macB64 ?? '', 'base64');
  const actual = hmac(secret, Buffer.from(saltB64 ?? '', 'base64'));
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** Checks a password against an entry of either format; false for a malformed entry. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  if (SHA256_FORMAT.test(hash)) return verifySecret(password, hash);
  if (!SCRYPT_FORMAT.test(hash)) return false;
  const [, , n, r, p, saltB64, keyB64] = hash.split('$');
  const expected = Buffer.from(keyB64 ?? '', 'base64');
  const N = Number(n);
  const R = Number(r);
  if (expected.length === 0 || N > 1 << 20 || R > 64) return false;
  const actual = await scrypt(password, Buffer.from(saltB64 ?? '', 'base64'), expected.length, { N, r: R, p: Number(p), maxmem: 256 * N * R });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** A random secret for a new user (256 bits by default; printed once by the CLI, never stored); hash it with hashSecret. */
export function generatePassword(bytes = SECRET_BYTES): string {
  return randomBytes(bytes).toString('base64url');
}
