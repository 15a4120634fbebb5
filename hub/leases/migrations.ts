/**
 * Leases (versions 100-109): work that must run once however many hub processes share the store
 * (the agents of a site, retention) is done by the holder of its lease. Both dialects side by
 * side; append new versions, never edit applied ones.
 */
import type { FeatureMigrations } from '../db/migrations.js';
import type { Migration } from '../store/migration.js';

const NAME = 'leases: work done by one hub process at a time';
const table = (int: string): string => `
  CREATE TABLE leases (
    name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at ${int} NOT NULL,
    acquired_at ${int} NOT NULL, renewed_at ${int} NOT NULL
  );
`;

const SQLITE: readonly Migration[] = [{ version: 100, name: NAME, sql: table('INTEGER') }];
const POSTGRES: readonly Migration[] = [{ version: 100, name: NAME, sql: table('BIGINT') }];

export const LEASE_MIGRATIONS: FeatureMigrations = { feature: 'hub/leases', versions: [100, 109], sqlite: SQLITE, postgres: POSTGRES };
