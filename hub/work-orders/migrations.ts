/**
 * Maintenance work orders (versions 50-59): what the equipment-health agent asks a technician to
 * do (inspect, service, check a compressor) when no command can fix it. Both dialects side by side.
 * Append new versions, never edit applied ones.
 */
import type { FeatureMigrations } from '../migrations.js';
import type { Migration } from '../store/sqlite-migrations.js';

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

const SQLITE: readonly Migration[] = [{ version: 50, name: NAME, sql: table('INTEGER') }];
const POSTGRES: readonly Migration[] = [{ version: 50, name: NAME, sql: table('BIGINT') }];

export const WORK_ORDER_MIGRATIONS: FeatureMigrations = { feature: 'hub/work-orders', versions: [50, 59], sqlite: SQLITE, postgres: POSTGRES };
