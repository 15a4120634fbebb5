/**
 * One schema migration, for either backend: the store applies the ones it has not applied yet, in
 * version order, each in its own transaction. Features register theirs in hub/db/migrations.ts.
 */
import type { Database } from 'better-sqlite3';
import type pg from 'pg';
import { SwarmgateError } from '../../shared/kit/errors.js';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
  /** SQLite: data conversion run after `sql`, in the same transaction. */
  readonly run?: (db: Database) => void;
  /** PostgreSQL: data conversion run after `sql`, in the same transaction (tables in `schema`). */
  readonly convert?: (client: pg.ClientBase, schema: string) => Promise<void>;
}

/**
 * Refuses a database that a newer hub release migrated (an applied version this release does not
 * know: above its newest, or a newer migration of a feature whose range lies below it, as
 * quarantine's 62 under core's 129), before anything is written to it. An older release does not know the
 * newer tables: it would write telemetry, review items and sessions past them (rows the newer
 * release's constraints would have refused), or fail on tables that were renamed, after its
 * broker had already acknowledged the gateways' batches. `known` must be the whole schema of this
 * release (core and every feature), or a database the features migrated would look newer.
 */
export function refuseNewerSchema(applied: Iterable<number>, known: readonly Migration[], where: string): void {
  const newest = known.reduce((max, m) => Math.max(max, m.version), 0);
  const versions = new Set(known.map((m) => m.version));
  const unknown = [...applied].filter((v) => !versions.has(v)).sort((a, b) => a - b);
  if (unknown.length === 0) return;
  throw new SwarmgateError(
    'SWG_ERR_HUB_STORE_NEWER',
    `${where} was migrated by a newer hub release (schema version${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}, which this release does not know; its newest is ${newest}): refusing to open it, so nothing this release writes can miss the newer tables`,
    { details: { newest, unknown } },
  );
}
