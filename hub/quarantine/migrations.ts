/**
 * Quarantined messages (versions 60-69): what ingest refused and kept for inspection instead of
 * storing or retrying forever. Both dialects side by side. Append new versions, never edit applied ones.
 */
import type { FeatureMigrations } from '../db/migrations.js';
import type { Migration } from '../store/migration.js';
import { keyRepeatsPostgres, keyRepeatsSqlite } from './repeats-migration.js';

const NAME = 'quarantine: refused messages kept for inspection';

const table = (id: string, big: string): string => `
  CREATE TABLE quarantine (
    id ${id}, received_at ${big} NOT NULL, topic TEXT NOT NULL, site TEXT, gateway TEXT,
    channel TEXT NOT NULL, reason TEXT NOT NULL, error TEXT NOT NULL,
    encoding TEXT NOT NULL, payload TEXT NOT NULL, size INTEGER NOT NULL
  );
  CREATE INDEX quarantine_received ON quarantine (received_at);
  CREATE INDEX quarantine_gateway ON quarantine (gateway, received_at);
`;

/**
 * A message may carry a key that names it once (telemetry: site/gateway/bootId/seq and the reason):
 * a gateway resending it (a lost receipt, a redelivery after a crash) finds it kept already and
 * adds no second row. NULL keys (messages naming nothing) are all distinct.
 */
const DEDUPE = {
  version: 61,
  name: 'quarantine: a key per kept message, so a resend is not kept twice',
  sql: 'ALTER TABLE quarantine ADD COLUMN dedupe_key TEXT;\nCREATE UNIQUE INDEX quarantine_dedupe ON quarantine (dedupe_key);',
};

/**
 * Every message is kept once per gateway and reason (key.ts), whatever it was refused for: a
 * repeat counts (seen_count, last_seen_at; received_at is when it was first seen). The entries
 * kept before get their keys and exact copies are merged (repeats-migration.ts); the table is
 * trimmed by last seen, so an entry a gateway keeps sending stays.
 */
const repeats = (big: string): string => `
  ALTER TABLE quarantine ADD COLUMN seen_count INTEGER NOT NULL DEFAULT 1;
  ALTER TABLE quarantine ADD COLUMN last_seen_at ${big} NOT NULL DEFAULT 0;
  UPDATE quarantine SET last_seen_at = received_at;
  CREATE INDEX quarantine_last_seen ON quarantine (last_seen_at, id);
`;
const REPEATS = { version: 62, name: 'quarantine: every message kept once per gateway and reason, its repeats counted' };

const SQLITE: readonly Migration[] = [
  { version: 60, name: NAME, sql: table('INTEGER PRIMARY KEY AUTOINCREMENT', 'INTEGER') },
  DEDUPE,
  { ...REPEATS, sql: repeats('INTEGER'), run: (db) => keyRepeatsSqlite(db) },
];
const POSTGRES: readonly Migration[] = [
  { version: 60, name: NAME, sql: table('BIGSERIAL PRIMARY KEY', 'BIGINT') },
  DEDUPE,
  { ...REPEATS, sql: repeats('BIGINT'), convert: (client) => keyRepeatsPostgres(client) },
];

export const QUARANTINE_MIGRATIONS: FeatureMigrations = { feature: 'hub/quarantine', versions: [60, 69], sqlite: SQLITE, postgres: POSTGRES };
