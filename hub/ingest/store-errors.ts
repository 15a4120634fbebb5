/**
 * Tells a message the store refuses (poison: the same message will fail every time) from a store
 * that is down, full or locked (an outage: every message fails until it recovers). Poison is
 * quarantined and ingest moves on; an outage holds messages unacknowledged and retries them.
 * When the error says neither, ingest decides after a few attempts by asking the store something
 * else (see Ingest.persist): a store that answers while one message keeps failing is refusing
 * that message (and takes writes: Ingest.storeTakesWrites).
 * A store that refuses for now (SWG_ERR_HUB_STORE_BUSY: its buffer of unwritten telemetry is
 * full, ../store/buffer-limit.ts) says so with its code: an outage, never poison.
 */
import { isSwarmgateError } from '../../shared/kit/errors.js';

export type StoreErrorKind = 'poison' | 'outage' | 'unknown';

/** PostgreSQL SQLSTATE classes that are about the data sent, not the server. */
const PG_DATA_CLASSES = new Set(['22', '23', '54']);
const SQLITE_DATA_CODES = /^SQLITE_(TOOBIG|MISMATCH|CONSTRAINT|RANGE)/;
const SQLITE_OUTAGE_CODES = /^SQLITE_(BUSY|LOCKED|FULL|IOERR|CANTOPEN|READONLY|NOMEM|PROTOCOL|CORRUPT|NOTADB|INTERRUPT|AUTH)/;

export function classifyStoreError(err: unknown): StoreErrorKind {
  if (isSwarmgateError(err, 'SWG_ERR_HUB_STORE_BUSY')) return 'outage';
  if (err instanceof RangeError || err instanceof TypeError || err instanceof SyntaxError) return 'poison';
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  if (!code) return 'unknown';
  if (code.startsWith('SQLITE_')) return SQLITE_DATA_CODES.test(code) ? 'poison' : SQLITE_OUTAGE_CODES.test(code) ? 'outage' : 'unknown';
  if (/^[0-9A-Z]{5}$/.test(code)) return PG_DATA_CLASSES.has(code.slice(0, 2)) ? 'poison' : 'outage';
  // Node's system errors (ECONNREFUSED, ETIMEDOUT, ENOSPC ...) are outages.
  if (/^E[A-Z]+$/.test(code)) return 'outage';
  return 'unknown';
}
