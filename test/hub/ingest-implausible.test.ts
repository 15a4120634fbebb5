/**
 * One reading outside the plausible time window (an OPC UA server whose clock runs an hour ahead)
 * must not keep the other readings of its batch out of the history: a gateway's batch mixes all
 * of its devices. The plausible readings are stored under the batch's key, the implausible ones
 * are kept in ONE quarantine entry (reason, field paths, only those readings), and the batch is
 * receipted. A resend (same gateway, bootId, seq) stores nothing twice and quarantines nothing
 * twice. A real hub (embedded broker) on SQLite (journaled, checked after a crash copy) and on
 * PostgreSQL; plain MQTT.js clients play the gateway and listen for its stored receipts.
 */
import { randomUUID } from 'node:crypto';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHubConfig } from '../../hub/config.js';
import { startHub, type Hub } from '../../hub/index.js';
import { PostgresStore } from '../../hub/store/postgres/postgres.js';
import { SqliteStore } from '../../hub/store/sqlite/sqlite.js';
import type { HubStore } from '../../hub/store/types.js';
import { encodeTelemetryBinary, gatewayTopic, type TelemetryBatch } from '../../shared/wire/index.js';
import { peerOrSkip, tcpPeer } from '../support/peers.js';
import { tempDir } from '../support/tmp.js';
import { addUsers, batch, connectClient, endAll, reading, storedReceipts, waitFor } from './helpers.js';

const postgres = peerOrSkip(await tcpPeer('127.0.0.1', 5432, 'postgresql'));
const PG_URL = process.env.SWARMGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SITE = 'site-i';
const HOUR = 3_600_000;
const quiet = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {}, child: () => quiet } as never;

function implausibleSuite(kind: 'postgres' | 'sqlite', enabled: boolean): void {
  describe.skipIf(!enabled)(`a reading outside the time window does not poison its batch (${kind})`, () => {
    const dir = tempDir(`swg-implausible-${kind}-`);
    let pg: PostgresStore | undefined;
    let sqlite: SqliteStore | undefined;
    let hub: Hub;
    let gw: MqttClient;
    let receipted: (bootId: string, seq: number) => number = () => 0;
    const send = async (b: TelemetryBatch | Buffer): Promise<void> => {
      await gw.publishAsync(gatewayTopic(SITE, 'gw-1', 'telemetry'), Buffer.isBuffer(b) ? b : JSON.stringify(b), { qos: 1 });
    };
    const values = async (store: HubStore, device: string, point: string, from: number, to: number): Promise<unknown[]> => (await store.history('gw-1', device, point, from, to)).map((s) => s.value);

    beforeAll(async () => {
      await addUsers(`${dir.path}/users.yaml`, [{ spec: { role: 'gateway', username: 'gw-1', site: SITE, gateway: 'gw-1' }, password: 'gw-1-password' }]);
      const config = parseHubConfig('broker: { embedded: { host: 127.0.0.1, port: 0, credentialsFile: users.yaml } }\nstore: { kind: sqlite, path: hub.db }\n', `${dir.path}/hub.yaml`);
      // SQLite journaled with a long flush interval: what ingest journals is what a crash replays.
      if (kind === 'postgres') pg = await PostgresStore.open({ url: PG_URL, schema: `swg_implausible_${randomUUID().replace(/-/g, '').slice(0, 12)}` });
      else sqlite = SqliteStore.open({ path: join(dir.path, 'hub.db'), flushMs: 600_000, logger: quiet });
      hub = await startHub(config, { store: (pg ?? sqlite)!, retentionIntervalMs: 0 });
      gw = await connectClient(hub.broker!.url, { username: 'gw-1', password: 'gw-1-password', clientId: 'gw-1' });
      ({ receipted } = await storedReceipts(gw, SITE, 'gw-1'));
    });

    afterAll(async () => {
      await endAll([gw]);
      await hub?.stop();
      if (pg) {
        await pg.dropSchema();
        await pg.close();
      }
      await sqlite?.close();
      dir.remove();
    });

    it("stores the batch's plausible readings, quarantines only the implausible ones in one entry, and receipts the batch", async () => {
      const now = Date.now();
      const mixed = batch('gw-1', 'boot-mixed', 0, [reading('ahu1', 'temp', 21, now), reading('plc', 'flow', 5, now + HOUR), reading('ahu2', 'temp', 22, now), reading('plc', 'flow', 6, now + HOUR + 1000)]);
      await send(mixed);
      await waitFor(() => (receipted('boot-mixed', 0) > 0 ? true : undefined), 10_000, 'receipt for the mixed batch');
      expect(await values(hub.store, 'ahu1', 'temp', now - 1, now + 1)).toEqual([21]);
      expect(await values(hub.store, 'ahu2', 'temp', now - 1, now + 1)).toEqual([22]);
      expect(await values(hub.store, 'plc', 'flow', now - HOUR, now + 2 * HOUR)).toEqual([]);
      const kept = await hub.quarantine.list({ gateway: 'gw-1' });
      expect(kept).toHaveLength(1);
      const entry = kept[0]!;
      expect(entry).toMatchObject({ reason: 'implausible', channel: 'telemetry', site: SITE, gateway: 'gw-1', encoding: 'utf8' });
      // Field paths of the batch as sent, and what happened to the rest.
      expect(entry.error).toMatch(/telemetry: \/readings\/1\/ts: .* is 60 min ahead of the hub clock .*; \/readings\/3\/ts: .* is 60 min ahead/);
      expect(entry.error).toContain('2 of 4 readings of batch gw-1/boot-mixed/0 outside the time window, kept here in their order; the other 2 were stored');
      // Only the refused readings, as a batch of the same key.
      expect(JSON.parse(entry.payload)).toEqual({ ...mixed, readings: [mixed.readings[1], mixed.readings[3]] });
      expect(await hub.quarantine.get(entry.id)).toEqual(entry);
      expect(await hub.metrics.count(hub.metrics.readingsStored)).toBe(2);
      expect(await hub.metrics.count(hub.metrics.quarantined)).toBe(1);
    });

    it('a resend of the same batch (lost receipt) stores and quarantines nothing again, and is receipted again', async () => {
      const now = Date.now();
      const b = batch('gw-1', 'boot-resend', 3, [reading('ahu1', 'rh', 40, now), reading('plc', 'level', 7, now + 2 * HOUR)]);
      await send(b);
      await waitFor(() => (receipted('boot-resend', 3) > 0 ? true : undefined), 10_000, 'first receipt');
      const quarantined = await hub.quarantine.count();
      const duplicates = await hub.metrics.count(hub.metrics.duplicates);
      await send({ ...b, historical: true, sentAt: now + 5000 });
      await waitFor(() => (receipted('boot-resend', 3) >= 2 ? true : undefined), 10_000, 'the resend receipted');
      // Also as a binary frame: the same batch whichever encoding it comes in.
      await send(encodeTelemetryBinary({ ...b, historical: true }, b.readings));
      await waitFor(() => (receipted('boot-resend', 3) >= 3 ? true : undefined), 10_000, 'the binary resend receipted');
      expect(await hub.metrics.count(hub.metrics.duplicates)).toBe(duplicates + 2);
      expect(await hub.metrics.count(hub.metrics.batchConflicts)).toBe(0);
      expect(await hub.quarantine.count()).toBe(quarantined);
      expect(await values(hub.store, 'ahu1', 'rh', now - 1, now + 1)).toEqual([40]);
      const entries = (await hub.quarantine.list({ gateway: 'gw-1' })).filter((q) => q.error.includes('boot-resend'));
      expect(entries).toHaveLength(1);
      expect(JSON.parse(entries[0]!.payload).readings).toEqual([b.readings[1]]);
    });

    it('a batch with every reading outside the window is kept whole, as received, once however often it is sent', async () => {
      const now = Date.now();
      const b = batch('gw-1', 'boot-all-bad', 1, [reading('plc', 'flow', 1, now + HOUR), reading('plc', 'flow', 2, Date.UTC(2001, 0, 1))]);
      const payload = JSON.stringify(b);
      await gw.publishAsync(gatewayTopic(SITE, 'gw-1', 'telemetry'), payload, { qos: 1 });
      await waitFor(() => (receipted('boot-all-bad', 1) >= 1 ? true : undefined), 10_000, 'receipted');
      await gw.publishAsync(gatewayTopic(SITE, 'gw-1', 'telemetry'), payload, { qos: 1 });
      await waitFor(() => (receipted('boot-all-bad', 1) >= 2 ? true : undefined), 10_000, 'the resend receipted');
      const entries = (await hub.quarantine.list({ gateway: 'gw-1' })).filter((q) => q.payload.includes('boot-all-bad'));
      expect(entries).toHaveLength(1);
      expect(entries[0]!.payload).toBe(payload);
      expect(entries[0]!.error).toMatch(/telemetry: \/readings\/0\/ts: .* is 60 min ahead .*; \/readings\/1\/ts: 2001-01-01T00:00:00.000Z is older than the 366 days/);
      expect(await values(hub.store, 'plc', 'flow', 0, now + 2 * HOUR)).toEqual([]);
      // Discarded once inspected: the only way out of the quarantine, for a partial entry as for any.
      await hub.quarantine.discard(entries[0]!.id);
      expect((await hub.quarantine.list({ gateway: 'gw-1' })).filter((q) => q.payload.includes('boot-all-bad'))).toEqual([]);
    });

    if (kind === 'sqlite')
      it('after a crash the journal replays the stored readings only, never the quarantined ones (files copied while the store is open)', async () => {
        const copy = tempDir('swg-implausible-crash-');
        try {
          cpSync(dir.path, copy.path, { recursive: true });
          const replayed = SqliteStore.open({ path: join(copy.path, 'hub.db'), logger: quiet });
          try {
            const to = Date.now() + 10 * HOUR;
            expect(await values(replayed, 'ahu1', 'temp', 0, to)).toEqual([21]);
            expect(await values(replayed, 'ahu2', 'temp', 0, to)).toEqual([22]);
            expect(await values(replayed, 'ahu1', 'rh', 0, to)).toEqual([40]);
            expect(await values(replayed, 'plc', 'flow', 0, to)).toEqual([]);
            expect(await values(replayed, 'plc', 'level', 0, to)).toEqual([]);
          } finally {
            await replayed.close();
          }
        } finally {
          copy.remove();
        }
      });
  });
}

implausibleSuite('sqlite', true);
implausibleSuite('postgres', postgres);
