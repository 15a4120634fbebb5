/**
 * The last enabled admin is never lost, even when two admins demote, disable or remove each other
 * at the same moment (each counting the other before the change): on SQLite and on PostgreSQL,
 * where several hub processes share the accounts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Accounts } from '../../hub/api/index.js';
import { sqlFor } from '../../hub/db/sql.js';
import { sharedStoreBackends, type SharedStores } from '../hub/shared-stores.js';

const FAST_SCRYPT = { N: 1024, r: 8, p: 1 };

for (const backend of await sharedStoreBackends()) {
  describe.skipIf(backend.skip)(`last admin on ${backend.kind}`, () => {
    let stores: SharedStores | undefined;
    let accounts: Accounts[] = [];
    beforeAll(async () => {
      stores = await backend.open();
      // One Accounts per process sharing the store (two processes on PostgreSQL).
      accounts = stores.stores.map((s) => new Accounts(sqlFor(s), { sessionTtlMs: 3_600_000, scryptCost: FAST_SCRYPT }));
    });
    afterAll(async () => stores?.close());

    const enabledAdmins = async (): Promise<number> => (await (accounts[0] as Accounts).listUsers()).filter((u) => u.role === 'admin' && !u.disabled).length;

    it('two admins leaving at once: one of them stays an enabled admin, whatever they do', async () => {
      const a = accounts[0] as Accounts;
      const b = accounts[accounts.length - 1] as Accounts;
      const moves: Array<[string, (acc: Accounts, name: string) => Promise<unknown>]> = [
        ['demote', (acc, name) => acc.updateUser(name, { role: 'viewer' })],
        ['disable', (acc, name) => acc.updateUser(name, { disabled: true })],
        ['remove', (acc, name) => acc.deleteUser(name)],
      ];
      for (const [what, move] of moves) {
        for (let i = 0; i < 8; i++) {
          const x = `${what}-x${i}`;
          const y = `${what}-y${i}`;
          await a.createUser(x, 'admin', 'correct-horse-battery');
          await a.createUser(y, 'admin', 'correct-horse-battery');
          // x and y are the only enabled admins.
          for (const u of await a.listUsers()) if (u.role === 'admin' && u.username !== x && u.username !== y) await a.updateUser(u.username, { role: 'viewer' });
          expect(await enabledAdmins()).toBe(2);
          const results = await Promise.allSettled([move(a, x), move(b, y)]);
          expect(await enabledAdmins(), `${what}, trial ${i}: ${results.map((r) => r.status).join(', ')}`).toBeGreaterThanOrEqual(1);
          for (const r of results) if (r.status === 'rejected') expect(String(r.reason)).toMatch(/last enabled admin/);
        }
      }
    }, 60_000);
  });
}
