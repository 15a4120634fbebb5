/**
 * Versioned PostgreSQL schema, same tables and columns as the SQLite one. Tables are created in
 * the store's schema (first on the search_path). Append new migrations, never edit applied ones.
 */
import type { Migration } from '../migration.js';

export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'core: batches, readings, latest, rollups, rollup levels, gaps, events, gateways, commands',
    sql: `
      CREATE TABLE batches (
        gateway TEXT NOT NULL, boot_id TEXT NOT NULL, seq BIGINT NOT NULL,
        received_at BIGINT NOT NULL, readings INTEGER NOT NULL, historical BOOLEAN NOT NULL,
        PRIMARY KEY (gateway, boot_id, seq)
      );
      CREATE INDEX batches_received ON batches (received_at);
      CREATE TABLE readings (
        id BIGSERIAL PRIMARY KEY,
        gateway TEXT NOT NULL, device TEXT NOT NULL, point TEXT NOT NULL, ts BIGINT NOT NULL,
        num DOUBLE PRECISION, str TEXT, vtype TEXT NOT NULL, quality TEXT NOT NULL, cause TEXT
      );
      CREATE INDEX readings_point_ts ON readings (gateway, device, point, ts);
      CREATE INDEX readings_ts ON readings (ts);
      CREATE TABLE latest (
        gateway TEXT NOT NULL, device TEXT NOT NULL, point TEXT NOT NULL, ts BIGINT NOT NULL,
        num DOUBLE PRECISION, str TEXT, vtype TEXT NOT NULL, quality TEXT NOT NULL, cause TEXT,
        PRIMARY KEY (gateway, device, point)
      );
      CREATE TABLE rollups (
        bucket_s INTEGER NOT NULL, gateway TEXT NOT NULL, device TEXT NOT NULL, point TEXT NOT NULL,
        start BIGINT NOT NULL, sum DOUBLE PRECISION NOT NULL, min DOUBLE PRECISION NOT NULL,
        max DOUBLE PRECISION NOT NULL, count BIGINT NOT NULL,
        PRIMARY KEY (bucket_s, gateway, device, point, start)
      );
      CREATE TABLE rollup_levels (bucket_s INTEGER PRIMARY KEY, keep_days DOUBLE PRECISION NOT NULL);
      CREATE TABLE gaps (
        gateway TEXT NOT NULL, boot_id TEXT NOT NULL, from_seq BIGINT NOT NULL, to_seq BIGINT NOT NULL,
        readings_dropped BIGINT NOT NULL, from_ts BIGINT NOT NULL, to_ts BIGINT NOT NULL,
        reason TEXT NOT NULL, ts BIGINT NOT NULL, received_at BIGINT NOT NULL,
        PRIMARY KEY (gateway, boot_id, from_seq, to_seq)
      );
      CREATE TABLE events (
        id TEXT PRIMARY KEY, gateway TEXT NOT NULL, site TEXT NOT NULL, ts BIGINT NOT NULL,
        kind TEXT NOT NULL, severity TEXT NOT NULL, device TEXT, point TEXT, message TEXT NOT NULL,
        data JSONB, received_at BIGINT NOT NULL
      );
      CREATE INDEX events_gateway_ts ON events (gateway, ts);
      CREATE INDEX events_ts ON events (ts);
      CREATE TABLE gateways (
        gateway TEXT PRIMARY KEY, site TEXT NOT NULL, status TEXT, first_seen BIGINT NOT NULL,
        last_seen BIGINT, state_ts BIGINT, boot_id TEXT, version TEXT, health JSONB, devices JSONB
      );
      CREATE TABLE commands (
        id TEXT PRIMARY KEY, gateway TEXT NOT NULL, site TEXT NOT NULL, command JSONB NOT NULL,
        status TEXT NOT NULL, attempts INTEGER NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
        deadline BIGINT, code TEXT, reason TEXT, duplicate BOOLEAN, acked_at BIGINT
      );
      CREATE INDEX commands_gateway ON commands (gateway, created_at);
      CREATE INDEX commands_status ON commands (status);
    `,
  },
  // Version 2 is the SQLite store's chunk format; version 3 is the same change on both stores.
  {
    version: 3,
    name: 'core: a hash of each batch\'s readings with its key, to tell a conflicting repeat from a duplicate',
    sql: 'ALTER TABLE batches ADD COLUMN content_hash TEXT;',
  },
];
