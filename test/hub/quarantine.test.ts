/**
 * The quarantine keeps each refused message once per gateway and message, whatever it was refused
 * for: a gateway sending it again counts a repeat (seenCount, first and last seen) instead of
 * adding an entry, so one bad message resent a thousand times is one entry seen a thousand times.
 * Telemetry naming a batch is the same message however it is resent (another sentAt, the binary
 * encoding); anything else by its topic and payload. Bounded by last seen (an entry still being
 * sent stays) and by payload size. Migration 62 keys the entries an older hub kept, merging exact
 * copies and keeping every entry that differs. On a real SQLite file and on PostgreSQL (a schema
 * of its own).
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sqlFor } from '../../hub/db/sql.js';
import { featureMigrations } from '../../hub/features.js';
import { QuarantineService, type NewQuarantined } from '../../hub/quarantine/service.js';
import { PostgresStore } from '../../hub/store/postgres/postgres.js';
import { SqliteStore } from '../../hub/store/sqlite/sqlite.js';
import type { HubStore } from '../../hub/store/types.js';
import { encodeTelemetryBinary } from '../../shared/wire/index.js';
import { peerOrSkip, tcpPeer } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import { batch, reading } from './helpers.js';

const PG_URL = process.env.SWARMGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const postgres = peerOrSkip(await tcpPeer('127.0.0.1', 5432, 'postgresql'));
const T0 = 1_700_000_000_000;

interface Opened {
  readonly store: HubStore;
  close(): Promise<void>;
}

/** Opens one database (created on the first call) with the feature migrations up to `upTo`. */
type Opener = (upTo?: number) => Promise<Opened>;

function sqliteDatabase(): { open: Opener; remove: () => void } {
  const dir = tempDir('swg-quarantine-');
  return {
    open: async (upTo = Number.MAX_SAFE_INTEGER) => {
      const store = SqliteStore.open({ path: `${dir.path}/hub.db`, migrations: featureMigrations('sqlite').filter((m) => m.version <= upTo) });
      return { store, close: () => store.close() };
    },
    remove: () => dir.remove(),
  };
}

function postgresDatabase(): { open: Opener; remove: () => Promise<void> } {
  const schema = `swg_quarantine_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const open: Opener = async (upTo = Number.MAX_SAFE_INTEGER) => {
    const store = await PostgresStore.open({ url: PG_URL, schema, migrations: featureMigrations('postgres').filter((m) => m.version <= upTo) });
    return { store, close: () => store.close() };
  };
  return {
    open,
    remove: async () => {
      const { store } = await open();
      await (store as PostgresStore).dropSchema();
      await store.close();
    },
  };
}

const topic = (gateway: string, channel = 'telemetry'): string => `swarmgate/v1/site-q/${gateway}/${channel}`;
const refused = (gateway: string, reason: string, payload: string | Uint8Array, channel = 'telemetry', error = `${reason}: /seq: must be an integer`): NewQuarantined => ({
  topic: topic(gateway, channel),
  site: 'site-q',
  gateway,
  channel,
  reason,
  error,
  payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
});

function quarantineSuite(kind: 'sqlite' | 'postgres', enabled: boolean): void {
  describe.skipIf(!enabled)(`the quarantine keeps each refused message once, counting repeats (${kind})`, () => {
    let db: { open: Opener; remove: () => void | Promise<void> };
    let opened: Opened[] = [];
    const open = async (upTo?: number): Promise<Opened> => {
      const o = await db.open(upTo);
      opened.push(o);
      return o;
    };

    beforeEach(() => {
      db = kind === 'sqlite' ? sqliteDatabase() : postgresDatabase();
      opened = [];
    });
    afterEach(async () => {
      for (const o of opened) await o.close();
      await db.remove();
    });

    it('a message refused again and again is one entry: seen N times, first and last seen, the first copy kept', async () => {
      const q = new QuarantineService(sqlFor((await open()).store));
      const junk = '{"v":1,"gateway":"gw-1","bootId":"b","seq":1e300,"readings":[]}'; // names no batch: never receipted, resent forever
      expect(await q.add(refused('gw-1', 'schema', junk), T0)).toEqual({ id: expect.any(Number), seenCount: 1 });
      for (let i = 1; i <= 4; i++) await q.add(refused('gw-1', 'schema', junk, 'telemetry', `schema, attempt ${i}`), T0 + i * 1000);
      const first = await q.add(refused('gw-1', 'schema', junk), T0 + 9000);
      expect(first.seenCount).toBe(6);
      // Out of order (another hub process with its clock behind): first and last seen stay the earliest and latest.
      await q.add(refused('gw-1', 'schema', junk), T0 - 500);
      const [entry, ...others] = await q.list();
      expect(others).toEqual([]);
      expect(entry).toMatchObject({ id: first.id, gateway: 'gw-1', reason: 'schema', seenCount: 7, receivedAt: T0 - 500, lastSeenAt: T0 + 9000, payload: junk, error: 'schema: /seq: must be an integer' });
      expect(await q.get(first.id)).toEqual(entry);
      expect(await q.summary()).toEqual({ count: 1, seenCount: 7, oldestReceivedAt: T0 - 500, newestReceivedAt: T0 - 500, lastSeenAt: T0 + 9000 });
      expect(await q.summary({ gateway: 'gw-9' })).toEqual({ count: 0, seenCount: 0 });

      // Per gateway and reason: the same bytes from another gateway, or refused for another reason, are their own entries.
      await q.add(refused('gw-2', 'schema', junk), T0 + 10_000);
      await q.add(refused('gw-1', 'not-json', junk), T0 + 11_000);
      expect((await q.list()).map((m) => [m.gateway, m.reason, m.seenCount])).toEqual([
        ['gw-1', 'not-json', 1],
        ['gw-2', 'schema', 1],
        ['gw-1', 'schema', 7],
      ]);
      // Discarded once inspected; sent again after, it is a new entry.
      await q.discard(first.id);
      const again = await q.add(refused('gw-1', 'schema', junk), T0 + 20_000);
      expect(again.id).not.toBe(first.id);
      expect(again.seenCount).toBe(1);
    });

    it('telemetry naming a batch is one message however it is resent (sentAt, binary frame); other channels and reasons by topic and payload', async () => {
      const q = new QuarantineService(sqlFor((await open()).store));
      const bootId = randomUUID();
      const b = batch('gw-1', bootId, 5, [reading('ahu1', 'temp', 21.5, T0)]);
      await q.add(refused('gw-1', 'store-refused', JSON.stringify(b)), T0);
      await q.add(refused('gw-1', 'store-refused', JSON.stringify({ ...b, sentAt: b.sentAt + 60_000, historical: true })), T0 + 1);
      await q.add(refused('gw-1', 'store-refused', encodeTelemetryBinary({ ...b, historical: true }, b.readings)), T0 + 2);
      // A batch of another seq is another message.
      await q.add(refused('gw-1', 'store-refused', JSON.stringify({ ...b, seq: 6 })), T0 + 3);
      // Naming another gateway than its topic (mismatch): no batch of this gateway, keyed by its bytes.
      const foreign = JSON.stringify(batch('gw-other', bootId, 5, []));
      await q.add(refused('gw-1', 'mismatch', foreign), T0 + 4);
      await q.add(refused('gw-1', 'mismatch', foreign), T0 + 5);
      await q.add(refused('gw-1', 'mismatch', JSON.stringify(batch('gw-other', bootId, 6, []))), T0 + 6);
      // Another channel (an event failing its schema; a prior too large) by topic and payload.
      const event = '{"v":1,"id":"evt-1","kind":"nope"}';
      for (let i = 0; i < 3; i++) await q.add(refused('gw-1', 'schema', event, 'events'), T0 + 10 + i);
      await q.add(refused('gw-1', 'schema', event, 'reviews'), T0 + 20);
      for (let i = 0; i < 2; i++) await q.add(refused('gw-1', 'too-large', '{"v":1,"prior":"big"}', 'prior'), T0 + 30 + i);
      const seen = (await q.list()).map((m) => [m.channel, m.reason, m.seenCount]);
      expect(seen).toEqual([
        ['prior', 'too-large', 2],
        ['reviews', 'schema', 1],
        ['events', 'schema', 3],
        ['telemetry', 'mismatch', 1],
        ['telemetry', 'mismatch', 2],
        ['telemetry', 'store-refused', 1],
        ['telemetry', 'store-refused', 3],
      ]);
      // The first copy is what is kept: the batch as first received, in JSON.
      expect(JSON.parse((await q.list({ limit: 1000 })).at(-1)!.payload)).toEqual(b);
    });

    it('bounded: the entries seen longest ago go first, so one its gateway still sends stays; a payload beyond the limit keeps its head', async () => {
      const q = new QuarantineService(sqlFor((await open()).store), { maxRows: 5, maxPayloadBytes: 64 });
      const keeper = await q.add(refused('gw-1', 'schema', '{"keeper":true}'), T0);
      for (let i = 1; i < 100; i++) await q.add(refused('gw-1', 'schema', `{"n":${i}}`), T0 + i);
      // Still being sent: a repeat, which adds no entry (and so does not trim either).
      await q.add(refused('gw-1', 'schema', '{"keeper":true}'), T0 + 1000);
      expect(await q.count()).toBe(100);
      // The 101st new entry trims to the 5 seen most recently.
      await q.add(refused('gw-1', 'schema', '{"n":100}'), T0 + 100);
      const kept = await q.list();
      expect(kept.map((m) => m.payload)).toEqual(['{"n":100}', '{"n":99}', '{"n":98}', '{"n":97}', '{"keeper":true}']);
      expect(kept.at(-1)).toMatchObject({ id: keeper.id, seenCount: 2, lastSeenAt: T0 + 1000 });

      const big = Buffer.from(`{"v":1,"data":"${'x'.repeat(200)}"}`);
      const tooLarge = await q.add(refused('gw-1', 'too-large', big, 'events', `payload of ${big.byteLength} bytes exceeds the limit of 64`), T0 + 2000);
      const entry = (await q.get(tooLarge.id))!;
      expect(entry).toMatchObject({ size: big.byteLength, encoding: 'utf8', payload: big.subarray(0, 64).toString(), error: `payload of ${big.byteLength} bytes exceeds the limit of 64 (the first 64 of its ${big.byteLength} bytes are kept)` });
      // Keyed by the whole message: another large one with the same head is another entry; the same one a repeat.
      const other = Buffer.concat([big.subarray(0, 100), Buffer.from('y'.repeat(116))]);
      expect((await q.add(refused('gw-1', 'too-large', other, 'events'), T0 + 2001)).seenCount).toBe(1);
      expect((await q.add(refused('gw-1', 'too-large', big, 'events'), T0 + 2002)).seenCount).toBe(2);
    });

    it('migration 62 keys what an older hub kept: exact copies merged and counted, entries that differ all kept, resends after it count on', async () => {
      const before = await open(61);
      const sql = sqlFor(before.store);
      // As the hub before 62 kept them: every refusal a row, only implausible batches keyed (61).
      const old = async (m: NewQuarantined, at: number, key: string | null = null): Promise<number> => {
        const payload = Buffer.from(m.payload);
        const text = payload.toString('utf8');
        const utf8 = !text.includes('\u0000') && !text.includes('\uFFFD') && Buffer.byteLength(text) === payload.length;
        const rows = await sql.all('INSERT INTO quarantine (received_at, topic, site, gateway, channel, reason, error, encoding, payload, size, dedupe_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id', [
          at, m.topic, m.site ?? null, m.gateway ?? null, m.channel, m.reason, m.error, utf8 ? 'utf8' : 'base64', utf8 ? text : payload.toString('base64'), payload.byteLength, key,
        ]);
        return Number(rows[0]!.id);
      };
      const junk = '{"v":1,"seq":1e300}';
      const junkIds = [await old(refused('gw-1', 'schema', junk), T0 + 20), await old(refused('gw-1', 'schema', junk), T0), await old(refused('gw-1', 'schema', junk), T0 + 10)];
      const binary = Uint8Array.from([0x01, 0xff, 0x00, 0x1b]);
      const binaryIds = [await old(refused('gw-2', 'bad-frame', binary), T0 + 30), await old(refused('gw-2', 'bad-frame', binary), T0 + 31)];
      // One batch the store refused, sent three times: twice alike, once with another sentAt (bytes that differ are kept).
      const poison = batch('gw-1', 'boot-p', 7, [reading('ahu1', 'label', 'x', T0)]);
      const poisonIds = [
        await old(refused('gw-1', 'store-refused', JSON.stringify(poison), 'telemetry', 'refused by a trigger'), T0 + 40),
        await old(refused('gw-1', 'store-refused', JSON.stringify(poison), 'telemetry', 'refused by a trigger'), T0 + 41),
        await old(refused('gw-1', 'store-refused', JSON.stringify({ ...poison, sentAt: poison.sentAt + 1 }), 'telemetry', 'refused by a trigger'), T0 + 42),
      ];
      // An implausible batch kept before 61 (no key) and again after it (keyed): copies.
      const late = JSON.stringify(batch('gw-1', 'boot-i', 3, [reading('plc', 'flow', 1, T0 + 3_600_000)]));
      const lateIds = [await old(refused('gw-1', 'implausible', late), T0 + 50), await old(refused('gw-1', 'implausible', late), T0 + 51, 'telemetry/implausible/site-q/gw-1/boot-i/3')];
      const lone = await old(refused('gw-3', 'schema', '{"v":1,"id":"e"}', 'events'), T0 + 60);
      // The same bytes under two errors (an error worded otherwise by another release): both kept.
      const worded = [await old(refused('gw-3', 'schema', '{"v":2}', 'events', 'one wording'), T0 + 70), await old(refused('gw-3', 'schema', '{"v":2}', 'events', 'another wording'), T0 + 71)];
      // A gateway that resent one message all day: more copies than the migration reads at a time.
      const flood: number[] = [];
      for (let i = 0; i < 250; i++) flood.push(await old(refused('gw-4', 'not-json', 'not json {'), T0 + 1000 + i));
      await before.close();
      opened = opened.filter((o) => o !== before);

      const after = await open();
      const q = new QuarantineService(sqlFor(after.store));
      const byId = new Map((await q.list({ limit: 1000 })).map((m) => [m.id, m]));
      expect([...byId.keys()].sort((a, b) => a - b)).toEqual([junkIds[0], binaryIds[0], poisonIds[0], poisonIds[2], lateIds[0], lone, ...worded, flood[0]].sort((a, b) => a! - b!));
      expect(byId.get(flood[0]!)).toMatchObject({ seenCount: 250, receivedAt: T0 + 1000, lastSeenAt: T0 + 1249, payload: 'not json {' });
      expect(byId.get(junkIds[0]!)).toMatchObject({ seenCount: 3, receivedAt: T0, lastSeenAt: T0 + 20, payload: junk });
      expect(byId.get(binaryIds[0]!)).toMatchObject({ seenCount: 2, receivedAt: T0 + 30, lastSeenAt: T0 + 31, encoding: 'base64' });
      expect(byId.get(poisonIds[0]!)).toMatchObject({ seenCount: 2, receivedAt: T0 + 40, lastSeenAt: T0 + 41 });
      expect(byId.get(poisonIds[2]!)).toMatchObject({ seenCount: 1, receivedAt: T0 + 42, lastSeenAt: T0 + 42 });
      expect(byId.get(lateIds[0]!)).toMatchObject({ seenCount: 2, receivedAt: T0 + 50, lastSeenAt: T0 + 51 });
      expect(byId.get(lone)).toMatchObject({ seenCount: 1, receivedAt: T0 + 60, lastSeenAt: T0 + 60 });
      expect(worded.map((id) => byId.get(id)?.error)).toEqual(['one wording', 'another wording']);
      const unkeyed = await sqlFor(after.store).all('SELECT COUNT(*) AS n FROM quarantine WHERE dedupe_key IS NULL');
      expect(Number(unkeyed[0]!.n)).toBe(0);

      // Sent again after the upgrade: counted onto the migrated entries, whatever the reason.
      expect(await q.add(refused('gw-1', 'schema', junk), T0 + 100)).toEqual({ id: junkIds[0], seenCount: 4 });
      expect(await q.add(refused('gw-2', 'bad-frame', binary), T0 + 101)).toEqual({ id: binaryIds[0], seenCount: 3 });
      expect(await q.add(refused('gw-1', 'store-refused', JSON.stringify({ ...poison, sentAt: poison.sentAt + 99 }), 'telemetry', 'refused by a trigger'), T0 + 102)).toEqual({ id: poisonIds[0], seenCount: 3 });
      expect(await q.add(refused('gw-1', 'implausible', late), T0 + 103)).toEqual({ id: lateIds[0], seenCount: 3 });
      expect(await q.add(refused('gw-3', 'schema', '{"v":2}', 'events', 'a third wording'), T0 + 104)).toEqual({ id: worded[0], seenCount: 2 });
      expect(await q.summary()).toMatchObject({ count: 9, seenCount: 268, lastSeenAt: T0 + 1249 });
    });
  });
}

quarantineSuite('sqlite', true);
quarantineSuite('postgres', postgres);
