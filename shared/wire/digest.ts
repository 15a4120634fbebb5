/**
 * The digest that names a non-telemetry message (event, gap record, review request, command ack,
 * reported config) in a stored receipt: both sides compute it over the exact payload bytes, which
 * the gateway never changes between sends. Telemetry batches are named by (bootId, seq) instead.
 */
import { createHash } from 'node:crypto';

export function messageDigest(payload: Uint8Array): string {
  return createHash('sha256').update(payload).digest().subarray(0, 12).toString('base64url');
}
