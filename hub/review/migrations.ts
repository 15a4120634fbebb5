/**
 * Review queue tables (versions 10-19): the items technicians decide on and the audit trail of
 * every change. `context` keeps what the executor needs beyond the public item (the hub's
 * consensus decision), `updated_at` lets other processes notice changes made elsewhere.
 */
import type { FeatureMigrations } from '../db/migrations.js';
import { onePendingPostgres, onePendingSqlite } from './one-pending.js';

const items = (json: string, real: string, big: string) => `
  CREATE TABLE review_items (
    id TEXT PRIMARY KEY, state TEXT NOT NULL, site TEXT NOT NULL, gateway TEXT NOT NULL,
    priority INTEGER NOT NULL, source TEXT NOT NULL, source_agent TEXT, action_class TEXT NOT NULL,
    action ${json} NOT NULL, modified_action ${json}, confidence ${real} NOT NULL, rationale TEXT NOT NULL,
    evidence ${json} NOT NULL, context ${json}, created_at ${big} NOT NULL, expires_at ${big} NOT NULL,
    decided_by TEXT, decided_at ${big}, reason TEXT, command_id TEXT, version INTEGER NOT NULL,
    updated_at ${big} NOT NULL
  );
  CREATE INDEX review_items_queue ON review_items (state, priority DESC, created_at);
  CREATE INDEX review_items_site ON review_items (site, state);
  CREATE INDEX review_items_updated ON review_items (updated_at);
`;

const GATEWAY_INDEX = 'CREATE INDEX review_items_gateway ON review_items (gateway, state);';
// One pending item per action across hub processes: 12 keys every item (and expires pending
// duplicates filed before, one-pending.ts), 13 makes the key unique among pending items.
const ACTION_KEY = { version: 12, name: 'review: action key of every item (pending duplicates expired)', sql: 'ALTER TABLE review_items ADD COLUMN action_key TEXT;' };
const ONE_PENDING = { version: 13, name: 'review: one pending item per action', sql: "CREATE UNIQUE INDEX review_items_one_pending ON review_items (action_key) WHERE state = 'pending';" };

export const REVIEW_MIGRATIONS: FeatureMigrations = {
  feature: 'review',
  versions: [10, 19],
  sqlite: [
    {
      version: 10,
      name: 'review: items and audit trail',
      sql: `${items('TEXT', 'REAL', 'INTEGER')}
        CREATE TABLE review_audit (
          seq INTEGER PRIMARY KEY AUTOINCREMENT, item_id TEXT NOT NULL, at INTEGER NOT NULL, actor TEXT NOT NULL,
          action TEXT NOT NULL, before TEXT, after TEXT NOT NULL, note TEXT
        );
        CREATE INDEX review_audit_item ON review_audit (item_id, seq);`,
    },
    { version: 11, name: 'review: items by gateway (one pending item per action)', sql: GATEWAY_INDEX },
    { ...ACTION_KEY, run: (db) => onePendingSqlite(db) },
    ONE_PENDING,
  ],
  postgres: [
    {
      version: 10,
      name: 'review: items and audit trail',
      sql: `${items('JSONB', 'DOUBLE PRECISION', 'BIGINT')}
        CREATE TABLE review_audit (
          seq BIGSERIAL PRIMARY KEY, item_id TEXT NOT NULL, at BIGINT NOT NULL, actor TEXT NOT NULL,
          action TEXT NOT NULL, before JSONB, after JSONB NOT NULL, note TEXT
        );
        CREATE INDEX review_audit_item ON review_audit (item_id, seq);`,
    },
    { version: 11, name: 'review: items by gateway (one pending item per action)', sql: GATEWAY_INDEX },
    { ...ACTION_KEY, convert: (client) => onePendingPostgres(client) },
    ONE_PENDING,
  ],
};
