/**
 * Tables of the web API (versions 20-29): users, login sessions, API tokens, the audit of who did
 * what, and planner objectives with their plans. Both dialects side by side so they stay alike.
 * Append new versions, never edit applied ones.
 */
import type { FeatureMigrations } from '../db/migrations.js';
import type { Migration } from '../store/migration.js';

const NAME = 'api: users, sessions, tokens, audit, plans';

const SQLITE: readonly Migration[] = [
  {
    version: 20,
    name: NAME,
    sql: `
      CREATE TABLE api_users (
        username TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
      );
      CREATE TABLE api_sessions (
        id_hash TEXT PRIMARY KEY, username TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL
      );
      CREATE INDEX api_sessions_user ON api_sessions (username);
      CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, secret_hash TEXT NOT NULL,
        created_by TEXT NOT NULL, created_at INTEGER NOT NULL, last_used_at INTEGER, revoked_at INTEGER
      );
      CREATE TABLE api_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, actor TEXT NOT NULL, via TEXT NOT NULL,
        action TEXT NOT NULL, target TEXT, detail TEXT, ip TEXT
      );
      CREATE INDEX api_audit_ts ON api_audit (ts);
      CREATE TABLE api_plans (
        id TEXT PRIMARY KEY, site TEXT NOT NULL, status TEXT NOT NULL, objective TEXT NOT NULL, plan TEXT NOT NULL,
        created_by TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
      );
    `,
  },
];

const POSTGRES: readonly Migration[] = [
  {
    version: 20,
    name: NAME,
    sql: `
      CREATE TABLE api_users (
        username TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL
      );
      CREATE TABLE api_sessions (
        id_hash TEXT PRIMARY KEY, username TEXT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL
      );
      CREATE INDEX api_sessions_user ON api_sessions (username);
      CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, secret_hash TEXT NOT NULL,
        created_by TEXT NOT NULL, created_at BIGINT NOT NULL, last_used_at BIGINT, revoked_at BIGINT
      );
      CREATE TABLE api_audit (
        id BIGSERIAL PRIMARY KEY, ts BIGINT NOT NULL, actor TEXT NOT NULL, via TEXT NOT NULL,
        action TEXT NOT NULL, target TEXT, detail TEXT, ip TEXT
      );
      CREATE INDEX api_audit_ts ON api_audit (ts);
      CREATE TABLE api_plans (
        id TEXT PRIMARY KEY, site TEXT NOT NULL, status TEXT NOT NULL, objective TEXT NOT NULL, plan TEXT NOT NULL,
        created_by TEXT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL
      );
    `,
  },
];

export const API_MIGRATIONS: FeatureMigrations = { feature: 'hub/api', versions: [20, 29], sqlite: SQLITE, postgres: POSTGRES };
