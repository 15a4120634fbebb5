/** Opens the configured store. */
import type { Logger } from '../../shared/log.js';
import type { PostgresStoreOptions } from './postgres.js';
import { PostgresStore } from './postgres.js';
import { SqliteStore } from './sqlite.js';
import type { Migration } from './sqlite-migrations.js';
import type { HubStore, RetentionPolicy } from './types.js';

export type StoreConfig =
  | { readonly kind: 'sqlite'; readonly path: string; readonly flushMs?: number; readonly fsync?: boolean }
  | { readonly kind: 'postgres'; readonly url?: string; readonly schema?: string };

export interface OpenStoreOptions {
  retention?: RetentionPolicy;
  postgres?: Partial<PostgresStoreOptions>;
  logger?: Logger;
  /** Migrations applied after the core schema, per store kind: the caller's feature tables (hub/db/migrations.ts). */
  migrations?: (kind: 'sqlite' | 'postgres') => Migration[];
}

export async function openStore(config: StoreConfig, options: OpenStoreOptions = {}): Promise<HubStore> {
  if (config.kind === 'sqlite') {
    return SqliteStore.open({ path: config.path, flushMs: config.flushMs, fsync: config.fsync, retention: options.retention, migrations: options.migrations?.('sqlite') ?? [], logger: options.logger });
  }
  return PostgresStore.open({ logger: options.logger, ...options.postgres, url: config.url, schema: config.schema, retention: options.retention, migrations: options.migrations?.('postgres') ?? [] });
}

export * from './types.js';
export { SqliteStore, type SqliteStoreOptions } from './sqlite.js';
export { PostgresStore, type PostgresStoreOptions } from './postgres.js';
export type { Migration } from './sqlite-migrations.js';
