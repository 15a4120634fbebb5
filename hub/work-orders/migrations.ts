/**
 * Maintenance work orders (versions 50-59): what the equipment-health agent asks a technician to
 * do (inspect, service, check a compressor) when no command can fix it. Both dialects side by side.
 * Append new versions, never edit applied ones.
 */
import type { FeatureMigrations } from '../db/migrations.js';
import type { Migration } from '../store/migration.js';

const NAME = 'work orders: maintenance tasks from the agents, open until a technician closes them';

const table = (big: string): string => `
  CREATE TABLE work_orders (
    id TEXT PRIMARY KEY, site TEXT NOT NULL, gateway TEXT NOT NULL, equipment TEXT NOT NULL,
    problem TEXT NOT NULL, task TEXT NOT NULL, urgency TEXT NOT NULL, source_agent TEXT NOT NULL,
    dedupe_key TEXT NOT NULL, state TEXT NOT NULL, created_at ${big} NOT NULL, updated_at ${big} NOT NULL,
    seen INTEGER NOT NULL, closed_by TEXT, closed_at ${big}, note TEXT
  );
  CREATE INDEX work_orders_state ON work_orders (state, site, created_at);
  CREATE UNIQUE INDEX work_orders_open_key ON work_orders (dedupe_key) WHERE state = 'open';
`;

const CONDITION = 'work orders: when the condition was last seen and when it cleared, so a closed order stays closed until it clears and comes back';

// Rows from before 51 count as seen at their last update and not cleared.
const condition = (big: string): string => `
  ALTER TABLE work_orders ADD COLUMN last_seen_at ${big};
  ALTER TABLE work_orders ADD COLUMN cleared_at ${big};
  UPDATE work_orders SET last_seen_at = updated_at;
  CREATE INDEX work_orders_key ON work_orders (dedupe_key, created_at);
`;

const SQLITE: readonly Migration[] = [
  { version: 50, name: NAME, sql: table('INTEGER') },
  { version: 51, name: CONDITION, sql: condition('INTEGER') },
];
const POSTGRES: readonly Migration[] = [
  { version: 50, name: NAME, sql: table('BIGINT') },
  { version: 51, name: CONDITION, sql: condition('BIGINT') },
];

export const WORK_ORDER_MIGRATIONS: FeatureMigrations = { feature: 'hub/work-orders', versions: [50, 59], sqlite: SQLITE, postgres: POSTGRES };
