/**
 * Password hashes for broker users. Never stored plain: scrypt with a per-user random salt for the
 * embedded broker, compared in constant time. Format: `$scrypt$N$r$p$<salt b64>$<hash b64>`, so
 * the cost can be raised later without breaking existing entries.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const KEY_LENGTH = 64;
const DEFAULT_COST = { N: 16384, r: 8, p: 1 } as const;

function scrypt(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function hashPassword(password: string, cost: { N: number; r: number; p: number } = DEFAULT_COST): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEY_LENGTH, { ...cost, maxmem: 256 * cost.N * cost.r });
  return `$scrypt$${cost.N}$${cost.r}$${cost.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** True when `hash` is a well-formed scrypt entry of this module. */
export function isPasswordHash(hash: string): boolean {
  return /^\$scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/.test(hash);
}

export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  if (!isPasswordHash(hash)) return false;
  const [, , n, r, p, saltB64, keyB64] = hash.split('$');
  const expected = Buffer.from(keyB64 ?? '', 'base64');
  const N = Number(n);
  const R = Number(r);
  if (expected.length === 0 || N > 1 << 20 || R > 64) return false;
  const actual = await scrypt(password, Buffer.from(saltB64 ?? '', 'base64'), expected.length, { N, r: R, p: Number(p), maxmem: 256 * N * R });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** A random password for a new user (printed once by the CLI, never stored). */
export function generatePassword(bytes = 24): string {
  return randomBytes(bytes).toString('base64url');
}
