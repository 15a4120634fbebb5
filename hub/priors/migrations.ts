/**
 * Fleet detector priors (versions 120-129): what gateways' anomaly detectors learned, per profile
 * point key, every published version kept (the newest is served). Both dialects side by side.
 * Append new versions, never edit applied ones.
 */
import type { FeatureMigrations } from '../db/migrations.js';
import type { Migration } from '../store/migration.js';

const NAME = 'detector priors: versioned fleet priors per profile point key';

const table = (big: string): string => `
  CREATE TABLE detector_priors (
    prior_key TEXT NOT NULL, version INTEGER NOT NULL, site TEXT NOT NULL, gateway TEXT NOT NULL,
    device TEXT NOT NULL, point TEXT NOT NULL, readings ${big} NOT NULL, created_at ${big} NOT NULL,
    received_at ${big} NOT NULL, bytes INTEGER NOT NULL, document TEXT NOT NULL,
    PRIMARY KEY (prior_key, version)
  );
`;

const FLEET = 'fleet priors: the prior served per key, chosen from the sharing gateways\' priors, every version kept';

const fleet = (big: string): string => `
  CREATE TABLE fleet_priors (
    prior_key TEXT NOT NULL, version INTEGER NOT NULL, built_at ${big} NOT NULL, source TEXT NOT NULL,
    source_version INTEGER NOT NULL, members INTEGER NOT NULL, verdicts TEXT NOT NULL, bytes INTEGER NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (prior_key, version)
  );
`;

const BASIS = 'fleet priors: the newest published version each was chosen from (a rebuild that read fewer members never writes last)';
const basis = 'ALTER TABLE fleet_priors ADD COLUMN basis INTEGER NOT NULL DEFAULT 0;';

const SQLITE: readonly Migration[] = [
  { version: 120, name: NAME, sql: table('INTEGER') },
  { version: 121, name: FLEET, sql: fleet('INTEGER') },
  { version: 122, name: BASIS, sql: basis },
];
const POSTGRES: readonly Migration[] = [
  { version: 120, name: NAME, sql: table('BIGINT') },
  { version: 121, name: FLEET, sql: fleet('BIGINT') },
  { version: 122, name: BASIS, sql: basis },
];

export const PRIOR_MIGRATIONS: FeatureMigrations = { feature: 'hub/priors', versions: [120, 129], sqlite: SQLITE, postgres: POSTGRES };
