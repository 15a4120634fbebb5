/** Opens the configured store. */
import type { Logger } from '../../shared/kit/log.js';
import type { PostgresStoreOptions } from './postgres/postgres.js';
import { PostgresStore } from './postgres/postgres.js';
import { SqliteStore } from './sqlite/sqlite.js';
import type { Migration } from './migration.js';
import type { HubStore, RetentionPolicy } from './types.js';

export type StoreConfig =
  | { readonly kind: 'sqlite'; readonly path: string; readonly flushMs?: number; readonly fsync?: boolean }
  | { readonly kind: 'postgres'; readonly url?: string; readonly schema?: string; readonly journal?: string; readonly flushMs?: number; readonly fsync?: boolean };

export interface OpenStoreOptions {
  retention?: RetentionPolicy;
  postgres?: Partial<PostgresStoreOptions>;
  logger?: Logger;
  /** Migrations applied after the core schema, per store kind: the caller's feature tables (hub/db/migrations.ts). */
  migrations?: (kind: 'sqlite' | 'postgres') => Migration[];
  /** The core schema and `migrations` are this release's whole schema: refuse a database a newer release migrated. */
  wholeSchema?: boolean;
}

type StoreOpener<K extends StoreConfig['kind']> = (config: Extract<StoreConfig, { kind: K }>, options: OpenStoreOptions) => Promise<HubStore>;

/**
 * The one place a store backend is registered: its `store.kind` and how to open it. A backend
 * implements HubStore (types.ts) and passes the store contract suite (test/hub/store/contract.ts);
 * its config variant sits beside the others in hub/config.ts (StoreConfigSchema).
 */
const STORES: { readonly [K in StoreConfig['kind']]: StoreOpener<K> } = {
  sqlite: async (config, options) =>
    SqliteStore.open({ path: config.path, flushMs: config.flushMs, fsync: config.fsync, retention: options.retention, migrations: options.migrations?.('sqlite') ?? [], wholeSchema: options.wholeSchema, logger: options.logger }),
  postgres: (config, options) =>
    PostgresStore.open({
      logger: options.logger,
      ...options.postgres,
      url: config.url,
      schema: config.schema,
      ...(config.journal === undefined ? {} : { journalDir: config.journal, flushMs: config.flushMs, fsync: config.fsync }),
      retention: options.retention,
      migrations: options.migrations?.('postgres') ?? [],
      wholeSchema: options.wholeSchema,
    }),
};

export async function openStore(config: StoreConfig, options: OpenStoreOptions = {}): Promise<HubStore> {
  const open = STORES[config.kind] as StoreOpener<StoreConfig['kind']>;
  return open(config as never, options);
}

export * from './types.js';
export { SqliteStore, type SqliteStoreOptions } from './sqlite/sqlite.js';
export { PostgresStore, type PostgresStoreOptions } from './postgres/postgres.js';
export type { Migration } from './migration.js';
