/**
 * Versioned SQLite schema. Append new migrations (never edit applied ones); the review queue and
 * later features add their tables here with the next version number.
 */
import type { Migration } from '../migration.js';
import { convertLegacyReadings } from './series/legacy.js';

export const SQLITE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'core: batches, readings, latest, rollups, rollup levels, gaps, events, gateways, commands',
    sql: `
      CREATE TABLE batches (
        gateway TEXT NOT NULL, boot_id TEXT NOT NULL, seq INTEGER NOT NULL,
        received_at INTEGER NOT NULL, readings INTEGER NOT NULL, historical INTEGER NOT NULL,
        PRIMARY KEY (gateway, boot_id, seq)
      ) WITHOUT ROWID;
      CREATE INDEX batches_received ON batches (received_at);
      CREATE TABLE readings (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        gateway TEXT NOT NULL, device TEXT NOT NULL, point TEXT NOT NULL, ts INTEGER NOT NULL,
        num REAL, str TEXT, vtype TEXT NOT NULL, quality TEXT NOT NULL, cause TEXT
      );
      CREATE INDEX readings_point_ts ON readings (gateway, device, point, ts);
      CREATE INDEX readings_ts ON readings (ts);
      CREATE TABLE latest (
        gateway TEXT NOT NULL, device TEXT NOT NULL, point TEXT NOT NULL, ts INTEGER NOT NULL,
        num REAL, str TEXT, vtype TEXT NOT NULL, quality TEXT NOT NULL, cause TEXT,
        PRIMARY KEY (gateway, device, point)
      ) WITHOUT ROWID;
      CREATE TABLE rollups (
        bucket_s INTEGER NOT NULL, gateway TEXT NOT NULL, device TEXT NOT NULL, point TEXT NOT NULL,
        start INTEGER NOT NULL, sum REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL, count INTEGER NOT NULL,
        PRIMARY KEY (bucket_s, gateway, device, point, start)
      ) WITHOUT ROWID;
      CREATE TABLE rollup_levels (bucket_s INTEGER PRIMARY KEY, keep_days REAL NOT NULL);
      CREATE TABLE gaps (
        gateway TEXT NOT NULL, boot_id TEXT NOT NULL, from_seq INTEGER NOT NULL, to_seq INTEGER NOT NULL,
        readings_dropped INTEGER NOT NULL, from_ts INTEGER NOT NULL, to_ts INTEGER NOT NULL,
        reason TEXT NOT NULL, ts INTEGER NOT NULL, received_at INTEGER NOT NULL,
        PRIMARY KEY (gateway, boot_id, from_seq, to_seq)
      ) WITHOUT ROWID;
      CREATE TABLE events (
        id TEXT PRIMARY KEY, gateway TEXT NOT NULL, site TEXT NOT NULL, ts INTEGER NOT NULL,
        kind TEXT NOT NULL, severity TEXT NOT NULL, device TEXT, point TEXT, message TEXT NOT NULL,
        data TEXT, received_at INTEGER NOT NULL
      );
      CREATE INDEX events_gateway_ts ON events (gateway, ts);
      CREATE INDEX events_ts ON events (ts);
      CREATE TABLE gateways (
        gateway TEXT PRIMARY KEY, site TEXT NOT NULL, status TEXT, first_seen INTEGER NOT NULL,
        last_seen INTEGER, state_ts INTEGER, boot_id TEXT, version TEXT, health TEXT, devices TEXT
      );
      CREATE TABLE commands (
        id TEXT PRIMARY KEY, gateway TEXT NOT NULL, site TEXT NOT NULL, command TEXT NOT NULL,
        status TEXT NOT NULL, attempts INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
        deadline INTEGER, code TEXT, reason TEXT, duplicate INTEGER, acked_at INTEGER
      );
      CREATE INDEX commands_gateway ON commands (gateway, created_at);
      CREATE INDEX commands_status ON commands (status);
    `,
  },
  {
    version: 2,
    name: 'core: per-point history as columnar chunks (series, chunks); the readings table is converted, then dropped',
    sql: `
      CREATE TABLE series (
        id INTEGER PRIMARY KEY, gateway TEXT NOT NULL, device TEXT NOT NULL, point TEXT NOT NULL,
        UNIQUE (gateway, device, point)
      );
      CREATE TABLE chunks (
        id INTEGER PRIMARY KEY, series INTEGER NOT NULL REFERENCES series (id), ord INTEGER NOT NULL,
        t_min INTEGER NOT NULL, t_max INTEGER NOT NULL, n INTEGER NOT NULL,
        agg_n INTEGER NOT NULL, agg_sum REAL, agg_min REAL, agg_max REAL,
        ts BLOB NOT NULL, num BLOB NOT NULL, meta TEXT, flushed_at INTEGER NOT NULL
      );
      CREATE INDEX chunks_series_t ON chunks (series, t_min);
      CREATE INDEX chunks_t ON chunks (t_min);
      CREATE INDEX chunks_small ON chunks (series, flushed_at) WHERE n < 256;
      CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    `,
    run: (db) => void convertLegacyReadings(db),
  },
  {
    // Version 3 on both stores. Keys stored before it have no hash: a repeat of one is a plain duplicate.
    version: 3,
    name: 'core: a hash of each batch\'s readings with its key, to tell a conflicting repeat from a duplicate',
    sql: 'ALTER TABLE batches ADD COLUMN content_hash TEXT;',
  },
  {
    // Version 6 on both stores (4 and 5 are PostgreSQL's chunk partitions).
    version: 6,
    name: 'core: events by the time the hub stored them (catching up on what other hub processes stored)',
    sql: 'CREATE INDEX events_received ON events (received_at);',
  },
];
