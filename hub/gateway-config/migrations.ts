/**
 * Remote gateway configuration (versions 40-49): per gateway, the desired document the hub last
 * published and the last document the gateway reported. Both dialects side by side.
 * Append new versions, never edit applied ones.
 */
import type { FeatureMigrations } from '../db/migrations.js';
import type { Migration } from '../store/migration.js';

const NAME = 'gateway config: desired and reported documents';

const SQLITE: readonly Migration[] = [
  {
    version: 40,
    name: NAME,
    sql: `
      CREATE TABLE gateway_config (
        gateway TEXT NOT NULL, kind TEXT NOT NULL, site TEXT NOT NULL, version INTEGER NOT NULL,
        doc TEXT NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (gateway, kind)
      );
    `,
  },
];

const POSTGRES: readonly Migration[] = [
  {
    version: 40,
    name: NAME,
    sql: `
      CREATE TABLE gateway_config (
        gateway TEXT NOT NULL, kind TEXT NOT NULL, site TEXT NOT NULL, version BIGINT NOT NULL,
        doc TEXT NOT NULL, updated_at BIGINT NOT NULL, PRIMARY KEY (gateway, kind)
      );
    `,
  },
];

export const GATEWAY_CONFIG_MIGRATIONS: FeatureMigrations = { feature: 'hub/gateway-config', versions: [40, 49], sqlite: SQLITE, postgres: POSTGRES };
