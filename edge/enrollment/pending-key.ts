/**
 * The key of an enrollment in flight. It is kept in the config folder (secrets/enrolling-key.json,
 * 0600) from before the request goes out until the answer is written, so an answer lost on the way
 * (a timeout, a link reset after the hub claimed the token, a crash or a full disk before the files
 * were written) is asked for again with the same token and the same key; the hub answers the
 * gateway that claimed the token again instead of refusing a used token. A key kept for another
 * token, or a file that does not parse, is replaced by a new key.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, rmdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { SwarmgateError, errorMessage } from '../../shared/kit/errors.js';
import { generateGatewayKey, type GatewayKeyPair } from './keys.js';
import { ownedLike, writeDurably } from './writer.js';

export const PENDING_KEY_FILE = join('secrets', 'enrolling-key.json');

const PendingKeySchema = Type.Object({
  tokenId: Type.String(),
  publicKeyPem: Type.String({ minLength: 1 }),
  privateKeyPem: Type.String({ minLength: 1 }),
});

function readPending(file: string, tokenId: string): GatewayKeyPair | undefined {
  if (!existsSync(file)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
  if (!Value.Check(PendingKeySchema, parsed) || parsed.tokenId !== tokenId) return undefined;
  return { publicKeyPem: parsed.publicKeyPem, privateKeyPem: parsed.privateKeyPem };
}

/**
 * The key an earlier try of this folder's enrollment with `tokenId` was asked with (`kept`), or a
 * new one, written durably before it is used.
 */
export function pendingKey(dir: string, tokenId: string): { key: GatewayKeyPair; kept: boolean } {
  const out = resolve(dir);
  const file = join(out, PENDING_KEY_FILE);
  const earlier = readPending(file, tokenId);
  if (earlier) return { key: earlier, kept: true };
  const key = generateGatewayKey();
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    mkdirSync(out, { recursive: true, mode: 0o755 });
    const secrets = join(out, 'secrets');
    const own = ownedLike(out);
    if (!existsSync(secrets)) {
      mkdirSync(secrets, { mode: 0o700 });
      own(secrets);
    }
    writeDurably({ path: file, text: `${JSON.stringify({ tokenId, ...key })}\n`, mode: 0o600 }, tmp);
    own(tmp);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new SwarmgateError('SWG_ERR_FILE_WRITE', `cannot keep the enrollment key in ${file}: ${errorMessage(err)}`, { cause: err });
  }
  return { key, kept: false };
}

/** Forgets the key of the enrollment in flight (written into the identity, or refused for good); an emptied secrets folder goes too. */
export function dropPendingKey(dir: string): void {
  const out = resolve(dir);
  rmSync(join(out, PENDING_KEY_FILE), { force: true });
  try {
    rmdirSync(join(out, 'secrets'));
  } catch {
    // not empty (an enrolled gateway's secrets) or not there
  }
}
