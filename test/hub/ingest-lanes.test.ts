/**
 * Ingest overlapping across gateways (hub/ingest/lanes.ts in the embedded broker's hold): many
 * gateways publish at once while the store is slow for some of them. Each gateway's batches must
 * be stored in the order it sent them, every batch exactly once (resent copies are duplicates),
 * each PUBACK only after its batch is stored, and a fast gateway must not wait behind a slow one.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { OrderedLanes } from '../../hub/ingest/lanes.js';
import { SqliteStore } from '../../hub/store/index.js';
import type { HubStore } from '../../hub/store/types.js';
import { encode, gatewayTopic, TelemetryBatchSchema } from '../../shared/wire/index.js';
import { addGatewayUser, credentialsFile, startEmbeddedHub } from '../e2e/support/hub.js';
import { tempDir } from '../support/tmp.js';
import { batch, connectClient, endAll, reading, sleep } from './helpers.js';

const SITE = 'site-lanes';

describe('OrderedLanes', () => {
  it('runs one job per lane at a time in submission order, lanes side by side, at most the window', async () => {
    const lanes = new OrderedLanes(3);
    const log: string[] = [];
    let running = 0;
    let most = 0;
    const job = (lane: string, i: number, ms: number) =>
      lanes.submit(lane, async () => {
        running++;
        most = Math.max(most, running);
        log.push(`${lane}${i}+`);
        await sleep(ms);
        log.push(`${lane}${i}-`);
        running--;
        return `${lane}${i}`;
      });
    const all = [];
    for (let i = 0; i < 4; i++) for (const lane of ['a', 'b', 'c', 'd', 'e']) all.push(job(lane, i, lane === 'a' ? 15 : 2));
    const results = await Promise.all(all);
    expect(results).toEqual(Array.from({ length: 4 }, (_, i) => ['a', 'b', 'c', 'd', 'e'].map((l) => `${l}${i}`)).flat());
    expect(most).toBe(3);
    for (const lane of ['a', 'b', 'c', 'd', 'e']) {
      const mine = log.filter((e) => e.startsWith(lane));
      // Strictly one at a time, in order: start i, end i, start i+1, ...
      expect(mine).toEqual([0, 1, 2, 3].flatMap((i) => [`${lane}${i}+`, `${lane}${i}-`]));
    }
    // The slow lane did not hold the others back: they were all done before it was.
    expect(log.indexOf('a3-')).toBe(log.length - 1);
    await lanes.idle();
    expect(lanes.pending).toBe(0);
  });

  it('passes a job failure to its caller only, and the lane goes on', async () => {
    const lanes = new OrderedLanes(2);
    const failed = lanes.submit('x', () => Promise.reject(new Error('boom')));
    const thrown = lanes.submit('x', () => {
      throw new Error('sync boom');
    });
    const next = lanes.submit('x', async () => 'after');
    await expect(failed).rejects.toThrow('boom');
    await expect(thrown).rejects.toThrow('sync boom');
    await expect(next).resolves.toBe('after');
  });
});

/** The real store; ingestBatch of the slow gateways waits first. Records when each gateway's batches reach the store. */
function slowForSome(store: SqliteStore, slow: ReadonlySet<string>): { store: HubStore; calls: { gateway: string; seq: number; stored: boolean }[]; mostAtOnce: () => number } {
  const calls: { gateway: string; seq: number; stored: boolean }[] = [];
  let inside = 0;
  let most = 0;
  const wrapped = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'ingestBatch') {
        return async (...args: Parameters<SqliteStore['ingestBatch']>) => {
          inside++;
          most = Math.max(most, inside);
          try {
            if (slow.has(args[0].gateway)) await sleep(40);
            const result = await target.ingestBatch(...args);
            calls.push({ gateway: args[0].gateway, seq: args[0].seq, stored: result.stored });
            return result;
          } finally {
            inside--;
          }
        };
      }
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store: wrapped, calls, mostAtOnce: () => most };
}

describe('embedded ingest across many gateways at once', () => {
  const dir = tempDir('swarmgate-hub-lanes-');
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => undefined);
  });

  // With fsync the SQLite store also group-commits batches of several gateways into one journal write.
  it.each([false, true])('keeps each gateway in order, stores every batch once, and does not hold fast gateways behind slow ones (fsync %s)', async (fsync) => {
    const GATEWAYS = 12;
    const BATCHES = 25;
    const gateways = Array.from({ length: GATEWAYS }, (_, i) => `gw-lane-${i}`);
    const slow = new Set(gateways.slice(0, 3));
    const db = `${dir.path}/lanes-${fsync}.db`;
    const sqlite = SqliteStore.open({ path: db, fsync });
    cleanups.push(() => sqlite.close());
    const wrapped = slowForSome(sqlite, slow);
    const auths = [];
    for (const g of gateways) auths.push(await addGatewayUser(credentialsFile(dir.path), SITE, g));
    const hub = await startEmbeddedHub({ dir: dir.path, options: { store: wrapped.store } });
    cleanups.push(() => hub.stop());
    const clients: MqttClient[] = [];
    cleanups.push(() => endAll(clients));
    for (let i = 0; i < GATEWAYS; i++) clients.push(await connectClient(hub.broker!.url, { ...auths[i]!, clientId: gateways[i]! }));

    const t0 = Date.now() - 60_000;
    const payload = (g: string, seq: number) => encode(TelemetryBatchSchema, batch(g, 'boot-0001', seq, [reading('dev', 'p', seq, t0 + seq), reading('dev', 'q', -seq, t0 + seq)]));
    // Every gateway sends its batches without waiting, then a copy of every fifth one (a resend
    // after a lost PUBACK): all in flight at once.
    const acked = new Map<string, number[]>();
    const sends: Promise<unknown>[] = [];
    const finishedAt = new Map<string, number>();
    for (let i = 0; i < GATEWAYS; i++) {
      const g = gateways[i]!;
      const topic = gatewayTopic(SITE, g, 'telemetry');
      const mine: Promise<unknown>[] = [];
      for (let seq = 0; seq < BATCHES; seq++) {
        mine.push(
          clients[i]!.publishAsync(topic, payload(g, seq), { qos: 1 }).then(() => {
            const list = acked.get(g) ?? [];
            list.push(seq);
            acked.set(g, list);
            // A PUBACK follows the store: the batch must be in the store's calls by now.
            expect(wrapped.calls.some((c) => c.gateway === g && c.seq === seq)).toBe(true);
          }),
        );
      }
      for (let seq = 0; seq < BATCHES; seq += 5) mine.push(clients[i]!.publishAsync(topic, payload(g, seq), { qos: 1 }));
      sends.push(Promise.all(mine).then(() => finishedAt.set(g, Date.now())));
    }
    await Promise.all(sends);

    for (const g of gateways) {
      const mine = wrapped.calls.filter((c) => c.gateway === g);
      // In the order sent: the batches, then the resent copies, which are duplicates.
      expect(mine.map((c) => c.seq)).toEqual([...Array.from({ length: BATCHES }, (_, s) => s), ...Array.from({ length: BATCHES / 5 }, (_, k) => k * 5)]);
      expect(mine.map((c) => c.stored)).toEqual([...Array<boolean>(BATCHES).fill(true), ...Array<boolean>(BATCHES / 5).fill(false)]);
      expect(acked.get(g)).toEqual(Array.from({ length: BATCHES }, (_, s) => s));
      // Exactly once in the store: every reading of every batch, none twice.
      const samples = await sqlite.history(g, 'dev', 'p', 0, Number.MAX_SAFE_INTEGER);
      expect(samples.map((s) => s.value)).toEqual(Array.from({ length: BATCHES }, (_, s) => s));
    }
    expect(hub.ingest.stats.duplicates).toBe(GATEWAYS * (BATCHES / 5));
    if (fsync) expect(sqlite.telemetryStats().journalGroupWrites).toBeGreaterThan(0);
    // Overlap: the store had several gateways' batches at once, and every fast gateway was done
    // before the slow ones (one queue for all would have interleaved them to the end).
    expect(wrapped.mostAtOnce()).toBeGreaterThan(1);
    const slowDone = Math.min(...[...slow].map((g) => finishedAt.get(g)!));
    for (const g of gateways) if (!slow.has(g)) expect(finishedAt.get(g)!).toBeLessThanOrEqual(slowDone);

    // After a restart of the store (flushed on close), the same holds in the database.
    await hub.stop();
    await sqlite.close();
    const reopened = SqliteStore.open({ path: db, journal: false });
    try {
      const n = reopened.database.prepare('SELECT COUNT(*) FROM batches').pluck().get() as number;
      expect(n).toBe(GATEWAYS * BATCHES);
      const inChunks = reopened.database.prepare('SELECT SUM(n) FROM chunks').pluck().get() as number;
      expect(inChunks).toBe(GATEWAYS * BATCHES * 2);
    } finally {
      await reopened.close();
    }
  }, 60_000);
});
