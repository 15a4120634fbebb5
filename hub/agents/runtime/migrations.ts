/**
 * Agent learning state (versions 30-39): decisions already executed (so a restart never repeats
 * one), track records (so learned weights survive a restart) and the agent bus audit trail.
 */
import type { FeatureMigrations } from '../../db/migrations.js';

const tables = (real: string, big: string, json: string, serial: string) => `
  CREATE TABLE agent_executed (key TEXT PRIMARY KEY, claimed_at ${big} NOT NULL);
  CREATE TABLE agent_track_records (
    agent TEXT NOT NULL, domain TEXT NOT NULL, alpha ${real} NOT NULL, beta ${real} NOT NULL,
    n INTEGER NOT NULL, updated_at ${big} NOT NULL, PRIMARY KEY (agent, domain)
  );
  CREATE TABLE agent_audit (
    id ${serial}, seq ${big} NOT NULL, recorded_at ${big} NOT NULL, type TEXT NOT NULL, sender TEXT NOT NULL,
    correlation_id TEXT, message ${json} NOT NULL, recipients ${json} NOT NULL, failures ${json} NOT NULL
  );
  CREATE INDEX agent_audit_time ON agent_audit (recorded_at);
  CREATE INDEX agent_audit_correlation ON agent_audit (correlation_id);
`;

export const AGENT_STATE_MIGRATIONS: FeatureMigrations = {
  feature: 'agents',
  versions: [30, 39],
  sqlite: [{ version: 30, name: 'agents: executed set, track records, bus audit', sql: tables('REAL', 'INTEGER', 'TEXT', 'INTEGER PRIMARY KEY AUTOINCREMENT') }],
  postgres: [{ version: 30, name: 'agents: executed set, track records, bus audit', sql: tables('DOUBLE PRECISION', 'BIGINT', 'JSONB', 'BIGSERIAL PRIMARY KEY') }],
};
