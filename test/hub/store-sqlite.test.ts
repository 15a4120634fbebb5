import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../hub/store/sqlite.js';
import { tempDir } from '../support/tmp.js';
import { storeContract } from './store-contract.js';

storeContract('sqlite', async () => {
  const dir = tempDir('swarmgate-hub-store-');
  const store = SqliteStore.open({ path: `${dir.path}/hub.db` });
  return {
    store,
    cleanup: async () => {
      await store.close();
      dir.remove();
    },
  };
});

describe('SqliteStore specifics', () => {
  it('uses WAL and does not re-apply migrations on reopen', async () => {
    const dir = tempDir('swarmgate-hub-store-');
    try {
      const a = SqliteStore.open({ path: `${dir.path}/hub.db` });
      expect(a.database.pragma('journal_mode', { simple: true })).toBe('wal');
      await a.close();
      const b = SqliteStore.open({ path: `${dir.path}/hub.db`, migrations: [{ version: 2, name: 'extra', sql: 'CREATE TABLE extra (x INTEGER)' }] });
      expect(await b.schemaVersion()).toBe(2);
      await b.close();
    } finally {
      dir.remove();
    }
  });
});
