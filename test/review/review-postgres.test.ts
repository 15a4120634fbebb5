import { randomUUID } from 'node:crypto';
import { featureMigrations } from '../../hub/features.js';
import { PostgresStore } from '../../hub/store/postgres/postgres.js';
import { peerOrSkip, tcpPeer } from '../support/peers.js';
import { reviewContract } from './review-contract.js';

const PG_URL = process.env.SWARMGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const available = peerOrSkip(await tcpPeer('127.0.0.1', 5432, 'postgresql'));

reviewContract(
  'postgres',
  async () => {
    const schemaName = (): string => `swg_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    const opener = (schema: string) => (upTo = Number.MAX_SAFE_INTEGER): Promise<PostgresStore> => PostgresStore.open({ url: PG_URL, schema, migrations: featureMigrations('postgres').filter((m) => m.version <= upTo) });
    const open = opener(schemaName());
    const admin = await open();
    return {
      connect: () => open(),
      scratch: async () => {
        const other = opener(schemaName());
        return {
          open: other,
          cleanup: async () => {
            const s = await other();
            await s.dropSchema();
            await s.close();
          },
        };
      },
      cleanup: async () => {
        await admin.dropSchema();
        await admin.close();
      },
    };
  },
  available,
);
