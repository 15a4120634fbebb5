/**
 * Commands with several hub processes on one store (two CommandServices, each with its own timers
 * and events, sharing the store): a command whose creating process died is retried and timed out by
 * another, and while both run, a command is re-published once per retry, not once per process.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { CommandService } from '../../hub/commands/service.js';
import { HubEvents } from '../../hub/events.js';
import { PostgresStore } from '../../hub/store/postgres/postgres.js';
import { SqliteStore } from '../../hub/store/sqlite/sqlite.js';
import { peerOrSkip, tcpPeer } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import { waitFor } from './helpers.js';

const PG_URL = process.env.SWARMGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const pgAvailable = peerOrSkip(await tcpPeer('127.0.0.1', 5432, 'postgresql'));
const TIMEOUT_MS = 150;
const RETRIES = 1;

describe('commands across hub processes', () => {
  const dir = tempDir('swarmgate-cmd-procs-');
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  function rig(db: string) {
    const store = SqliteStore.open({ path: `${dir.path}/${db}` });
    cleanups.push(() => store.close());
    const published: string[] = [];
    /** One hub process: its own timers and events, the shared store; publishes go nowhere (the gateway is away). */
    const process = async (name: string): Promise<CommandService> => {
      const service = new CommandService({ store, events: new HubEvents(), publish: async () => void published.push(name), timeoutMs: TIMEOUT_MS, retries: RETRIES, adoptEveryMs: 50 });
      cleanups.push(() => service.stop());
      await service.resume();
      return service;
    };
    return { store, published, process };
  }

  const write = { kind: 'write', device: 'ahu1', point: 'fan_speed', value: 55 } as const;

  it("a command whose process died is retried and timed out by another process", async () => {
    const r = rig('orphan.db');
    const a = await r.process('a');
    const b = await r.process('b');
    const created = await a.create({ gateway: 'gw-1', site: 's', action: write, origin: 'user:test' });
    a.stop(); // killed: its timers are gone
    const record = await waitFor(async () => {
      const c = await r.store.getCommand(created.id);
      return c?.status === 'timed-out' ? c : undefined;
    }, 10_000, 'the command timed out by the other process');
    expect(record.attempts).toBe(1 + RETRIES);
    expect(r.published).toEqual(['a', 'b']);
    expect(await b.get(created.id)).toEqual(record);
  });

  it.skipIf(!pgAvailable)('with both processes running on PostgreSQL (each its own connections), each retry is published once', async () => {
    const schema = `swg_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    const stores = [await PostgresStore.open({ url: PG_URL, schema }), await PostgresStore.open({ url: PG_URL, schema })] as const;
    cleanups.push(async () => {
      await stores[0].dropSchema();
      for (const s of stores) await s.close();
    });
    const published: string[] = [];
    const services = stores.map((store, i) => new CommandService({ store, events: new HubEvents(), publish: async () => void published.push(`p${i}`), timeoutMs: TIMEOUT_MS, retries: 3, adoptEveryMs: 50 }));
    for (const s of services) cleanups.push(() => s.stop());
    await services[0]!.resume();
    const created = await services[0]!.create({ gateway: 'gw-1', site: 's', action: write, origin: 'user:test' });
    await services[1]!.resume(); // finds the open command and times it too
    const record = await waitFor(async () => {
      const c = await stores[0].getCommand(created.id);
      return c?.status === 'timed-out' ? c : undefined;
    }, 10_000, 'the command timed out');
    expect(record.attempts).toBe(4);
    expect(published).toHaveLength(4);
  });
});
