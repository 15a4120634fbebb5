import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { PostgresStore } from '../../../hub/store/postgres/postgres.js';
import { peerOrSkip, tcpPeer } from '../../support/peers.js';
import { storeContract } from './contract.js';

const PG_URL = process.env.SWARMGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const available = peerOrSkip(await tcpPeer('127.0.0.1', 5432, 'postgresql'));

storeContract(
  'postgres',
  async (logger) => {
    const schema = `swg_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    const store = await PostgresStore.open({ url: PG_URL, schema, logger });
    return {
      store,
      cleanup: async () => {
        await store.dropSchema();
        await store.close();
      },
    };
  },
  available,
);

it.skipIf(!available)('postgres: a second open of the same schema finds it migrated', async () => {
  const schema = `swg_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const [a, b] = await Promise.all([PostgresStore.open({ url: PG_URL, schema }), PostgresStore.open({ url: PG_URL, schema })]);
  try {
    expect(await a.schemaVersion()).toBe(3);
    expect(await b.schemaVersion()).toBe(3);
  } finally {
    await a.dropSchema();
    await a.close();
    await b.close();
  }
});

it.skipIf(!available)('postgres: refuses a schema name the hub config check refuses, before connecting', async () => {
  await expect(PostgresStore.open({ url: PG_URL, schema: 'Plant1' })).rejects.toThrow(/invalid PostgreSQL schema name "Plant1": .*lower-case/);
});
