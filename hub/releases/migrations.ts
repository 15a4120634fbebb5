/**
 * Software releases and deployments (versions 80-89): the releases the hub holds (manifest; the
 * artifact lives as a file in releases.dir), deployments, and each gateway's progress in one.
 * Both dialects side by side. Append new versions, never edit applied ones.
 */
import type { FeatureMigrations } from '../db/migrations.js';
import type { Migration } from '../store/migration.js';

const NAME = 'releases, deployments and per-gateway update progress';

const tables = (int: string): string => `
  CREATE TABLE releases (
    version TEXT PRIMARY KEY, manifest TEXT NOT NULL, size ${int} NOT NULL, sha256 TEXT NOT NULL,
    state TEXT NOT NULL, created_at ${int} NOT NULL, uploaded_at ${int}
  );
  CREATE TABLE deployments (
    id TEXT PRIMARY KEY, version TEXT NOT NULL, target TEXT NOT NULL, canary ${int} NOT NULL,
    max_failures ${int} NOT NULL, state TEXT NOT NULL, reason TEXT, created_by TEXT NOT NULL,
    created_at ${int} NOT NULL, updated_at ${int} NOT NULL
  );
  CREATE TABLE deployment_gateways (
    deployment TEXT NOT NULL, gateway TEXT NOT NULL, site TEXT NOT NULL, wave ${int} NOT NULL,
    state TEXT NOT NULL, token_hash TEXT, from_version TEXT, code TEXT, reason TEXT,
    updated_at ${int} NOT NULL, PRIMARY KEY (deployment, gateway)
  );
  CREATE INDEX deployment_gateways_token ON deployment_gateways (token_hash);
`;

// A later deployment to the same gateway supersedes the earlier one's unfinished row: which one did.
const SUPERSEDED_BY = { version: 81, name: 'deployments: the deployment that superseded a gateway row', sql: 'ALTER TABLE deployment_gateways ADD COLUMN superseded_by TEXT;' };

// A deployment that goes back to an older release says so (gateways refuse one otherwise).
const DOWNGRADE = { version: 82, name: 'deployments: whether a deployment may go back to an older release', sql: 'ALTER TABLE deployments ADD COLUMN allow_downgrade INTEGER NOT NULL DEFAULT 0;' };

const SQLITE: readonly Migration[] = [{ version: 80, name: NAME, sql: tables('INTEGER') }, SUPERSEDED_BY, DOWNGRADE];
const POSTGRES: readonly Migration[] = [{ version: 80, name: NAME, sql: tables('BIGINT') }, SUPERSEDED_BY, DOWNGRADE];

export const RELEASES_MIGRATIONS: FeatureMigrations = { feature: 'hub/releases', versions: [80, 89], sqlite: SQLITE, postgres: POSTGRES };
