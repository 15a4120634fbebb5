/**
 * Gateway enrollment (versions 90-99): one-time tokens (only the sha256 of their secret) and the
 * gateways that enrolled with them (their public key, and whether they were revoked). Both
 * dialects side by side. Append new versions, never edit applied ones.
 */
import type { FeatureMigrations } from '../db/migrations.js';
import type { Migration } from '../store/migration.js';

const NAME = 'enrollment tokens and enrolled gateways';

const tables = (int: string): string => `
  CREATE TABLE enrollment_tokens (
    id TEXT PRIMARY KEY, site TEXT NOT NULL, gateway TEXT, secret_hash TEXT NOT NULL,
    created_at ${int} NOT NULL, created_by TEXT NOT NULL, expires_at ${int} NOT NULL,
    used_at ${int}, used_by TEXT, revoked_at ${int}, revoked_by TEXT, note TEXT
  );
  CREATE INDEX enrollment_tokens_site ON enrollment_tokens (site, created_at);
  CREATE TABLE enrolled_gateways (
    gateway TEXT PRIMARY KEY, site TEXT NOT NULL, key_fingerprint TEXT NOT NULL, public_key TEXT NOT NULL,
    token_id TEXT NOT NULL, hostname TEXT, enrolled_at ${int} NOT NULL, revoked_at ${int}, revoked_by TEXT
  );
`;

/** A token that may move its bound gateway from another site (said so when it was made). */
const MOVE_SITE = { version: 91, name: 'enrollment: tokens that may move their gateway to their site', sql: 'ALTER TABLE enrollment_tokens ADD COLUMN move_site INTEGER NOT NULL DEFAULT 0;' };

const SQLITE: readonly Migration[] = [{ version: 90, name: NAME, sql: tables('INTEGER') }, MOVE_SITE];
const POSTGRES: readonly Migration[] = [{ version: 90, name: NAME, sql: tables('BIGINT') }, MOVE_SITE];

export const ENROLLMENT_MIGRATIONS: FeatureMigrations = { feature: 'hub/enrollment', versions: [90, 99], sqlite: SQLITE, postgres: POSTGRES };
