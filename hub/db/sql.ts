/**
 * The hub's one SQL adapter: the few SQL calls the features' own tables need (API, agents,
 * work orders, gateway config, quarantine), on whichever store the hub runs (SQLite or
 * PostgreSQL). Statements use `?` placeholders; PostgreSQL gets them renumbered to $1..$n.
 * Writes that must report what changed use RETURNING (both databases support it).
 */
import type { Statement } from 'better-sqlite3';
import { SwarmgateError } from '../../shared/kit/errors.js';
import { PostgresStore } from '../store/postgres/postgres.js';
import { SqliteStore } from '../store/sqlite/sqlite.js';
import { numberPlaceholders } from '../store/rows.js';
import type { HubStore } from '../store/types.js';

export type SqlValue = string | number | null;
export type SqlRow = Record<string, unknown>;

export interface Sql {
  all(sql: string, args?: readonly SqlValue[]): Promise<SqlRow[]>;
}

export function sqlFor(store: HubStore): Sql {
  if (store instanceof SqliteStore) {
    const db = store.database;
    const cache = new Map<string, Statement<unknown[]>>();
    return {
      all: async (sql, args = []) => {
        let stmt = cache.get(sql);
        if (!stmt) {
          stmt = db.prepare(sql);
          cache.set(sql, stmt);
        }
        const a = [...args] as SqlValue[];
        return stmt.reader ? (stmt.all(a) as SqlRow[]) : (stmt.run(a), []);
      },
    };
  }
  if (store instanceof PostgresStore) return { all: (sql, args = []) => store.query(numberPlaceholders(sql), [...args]) };
  throw new SwarmgateError('SWG_ERR_HUB_STORE', `the hub's features need the SQLite or PostgreSQL store, not "${store.kind}"`);
}

export function str(row: SqlRow, key: string): string {
  const v = row[key];
  return typeof v === 'string' ? v : String(v ?? '');
}

export function num(row: SqlRow, key: string): number {
  return Number(row[key]);
}

export function optNum(row: SqlRow, key: string): number | undefined {
  const v = row[key];
  return v === null || v === undefined ? undefined : Number(v);
}
