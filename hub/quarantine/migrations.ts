/**
 * Quarantined messages (versions 60-69): what ingest refused and kept for inspection instead of
 * storing or retrying forever. Both dialects side by side. Append new versions, never edit applied ones.
 */
import type { FeatureMigrations } from '../db/migrations.js';
import type { Migration } from '../store/migration.js';

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

const SQLITE: readonly Migration[] = [{ version: 60, name: NAME, sql: table('INTEGER PRIMARY KEY AUTOINCREMENT', 'INTEGER') }];
const POSTGRES: readonly Migration[] = [{ version: 60, name: NAME, sql: table('BIGSERIAL PRIMARY KEY', 'BIGINT') }];

export const QUARANTINE_MIGRATIONS: FeatureMigrations = { feature: 'hub/quarantine', versions: [60, 69], sqlite: SQLITE, postgres: POSTGRES };
