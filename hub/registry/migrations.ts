/**
 * The point index (versions 70-79): every point a gateway's birth describes (with a unit,
 * Haystack tags or as writable), and one row per marker so "every point with discharge, air and temp" is an
 * indexed lookup. Both dialects side by side. Append new versions, never edit applied ones.
 */
import type { FeatureMigrations } from '../db/migrations.js';
import type { Migration } from '../store/migration.js';

const NAME = 'registry: point index with Haystack markers';

const tables = (big: string): string => `
  CREATE TABLE point_index (
    gateway TEXT NOT NULL, device TEXT NOT NULL, point TEXT NOT NULL, site TEXT NOT NULL,
    unit TEXT, tags TEXT NOT NULL, updated_at ${big} NOT NULL,
    PRIMARY KEY (gateway, device, point)
  );
  CREATE INDEX point_index_site ON point_index (site, gateway, device, point);
  CREATE TABLE point_markers (
    marker TEXT NOT NULL, gateway TEXT NOT NULL, device TEXT NOT NULL, point TEXT NOT NULL,
    PRIMARY KEY (marker, gateway, device, point)
  );
  CREATE INDEX point_markers_point ON point_markers (gateway, device, point);
`;

/**
 * 71: whether each point is writable and its write limits, as the birth states them. NULL
 * writable: the birth did not say (a gateway older than the field), so nothing is refused on it.
 */
const WRITES = 'registry: writable points and their write limits';
const writes = (real: string): string => `
  ALTER TABLE point_index ADD COLUMN writable INTEGER;
  ALTER TABLE point_index ADD COLUMN min_value ${real};
  ALTER TABLE point_index ADD COLUMN max_value ${real};
`;

const SQLITE: readonly Migration[] = [
  { version: 70, name: NAME, sql: tables('INTEGER') },
  { version: 71, name: WRITES, sql: writes('REAL') },
];
const POSTGRES: readonly Migration[] = [
  { version: 70, name: NAME, sql: tables('BIGINT') },
  { version: 71, name: WRITES, sql: writes('DOUBLE PRECISION') },
];

export const REGISTRY_MIGRATIONS: FeatureMigrations = { feature: 'hub/registry', versions: [70, 79], sqlite: SQLITE, postgres: POSTGRES };
