/**
 * Mosquitto's password hash ($7$, mosquitto 2.x `mosquitto_passwd`): PBKDF2-HMAC-SHA512 over the
 * UTF-8 password with a 12-byte random salt, written as `$7$<iterations>$<salt b64>$<hash b64>`
 * (mosquitto's default iteration count is 101; it accepts any count written in the entry).
 */
import { pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

export const MOSQUITTO_DEFAULT_ITERATIONS = 101;

export function mosquittoHash(password: string, iterations = 1000, salt: Buffer = randomBytes(12)): string {
  const key = pbkdf2Sync(password, salt, iterations, 64, 'sha512');
  return `$7$${iterations}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export function verifyMosquittoHash(password: string, entry: string): boolean {
  const parts = entry.split('$');
  if (parts.length !== 5 || parts[1] !== '7') return false;
  const iterations = Number(parts[2]);
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > 10_000_000) return false;
  const expected = Buffer.from(parts[4] ?? '', 'base64');
  if (expected.length === 0) return false;
  const actual = pbkdf2Sync(password, Buffer.from(parts[3] ?? '', 'base64'), iterations, expected.length, 'sha512');
  return timingSafeEqual(actual, expected);
}
