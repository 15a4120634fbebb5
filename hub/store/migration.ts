/**
 * One schema migration, for either backend: the store applies the ones it has not applied yet, in
 * version order, each in its own transaction. Features register theirs in hub/db/migrations.ts.
 */
import type { Database } from 'better-sqlite3';
import type pg from 'pg';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
  /** SQLite: data conversion run after `sql`, in the same transaction. */
  readonly run?: (db: Database) => void;
  /** PostgreSQL: data conversion run after `sql`, in the same transaction (tables in `schema`). */
  readonly convert?: (client: pg.ClientBase, schema: string) => Promise<void>;
}
