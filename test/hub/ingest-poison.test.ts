/**
 * One gateway's bad message must never stop another's, and a refused message is kept for
 * inspection, not lost and not retried forever; sent again, it is counted on its entry, not kept
 * again. A real hub (embedded broker) on PostgreSQL and on SQLite; plain MQTT.js clients play two
 * gateways of one site and listen for their stored receipts.
 */
import { randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHubConfig } from '../../hub/config.js';
import { startHub, type Hub } from '../../hub/index.js';
import { PostgresStore } from '../../hub/store/postgres/postgres.js';
import { gatewayTopic, messageDigest, type StoredReceipt, type TelemetryBatch } from '../../shared/wire/index.js';
import { peerOrSkip, tcpPeer } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import { addUsers, batch, connectClient, endAll, reading, storedReceipts, waitFor } from './helpers.js';

const postgres = peerOrSkip(await tcpPeer('127.0.0.1', 5432, 'postgresql'));
const PG_URL = process.env.SWARMGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SITE = 'site-p';

interface Gw {
  readonly id: string;
  readonly client: MqttClient;
  readonly receipts: StoredReceipt[];
  send(b: TelemetryBatch | string): Promise<void>;
  receipted(bootId: string, seq: number): boolean;
}

async function gatewayOn(hub: Hub, id: string, password: string): Promise<Gw> {
  const client = await connectClient(hub.broker!.url, { username: id, password, clientId: id });
  const { receipts, receipted } = await storedReceipts(client, SITE, id);
  return {
    id,
    client,
    receipts,
    send: async (b) => {
      await client.publishAsync(gatewayTopic(SITE, id, 'telemetry'), typeof b === 'string' ? b : JSON.stringify(b), { qos: 1 });
    },
    receipted: (bootId, seq) => receipted(bootId, seq) > 0,
  };
}

function poisonSuite(kind: 'postgres' | 'sqlite', enabled: boolean): void {
  describe.skipIf(!enabled)(`ingest refuses poison and moves on (${kind})`, () => {
    const dir = tempDir(`swg-poison-${kind}-`);
    let pg: PostgresStore | undefined;
    let hub: Hub;
    let a: Gw;
    let b: Gw;

    beforeAll(async () => {
      await addUsers(`${dir.path}/users.yaml`, [
        { spec: { role: 'gateway', username: 'gw-a', site: SITE, gateway: 'gw-a' }, password: 'gw-a-password' },
        { spec: { role: 'gateway', username: 'gw-b', site: SITE, gateway: 'gw-b' }, password: 'gw-b-password' },
      ]);
      const config = parseHubConfig('broker: { embedded: { host: 127.0.0.1, port: 0, credentialsFile: users.yaml } }\nstore: { kind: sqlite, path: hub.db }\n', `${dir.path}/hub.yaml`);
      if (kind === 'postgres') pg = await PostgresStore.open({ url: PG_URL, schema: `swg_poison_${randomUUID().replace(/-/g, '').slice(0, 12)}` });
      hub = await startHub(config, pg ? { store: pg } : {});
      a = await gatewayOn(hub, 'gw-a', 'gw-a-password');
      b = await gatewayOn(hub, 'gw-b', 'gw-b-password');
    });

    afterAll(async () => {
      await endAll([a?.client, b?.client]);
      await hub?.stop();
      if (pg) {
        await pg.dropSchema();
        await pg.close();
      }
      dir.remove();
    });

    it('numbers beyond what the stores hold are refused by the wire schema, kept in the quarantine and stored nowhere', async () => {
      const t = Date.now();
      const good = batch('gw-a', 'boot-bounds', 1, [reading('ahu1', 'temp', 20, t)]);
      await a.send(JSON.stringify({ ...good, readings: [{ ...good.readings[0], ts: 1e20 }] }));
      await a.send(JSON.stringify({ ...good, seq: 1e300 }));
      await a.send(JSON.stringify({ ...good, seq: 2, readings: [{ ...good.readings[0], ts: Date.UTC(9999, 0, 1) }] }));
      await a.send(JSON.stringify({ ...good, seq: 3, readings: [{ ...good.readings[0], v: 1e308 }] }));
      await waitFor(async () => ((await hub.quarantine.count()) >= 4 ? true : undefined), 10_000, 'four quarantined');
      const kept = await hub.quarantine.list({ gateway: 'gw-a' });
      expect(kept.map((k) => k.reason)).toEqual(['schema', 'schema', 'schema', 'schema']);
      expect(kept.map((k) => k.error.replace(/^.*?telemetry: /, '').split(':')[0])).toEqual(['/readings/0/v', '/readings/0/ts', '/seq', '/readings/0/ts']);
      expect(JSON.parse(kept[3]!.payload).readings[0].ts).toBe(1e20);
      expect(await hub.store.latest('gw-a')).toEqual([]);
      // The ones naming a storable batch are receipted (kept: the gateway may let them go); 1e300 names none.
      await waitFor(() => a.receipted('boot-bounds', 1) && a.receipted('boot-bounds', 2) && a.receipted('boot-bounds', 3), 5000, 'receipts for kept batches');
    });

    it('readings far ahead of the hub clock or older than the history window are quarantined, not stored; the rest of their batch is', async () => {
      const now = Date.now();
      await a.send(batch('gw-a', 'boot-time', 1, [reading('ahu1', 'temp', 1, now), reading('ahu1', 'temp', 2, now + 24 * 3600_000)]));
      await a.send(batch('gw-a', 'boot-time', 2, [reading('ahu1', 'temp', 3, Date.UTC(2001, 0, 1))]));
      await a.send(batch('gw-a', 'boot-time', 3, [reading('ahu1', 'temp', 4, now - 30 * 86_400_000, 'good')], true));
      await waitFor(() => (a.receipted('boot-time', 1) && a.receipted('boot-time', 2) && a.receipted('boot-time', 3) ? true : undefined), 10_000, 'receipts');
      const kept = (await hub.quarantine.list({ gateway: 'gw-a' })).filter((k) => k.reason === 'implausible');
      expect(kept.map((k) => k.error.replace(/^.*?telemetry: /, ''))).toEqual([
        expect.stringMatching(/^\/readings\/0\/ts: 2001-01-01T00:00:00.000Z is older than the 366 days/),
        expect.stringMatching(/^\/readings\/1\/ts: .* is 1440 min ahead of the hub clock/),
      ]);
      // A month-old historical replay is inside the window and stored; so is batch 1's plausible reading.
      const history = await hub.store.history('gw-a', 'ahu1', 'temp', 0, now + 48 * 3600_000);
      expect(history.map((s) => s.value)).toEqual([4, 1]);
      expect(await hub.metrics.count(hub.metrics.quarantined)).toBeGreaterThanOrEqual(6);
    });

    it('events are receipted by the digest of their payload once stored', async () => {
      const payload = JSON.stringify({ v: 1, id: 'evt-receipt-1', gateway: 'gw-a', ts: Date.now(), kind: 'system', severity: 'info', message: 'receipt me' });
      await a.client.publishAsync(gatewayTopic(SITE, 'gw-a', 'events'), payload, { qos: 1 });
      const digest = messageDigest(Buffer.from(payload));
      await waitFor(() => (a.receipts.some((r) => r.messages?.includes(digest)) ? true : undefined), 10_000, 'receipt naming the event');
      expect((await hub.store.events({ gateway: 'gw-a' })).map((e) => e.id)).toContain('evt-receipt-1');
    });

    it('a batch key repeated with other readings is counted and logged as a conflict; the first is kept and both are receipted', async () => {
      const t = Date.now();
      await a.send(batch('gw-a', 'boot-conflict', 1, [reading('ahu1', 'co2', 400, t)]));
      await waitFor(() => (a.receipted('boot-conflict', 1) ? true : undefined), 10_000, 'first receipt');
      const receipts = a.receipts.length;
      await a.send(batch('gw-a', 'boot-conflict', 1, [reading('ahu1', 'co2', 999, t)]));
      await waitFor(async () => ((await hub.metrics.count(hub.metrics.batchConflicts)) === 1 ? true : undefined), 10_000, 'conflict counted');
      await waitFor(() => (a.receipts.length > receipts ? true : undefined), 10_000, 'the repeat receipted too');
      expect((await hub.store.history('gw-a', 'ahu1', 'co2', t - 1, t + 1)).map((x) => x.value)).toEqual([400]);
    });

    it('a refused message its gateway keeps sending is one quarantine entry counting each time, whatever the reason', async () => {
      const t = Date.now();
      const newlyKept = await hub.metrics.count(hub.metrics.quarantined);
      const publish = async (channel: 'telemetry' | 'events', payload: string, times: number): Promise<void> => {
        for (let i = 0; i < times; i++) await b.client.publishAsync(gatewayTopic(SITE, 'gw-b', channel), payload, { qos: 1 });
      };
      await publish('telemetry', '{"v":1,"gateway":"gw-b", not json', 3); // not-json: names no batch, never receipted
      await publish('events', JSON.stringify({ v: 1, id: 'evt-bad', gateway: 'gw-b', ts: t, kind: 'no-such-kind', severity: 'info', message: 'x' }), 3); // schema
      await publish('telemetry', JSON.stringify(batch('gw-a', 'boot-foreign', 1, [reading('ahu1', 'temp', 1, t)])), 2); // mismatch: names gw-a
      // Invalid yet naming its batch: a resend (lost receipt) with another sentAt is the same message.
      const invalid = { ...batch('gw-b', 'boot-invalid', 4, [reading('ahu1', 'temp', 1, t)]), readings: [{ d: 'ahu1', p: 'temp', v: 1, q: 'so-so', ts: t }] };
      await b.send(JSON.stringify(invalid));
      await b.send(JSON.stringify({ ...invalid, sentAt: invalid.sentAt + 30_000, historical: true }));
      await waitFor(async () => ((await hub.quarantine.summary({ gateway: 'gw-b' })).seenCount === 10 ? true : undefined), 10_000, 'ten refusals counted');
      const kept = await hub.quarantine.list({ gateway: 'gw-b' });
      expect(kept.map((k) => [k.channel, k.reason, k.seenCount])).toEqual([
        ['telemetry', 'schema', 2],
        ['telemetry', 'mismatch', 2],
        ['events', 'schema', 3],
        ['telemetry', 'not-json', 3],
      ]);
      expect(JSON.parse(kept[0]!.payload)).toEqual(invalid); // the first copy
      for (const k of kept) expect(k.lastSeenAt).toBeGreaterThanOrEqual(k.receivedAt);
      expect(await hub.metrics.count(hub.metrics.quarantined)).toBe(newlyKept + 4);
      await waitFor(() => (b.receipted('boot-invalid', 4) ? true : undefined), 10_000, 'the invalid batch receipted');
    });

    // PostgreSQL only (SQLite journals a batch before its store write). What the wire allows a
    // database may still refuse every time (a constraint or trigger an operator added, a value
    // another version of the schema cannot hold); here a trigger refuses one batch.
    if (kind === 'postgres')
      it("a batch the database refuses every time is quarantined and the other gateway's data keeps flowing", async () => {
        const t = Date.now();
        await pg!.query(`CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN IF NEW.boot_id = 'boot-poison-1' THEN RAISE EXCEPTION 'refused by the test trigger: batch %', NEW.seq USING ERRCODE = 'invalid_parameter_value'; END IF; RETURN NEW; END $$`);
        await pg!.query('CREATE TRIGGER refuse_poison BEFORE INSERT ON batches FOR EACH ROW EXECUTE FUNCTION refuse_poison()');
        const poison = batch('gw-a', 'boot-poison-1', 7, [reading('ahu1', 'label', 'never stored', t)]);
        await a.send(poison);
        const later = Array.from({ length: 5 }, (_, i) => batch('gw-b', 'boot-b-0001', i, [reading('ahu1', 'temp', 10 + i, t + i)]));
        for (const x of later) await b.send(x);
        await waitFor(async () => ((await hub.store.latest('gw-b'))[0]?.value === 14 ? true : undefined), 20_000, "gw-b's readings stored behind the poison");
        await waitFor(() => (a.receipted('boot-poison-1', 7) ? true : undefined), 10_000, 'receipt for the quarantined batch');
        await waitFor(() => ([0, 1, 2, 3, 4].every((i) => b.receipted('boot-b-0001', i)) ? true : undefined), 10_000, "gw-b's receipts");
        const kept = (await hub.quarantine.list({ gateway: 'gw-a' })).find((k) => k.reason === 'store-refused');
        expect(kept?.error).toMatch(/refused by the test trigger: batch 7/);
        expect(kept?.encoding).toBe('utf8');
        expect(JSON.parse(kept!.payload)).toEqual(poison);
        expect(await hub.store.latest('gw-a')).not.toContainEqual(expect.objectContaining({ point: 'label' }));
        // Ingest did not give up on the store: the next batch of the same gateway is stored.
        await a.send(batch('gw-a', 'boot-poison-2', 8, [reading('ahu1', 'label', 'fine', t + 10)]));
        await waitFor(async () => ((await hub.store.latest('gw-a')).some((r) => r.point === 'label' && r.value === 'fine') ? true : undefined), 10_000, 'the next batch stored');
        // Sent again (the receipt lost, twice): receipted again and counted on the one entry.
        const receipts = a.receipts.length;
        await a.send(poison);
        await a.send({ ...poison, sentAt: poison.sentAt + 1 });
        const again = await waitFor(async () => {
          const entries = (await hub.quarantine.list({ gateway: 'gw-a' })).filter((k) => k.reason === 'store-refused');
          return entries.length === 1 && entries[0]!.seenCount === 3 ? entries[0] : undefined;
        }, 20_000, 'the poison counted three times on one entry');
        expect(again).toMatchObject({ id: kept!.id, payload: kept!.payload });
        await waitFor(() => (a.receipts.length >= receipts + 1 ? true : undefined), 10_000, 'the resends receipted');
      });
  });
}

poisonSuite('postgres', postgres);
poisonSuite('sqlite', true);
