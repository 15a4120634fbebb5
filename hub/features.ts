/**
 * The hub's features that own tables, registered in ONE list: each feature owns a block of schema
 * versions (rules in hub/db/migrations.ts) and gives the same tables for both stores; startHub and
 * the CLI open the store through openHubStore, which hands them to openStore to apply after the
 * core schema (the store itself imports no feature).
 *   10-19 review queue and its audit trail (hub/review)
 *   20-29 web API users and tokens (hub/api)
 *   30-39 agent learning state: executed set, track records, bus audit (hub/agents/runtime)
 *   40-49 remote gateway configuration: desired and reported documents (hub/gateway-config)
 *   50-59 maintenance work orders from the agents (hub/work-orders)
 *   60-69 messages ingest refused, kept for inspection (hub/quarantine)
 *   70-79 the point index: units and Haystack tags from the births (hub/registry)
 *   80-89 software releases, deployments and per-gateway update progress (hub/releases)
 *   90-99 gateway enrollment: one-time tokens, enrolled gateways (hub/enrollment)
 *   100-109 leases: work one hub process does at a time (agents per site, retention) (hub/leases)
 *   110-119 incidents: anomaly events grouped into fleet and equipment incidents (hub/incidents)
 *   120-129 fleet detector priors per profile point key, versioned (hub/priors)
 * Add a feature with ONE line in FEATURES; never edit a migration that has shipped.
 */
import { AGENT_STATE_MIGRATIONS } from './agents/runtime/migrations.js';
import { API_MIGRATIONS } from './api/migrations.js';
import { GATEWAY_CONFIG_MIGRATIONS } from './gateway-config/migrations.js';
import { REVIEW_MIGRATIONS } from './review/migrations.js';
import { WORK_ORDER_MIGRATIONS } from './work-orders/migrations.js';
import { QUARANTINE_MIGRATIONS } from './quarantine/migrations.js';
import { REGISTRY_MIGRATIONS } from './registry/migrations.js';
import { ENROLLMENT_MIGRATIONS } from './enrollment/migrations.js';
import { LEASE_MIGRATIONS } from './leases/migrations.js';
import { INCIDENT_MIGRATIONS } from './incidents/migrations.js';
import { PRIOR_MIGRATIONS } from './priors/migrations.js';
import { RELEASES_MIGRATIONS } from './releases/migrations.js';
import { openStore, type OpenStoreOptions, type StoreConfig } from './store/index.js';
import { PostgresStore } from './store/postgres/postgres.js';
import type { Migration } from './store/migration.js';
import { SqliteStore } from './store/sqlite/sqlite.js';
import type { HubStore } from './store/types.js';
import { collectMigrations, type FeatureMigrations } from './db/migrations.js';
import { dirname } from 'node:path';
import { SwarmgateError, isSwarmgateError } from '../shared/kit/errors.js';
import { folderCreateProblem } from '../shared/kit/writable-folder.js';
import { statePathHint } from './config-paths.js';

export type { FeatureMigrations };

export const FEATURES: readonly FeatureMigrations[] = [
  REVIEW_MIGRATIONS,
  AGENT_STATE_MIGRATIONS,
  API_MIGRATIONS,
  GATEWAY_CONFIG_MIGRATIONS,
  WORK_ORDER_MIGRATIONS,
  QUARANTINE_MIGRATIONS,
  REGISTRY_MIGRATIONS,
  ENROLLMENT_MIGRATIONS,
  LEASE_MIGRATIONS,
  RELEASES_MIGRATIONS,
  INCIDENT_MIGRATIONS,
  PRIOR_MIGRATIONS,
];

/** Every registered feature migration for one store kind, checked for overlapping versions. */
export function featureMigrations(kind: 'sqlite' | 'postgres', features: readonly FeatureMigrations[] = FEATURES): Migration[] {
  return collectMigrations(kind, features);
}

/** Adds the feature tables to a store opened without them (startHub with a caller's store). */
export async function applyFeatureMigrations(store: HubStore): Promise<void> {
  if (store instanceof SqliteStore) await store.applyMigrations(featureMigrations('sqlite'));
  else if (store instanceof PostgresStore) await store.applyMigrations(featureMigrations('postgres'));
}

/** Opens the configured store with every feature's tables: what the hub and its CLI commands open. */
export async function openHubStore(config: StoreConfig, options: Omit<OpenStoreOptions, 'migrations'> = {}): Promise<HubStore> {
  try {
    return await openStore(config, { ...options, migrations: (kind) => featureMigrations(kind), wholeSchema: true });
  } catch (err) {
    throw withStatePathHint(config, err);
  }
}

/**
 * What a CLI command (review, enrollment, quarantine) opens: the store without a PostgreSQL hub's
 * ingest journal. The journal belongs to a hub process; a command writes no telemetry, and would
 * otherwise make (and, when killed, leave) a journal folder wherever the path resolves from its
 * shell, such as next to the config while the service's journal was empty, where the service would
 * then take it for its own in read-only /etc.
 */
export function commandStoreConfig(config: StoreConfig): StoreConfig {
  if (config.kind !== 'postgres' || config.journal === undefined) return config;
  const { journal, ...rest } = config;
  return rest;
}

const FOLDER_ERRNOS = new Set(['EROFS', 'EACCES', 'EPERM', 'ENOENT']);

/** The folder a store writes in, named by its config field: the SQLite file's folder, a PostgreSQL hub's journal folder. */
function storeFolder(config: StoreConfig): { field: string; path: string; folder: string } | undefined {
  if (config.kind === 'sqlite') return config.path === ':memory:' ? undefined : { field: 'store.path', path: config.path, folder: dirname(config.path) };
  return config.journal === undefined ? undefined : { field: 'store.journal', path: config.journal, folder: config.journal };
}

/** A store that could not be opened because its folder cannot be made or written: say which path, why, and where it belongs. */
function withStatePathHint(config: StoreConfig, err: unknown): unknown {
  if (!isSwarmgateError(err, 'SWG_ERR_HUB_STORE')) return err;
  const cause = (err.cause as NodeJS.ErrnoException | undefined)?.code;
  const at = storeFolder(config);
  if (cause === undefined || !FOLDER_ERRNOS.has(cause) || !at) return err;
  const problem = folderCreateProblem(at.folder);
  if (!problem) return err;
  return new SwarmgateError('SWG_ERR_HUB_STORE', `${err.message} (${problem.folder} ${problem.what}, ${problem.errno})`, {
    cause: err.cause,
    details: { path: at.path, errno: problem.errno },
    hint: statePathHint(at.field, at.path),
  });
}
