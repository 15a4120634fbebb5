/**
 * Leases on both stores: one holder at a time however many ask at once, renewal keeps it, a holder
 * that stops renewing loses it to the next asker after the time to live, release hands it over at
 * once, and the holder is told when it gains or loses one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlFor, type Sql } from '../../hub/db/sql.js';
import { Leases } from '../../hub/leases/leases.js';
import { sharedStoreBackends, type SharedStores } from './shared-stores.js';


function suite(kind: string, open: () => Promise<SharedStores>, skip = false): void {
  describe.skipIf(skip)(`leases on ${kind}`, () => {
    let sqls: Sql[] = [];
    let close: (() => Promise<void>) | undefined;
    let now = 1_000_000;
    const clock = (): number => now;
    beforeAll(async () => {
      const opened = await open();
      sqls = opened.stores.map(sqlFor);
      close = opened.close;
    });
    afterAll(async () => close?.());

    it('one of many processes asking at once gets it; renewal keeps it; expiry hands it over', async () => {
      const processes = sqls.flatMap((sql, i) => Array.from({ length: 4 }, (_, j) => new Leases({ sql, holder: `hub-${i}-${j}`, ttlMs: 10_000, clock })));
      const won = await Promise.all(processes.map((l) => l.acquire('agents:hq')));
      expect(won.filter(Boolean)).toHaveLength(1);
      const holder = processes[won.indexOf(true)] as Leases;
      const other = processes.find((l) => l !== holder) as Leases;
      expect(holder.holds('agents:hq')).toBe(true);
      now += 5000;
      expect(await holder.acquire('agents:hq')).toBe(true); // renewed
      now += 9000; // 4 s left of the renewed lease
      expect(await other.acquire('agents:hq')).toBe(false);
      now += 1001; // the holder stopped renewing (died): expired
      expect(holder.holds('agents:hq')).toBe(false);
      expect(await other.acquire('agents:hq')).toBe(true);
      expect(await holder.acquire('agents:hq')).toBe(false);
      expect((await other.list()).find((l) => l.name === 'agents:hq')?.holder).toBe(other.holder);
    });

    it('counts a new term each time a process takes the lease anew, however briefly it was away', async () => {
      const a = new Leases({ sql: sqls[0] as Sql, holder: 'term-a', ttlMs: 10_000, clock });
      const b = new Leases({ sql: sqls[sqls.length - 1] as Sql, holder: 'term-b', ttlMs: 10_000, clock });
      expect(a.term('incidents')).toBeUndefined();
      expect(await a.acquire('incidents')).toBe(true);
      const first = a.term('incidents');
      expect(first).toBeDefined();
      now += 3000;
      await a.acquire('incidents'); // renewed: the same term
      expect(a.term('incidents')).toBe(first);
      // a's renewals stop (a stalled database); b takes it, gives it back at once; a takes it again
      // without ever having seen it lost: a new term, so a knows to reload what b may have changed.
      now += 10_001;
      expect(a.term('incidents')).toBeUndefined();
      expect(await b.acquire('incidents')).toBe(true);
      await b.release('incidents');
      expect(await a.acquire('incidents')).toBe(true);
      expect(a.term('incidents')).not.toBe(first);
      expect(a.term('incidents')).toBeDefined();
    });

    it('release hands the lease over at once and the holders are told', async () => {
      const changes: string[] = [];
      const a = new Leases({ sql: sqls[0] as Sql, holder: 'a', ttlMs: 60_000, clock, onChange: (n, held) => changes.push(`a ${n} ${held}`) });
      const b = new Leases({ sql: sqls[sqls.length - 1] as Sql, holder: 'b', ttlMs: 60_000, clock, onChange: (n, held) => changes.push(`b ${n} ${held}`) });
      expect(await a.acquire('maintenance:retention')).toBe(true);
      expect(await b.acquire('maintenance:retention')).toBe(false);
      a.want(['maintenance:retention']);
      await a.stop();
      expect(await b.acquire('maintenance:retention')).toBe(true);
      expect(changes).toEqual(['a maintenance:retention true', 'b maintenance:retention true']);
    });
  });
}

for (const backend of await sharedStoreBackends()) suite(backend.kind, backend.open, backend.skip);
