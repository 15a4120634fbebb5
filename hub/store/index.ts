/** Opens the configured store. */
import type { Logger } from '../../shared/log.js';
import { featureMigrations } from '../migrations.js';
import type { PostgresStoreOptions } from './postgres.js';
import { PostgresStore } from './postgres.js';
import { SqliteStore } from './sqlite.js';
import type { HubStore, RetentionPolicy } from './types.js';

export type StoreConfig =
  | { readonly kind: 'sqlite'; readonly path: string; readonly flushMs?: number; readonly fsync?: boolean }
  | { readonly kind: 'postgres'; readonly url?: string; readonly schema?: string };

export async function openStore(config: StoreConfig, options: { retention?: RetentionPolicy; postgres?: Partial<PostgresStoreOptions>; logger?: Logger } = {}): Promise<HubStore> {
  // Feature tables (review queue, agent state, web API users) come with every store the hub opens.
  if (config.kind === 'sqlite') {
    return SqliteStore.open({ path: config.path, flushMs: config.flushMs, fsync: config.fsync, retention: options.retention, migrations: featureMigrations('sqlite'), logger: options.logger });
  }
  return PostgresStore.open({ logger: options.logger, ...options.postgres, url: config.url, schema: config.schema, retention: options.retention, migrations: featureMigrations('postgres') });
}

/** Adds the feature tables to a store opened without them (startHub with a caller's store). */
export async function applyFeatureMigrations(store: HubStore): Promise<void> {
  if (store instanceof SqliteStore) await store.applyMigrations(featureMigrations('sqlite'));
  else if (store instanceof PostgresStore) await store.applyMigrations(featureMigrations('postgres'));
}

export * from './types.js';
export { SqliteStore, type SqliteStoreOptions } from './sqlite.js';
export { PostgresStore, type PostgresStoreOptions } from './postgres.js';
export type { Migration } from './sqlite-migrations.js';
