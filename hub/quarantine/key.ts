/**
 * The key that names a quarantined message once, so a gateway sending it again (a lost receipt, an
 * outbox that keeps resending what the hub never receipted) counts a repeat of its entry instead of
 * adding another. Per gateway and reason: telemetry that names a batch of the gateway of its topic
 * is keyed by that batch (site/gateway/bootId/seq: a resend with another sentAt, or in the other
 * encoding, is the same message), anything else by a hash of its topic and payload.
 * The service keys every add with it and migration 62 keys the rows kept before: both must give
 * the same key for the same message, so a resend after an upgrade counts onto the migrated entry.
 */
import { createHash } from 'node:crypto';
import { telemetryKey } from '../../shared/wire/codec.js';
import { isValidId } from '../../shared/wire/topics.js';

export interface KeyedMessage {
  readonly topic: string;
  readonly site?: string;
  readonly gateway?: string;
  readonly channel: string;
  readonly reason: string;
  readonly payload: Uint8Array;
}

/** PostgreSQL text cannot hold NUL; neither should a log line. Topics are kept (and keyed) this way. */
export const clean = (s: string): string => s.replace(/\u0000/g, '\\u0000');

/** The batch a telemetry payload names, when it is one of its topic's gateway that a store could hold. */
function batchOf(m: KeyedMessage): { bootId: string; seq: number } | undefined {
  if (m.channel !== 'telemetry' || m.gateway === undefined) return undefined;
  const head = telemetryKey(m.payload);
  if (!head || head.gateway !== m.gateway || !isValidId(head.bootId) || !Number.isSafeInteger(head.seq) || head.seq < 0) return undefined;
  return head;
}

export function quarantineKey(m: KeyedMessage): string {
  const who = `${m.channel}/${m.reason}/${m.site ?? '-'}/${m.gateway ?? '-'}`;
  const batch = batchOf(m);
  if (batch) return `${who}/${batch.bootId}/${batch.seq}`;
  const hash = createHash('sha256').update(clean(m.topic)).update('\u0000').update(m.payload).digest('hex');
  return `${who}/sha256:${hash}`;
}
