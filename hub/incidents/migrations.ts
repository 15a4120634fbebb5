/**
 * Incidents (versions 110-119): anomaly events the emergence monitor grouped, one row per
 * incident (fleet or equipment) and one per member event. Both dialects side by side. Append new
 * versions, never edit applied ones.
 */
import type { FeatureMigrations } from '../db/migrations.js';
import type { Migration } from '../store/migration.js';

const NAME = 'incidents: anomaly events grouped into fleet and equipment incidents';

const tables = (big: string): string => `
  CREATE TABLE incidents (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, scope TEXT NOT NULL, state TEXT NOT NULL,
    site TEXT, sites TEXT NOT NULL, signatures TEXT NOT NULL, tags TEXT NOT NULL, unit TEXT,
    cause TEXT NOT NULL, release_version TEXT, first_seen ${big} NOT NULL, last_seen ${big} NOT NULL,
    gateways INTEGER NOT NULL, members INTEGER NOT NULL, population INTEGER,
    merged_into TEXT, closed_at ${big}, updated_at ${big} NOT NULL
  );
  CREATE INDEX incidents_state ON incidents (state, last_seen);
  CREATE TABLE incident_members (
    event_id TEXT PRIMARY KEY, incident_id TEXT NOT NULL, ts ${big} NOT NULL, site TEXT NOT NULL,
    gateway TEXT NOT NULL, device TEXT, point TEXT, signature TEXT NOT NULL, severity TEXT NOT NULL
  );
  CREATE INDEX incident_members_incident ON incident_members (incident_id, ts);
  CREATE INDEX incident_members_site ON incident_members (site, incident_id);
`;

// A member's gateway's software version: the release hint of a rollout's incident, after a restart too.
const VERSION = { version: 111, name: 'incidents: the software version of each member event\'s gateway', sql: 'ALTER TABLE incident_members ADD COLUMN version TEXT;' };

const SQLITE: readonly Migration[] = [{ version: 110, name: NAME, sql: tables('INTEGER') }, VERSION];
const POSTGRES: readonly Migration[] = [{ version: 110, name: NAME, sql: tables('BIGINT') }, VERSION];

export const INCIDENT_MIGRATIONS: FeatureMigrations = { feature: 'hub/incidents', versions: [110, 119], sqlite: SQLITE, postgres: POSTGRES };
