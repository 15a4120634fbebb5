/**
 * Two handles on one hub store, as two hub processes sharing it see it: two connections to one
 * SQLite file, or two pools on one throwaway PostgreSQL schema. Each backend is described once,
 * for the suites that run the same tests on both (enrollment, leases).
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { featureMigrations } from '../../hub/features.js';
import { PostgresStore } from '../../hub/store/postgres/postgres.js';
import { SqliteStore } from '../../hub/store/sqlite/sqlite.js';
import type { HubStore } from '../../hub/store/types.js';
import { peerOrSkip, tcpPeer } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';

const PG_URL = process.env.SWARMGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface SharedStores {
  readonly stores: [HubStore, HubStore];
  close(): Promise<void>;
}

export interface SharedStoreBackend {
  readonly kind: string;
  /** True when the backend cannot run here (its peer is absent; the skip names it). */
  readonly skip: boolean;
  open(): Promise<SharedStores>;
}

export async function sharedStoreBackends(): Promise<SharedStoreBackend[]> {
  const pgAvailable = peerOrSkip(await tcpPeer('127.0.0.1', 5432, 'postgresql'));
  return [
    {
      kind: 'SQLite',
      skip: false,
      open: async () => {
        const dir = tempDir('swg-shared-store-');
        const path = join(dir.path, 'hub.db');
        const a = await SqliteStore.open({ path, migrations: featureMigrations('sqlite') });
        const b = await SqliteStore.open({ path, migrations: featureMigrations('sqlite') });
        return { stores: [a, b], close: async () => { await a.close(); await b.close(); dir.remove(); } };
      },
    },
    {
      kind: 'PostgreSQL',
      skip: !pgAvailable,
      open: async () => {
        const schema = `swg_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
        const a = await PostgresStore.open({ url: PG_URL, schema, migrations: featureMigrations('postgres') });
        const b = await PostgresStore.open({ url: PG_URL, schema, migrations: featureMigrations('postgres') });
        return { stores: [a, b], close: async () => { await b.close(); await a.dropSchema(); await a.close(); } };
      },
    },
  ];
}
