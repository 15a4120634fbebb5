/**
 * The ingest suite, run against the embedded broker and against the real Mosquitto. A plain
 * MQTT.js client plays the gateway. Sites are unique per run, and ingest subscribes to those
 * sites only, so runs sharing a broker never see each other's messages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IClientOptions, MqttClient } from 'mqtt';
import { HubMetrics } from '../../hub/metrics.js';
import { HubEvents } from '../../hub/events.js';
import { Ingest } from '../../hub/ingest/ingest.js';
import { GatewayRegistry } from '../../hub/registry/registry.js';
import { SqliteStore } from '../../hub/store/sqlite/sqlite.js';
import type { HubStore } from '../../hub/store/types.js';
import { encode, gatewayTopic, GatewayStateSchema, TelemetryBatchSchema, type GatewayEvent, type GatewayState, type ReviewRequest } from '../../shared/wire/index.js';
import { tempDir } from '../support/tmp.js';
import { batch, connectClient, endAll, reading, sleep, uniqueId, waitFor } from './helpers.js';

export interface BrokerUnderTest {
  readonly url: string;
  readonly hubAuth: IClientOptions;
  /** Credentials for a gateway of the given site (registering it if the broker needs that). */
  gatewayAuth(site: string, gateway: string): Promise<IClientOptions>;
  close(): Promise<void>;
}

interface HubSide {
  readonly client: MqttClient;
  readonly ingest: Ingest;
  readonly events: HubEvents;
  readonly metrics: HubMetrics;
}

export function ingestSuite(name: string, setup: () => Promise<BrokerUnderTest>, enabled = true): void {
  describe.skipIf(!enabled)(`hub ingest: ${name}`, () => {
    const dir = tempDir('swarmgate-hub-ingest-');
    const site = uniqueId('site');
    const shareGroup = uniqueId('grp');
    let broker: BrokerUnderTest;
    let store: SqliteStore;
    const hubs: HubSide[] = [];
    const gateways: MqttClient[] = [];

    const startHubSide = async (over: { store?: HubStore; site?: string } = {}): Promise<HubSide> => {
      const client = await connectClient(broker.url, broker.hubAuth);
      const events = new HubEvents();
      const metrics = new HubMetrics();
      const hubStore = over.store ?? store;
      const registry = new GatewayRegistry({ store: hubStore, events, touchIntervalMs: 0 });
      const ingest = new Ingest({ client, store: hubStore, events, registry, metrics, shareGroup, sites: [over.site ?? site], maxPayloadBytes: 4096, maxRetryDelayMs: 50 });
      await ingest.start();
      const side = { client, ingest, events, metrics };
      hubs.push(side);
      return side;
    };

    const gatewayClient = async (gateway: string, extra: IClientOptions = {}): Promise<MqttClient> => {
      const client = await connectClient(broker.url, { ...(await broker.gatewayAuth(site, gateway)), ...extra });
      gateways.push(client);
      return client;
    };

    beforeAll(async () => {
      broker = await setup();
      store = SqliteStore.open({ path: `${dir.path}/hub.db` });
    });

    afterAll(async () => {
      // Clear retained births so a shared broker keeps nothing from this run.
      const cleaner = await connectClient(broker.url, broker.hubAuth).catch(() => undefined);
      if (cleaner) {
        for (const g of ['gw-state', 'gw-will']) await cleaner.publishAsync(gatewayTopic(site, g, 'state'), '', { qos: 1, retain: true }).catch(() => undefined);
        await cleaner.endAsync(true);
      }
      for (const h of hubs) await h.ingest.stop();
      await endAll([...hubs.map((h) => h.client), ...gateways]);
      await store?.close();
      await broker?.close();
      dir.remove();
    });

    it('stores telemetry once per (gateway, bootId, seq) and keeps order per point', async () => {
      const hub = await startHubSide();
      const gw = await gatewayClient('gw-tele');
      const topic = gatewayTopic(site, 'gw-tele', 'telemetry');
      const t = Date.now() - 10_000;
      const b1 = batch('gw-tele', 'boot-0001', 1, [reading('ahu1', 'temp', 1, t), reading('ahu1', 'temp', 2, t + 100)]);
      const b2 = batch('gw-tele', 'boot-0001', 2, [reading('ahu1', 'temp', 3, t + 200), reading('ahu1', 'fan', true, t + 200)]);
      const b3 = batch('gw-tele', 'boot-0001', 3, [reading('ahu1', 'temp', 4, t + 300)]);
      for (const b of [b1, b2, b2, b3, b1]) await gw.publishAsync(topic, encode(TelemetryBatchSchema, b), { qos: 1 });
      await waitFor(() => hub.ingest.stats.handled >= 5, 5000, 'five telemetry messages');
      expect(hub.ingest.stats.duplicates).toBe(2);
      const samples = await store.history('gw-tele', 'ahu1', 'temp', t, t + 1000);
      expect(samples.map((s) => s.value)).toEqual([1, 2, 3, 4]);
      expect((await store.latest('gw-tele')).map((r) => [r.point, r.value])).toEqual([
        ['fan', true],
        ['temp', 4],
      ]);
      expect(await hub.metrics.count(hub.metrics.readingsStored)).toBe(5);
      expect((await store.getGateway('gw-tele'))?.lastSeen).toBeGreaterThan(0);
    });

    it('rejects malformed, invalid, mismatched and oversized payloads, counts them and stores nothing', async () => {
      const hub = hubs[0]!;
      const rejected: string[] = [];
      const off = hub.events.on('rejected', ({ reason }) => void rejected.push(reason));
      const gw = await gatewayClient('gw-bad');
      const topic = gatewayTopic(site, 'gw-bad', 'telemetry');
      const good = batch('gw-bad', 'boot-0001', 1, [reading('m', 'p', 1, Date.now())]);
      await gw.publishAsync(topic, '{not json', { qos: 1 });
      await gw.publishAsync(topic, JSON.stringify({ ...good, seq: -1 }), { qos: 1 });
      await gw.publishAsync(topic, JSON.stringify({ ...good, gateway: 'gw-other' }), { qos: 1 });
      await gw.publishAsync(topic, JSON.stringify({ ...good, readings: Array.from({ length: 100 }, (_, i) => reading('m', 'p', i, Date.now())) }), { qos: 1 });
      await gw.publishAsync(gatewayTopic(site, 'gw-bad', 'events'), JSON.stringify({ v: 1, id: 'x' }), { qos: 1 });
      await waitFor(() => rejected.length >= 5, 5000, 'five rejections');
      off();
      expect(rejected.sort()).toEqual(['mismatch', 'not-json', 'schema', 'schema', 'too-large']);
      expect(await hub.metrics.count(hub.metrics.payloadRejected)).toBe(5);
      expect(await store.latest('gw-bad')).toEqual([]);
      expect(await store.events({ gateway: 'gw-bad' })).toEqual([]);
      // Ingest is still alive.
      await gw.publishAsync(topic, encode(TelemetryBatchSchema, good), { qos: 1 });
      await waitFor(async () => (await store.latest('gw-bad')).length === 1, 5000, 'good batch after bad ones');
    });

    it('stores gaps and events once and routes events and review requests to listeners', async () => {
      const hub = hubs[0]!;
      const seen = { events: [] as string[], reviews: [] as string[], gaps: 0 };
      const offs = [
        hub.events.on('event', ({ event }) => void seen.events.push(event.id)),
        hub.events.on('review', ({ review }) => void seen.reviews.push(review.id)),
        hub.events.on('gap', () => void seen.gaps++),
      ];
      const gw = await gatewayClient('gw-ev');
      const now = Date.now();
      const event: GatewayEvent = { v: 1, id: uniqueId('ev'), gateway: 'gw-ev', ts: now, kind: 'anomaly', severity: 'warning', device: 'ahu1', point: 'temp', message: 'drift' };
      const review: ReviewRequest = { v: 1, id: uniqueId('rv'), gateway: 'gw-ev', ts: now, expiresAt: now + 60_000, actionClass: 'setpoint', action: { kind: 'write', device: 'ahu1', point: 'sp', value: 21 }, confidence: 0.4, rationale: 'maybe', evidence: { z: 3 } };
      const gap = { v: 1, gateway: 'gw-ev', bootId: 'boot-0001', fromSeq: 5, toSeq: 9, readingsDropped: 40, fromTs: now - 1000, toTs: now, reason: 'outbox-size', ts: now };
      await gw.publishAsync(gatewayTopic(site, 'gw-ev', 'events'), JSON.stringify(event), { qos: 1 });
      await gw.publishAsync(gatewayTopic(site, 'gw-ev', 'events'), JSON.stringify(event), { qos: 1 });
      await gw.publishAsync(gatewayTopic(site, 'gw-ev', 'reviews'), JSON.stringify(review), { qos: 1 });
      await gw.publishAsync(gatewayTopic(site, 'gw-ev', 'gaps'), JSON.stringify(gap), { qos: 1 });
      await gw.publishAsync(gatewayTopic(site, 'gw-ev', 'gaps'), JSON.stringify(gap), { qos: 1 });
      await waitFor(async () => (await store.gaps('gw-ev')).length === 1 && seen.reviews.length === 1 && seen.events.length === 1, 5000, 'events, review, gap');
      await sleep(100);
      offs.forEach((off) => off());
      expect(seen).toEqual({ events: [event.id], reviews: [review.id], gaps: 1 });
      expect((await store.events({ gateway: 'gw-ev' })).map((e) => e.id)).toEqual([event.id]);
    });

    it('tracks online from the retained birth and offline from the will', async () => {
      const hub = hubs[0]!;
      const statusOf = async (g: string): Promise<string | undefined> => (await store.getGateway(g))?.status;
      const state = (gateway: string, status: GatewayState['status']): GatewayState => ({ v: 1, gateway, site, status, ts: Date.now(), bootId: 'boot-0002', version: '1.2.3', health: { outboxDepth: 0, outboxBytes: 0, rssBytes: 1000, uptimeS: 1 } });
      const willTopic = gatewayTopic(site, 'gw-will', 'state');
      const gw = await gatewayClient('gw-will', { will: { topic: willTopic, payload: encode(GatewayStateSchema, state('gw-will', 'offline')), qos: 1, retain: true } });
      await gw.publishAsync(willTopic, encode(GatewayStateSchema, state('gw-will', 'online')), { qos: 1, retain: true });
      await waitFor(async () => (await statusOf('gw-will')) === 'online', 5000, 'online');
      const online = await store.getGateway('gw-will');
      expect(online?.version).toBe('1.2.3');
      gw.stream.destroy(); // connection lost without DISCONNECT: the broker publishes the will
      await waitFor(async () => (await statusOf('gw-will')) === 'offline', 5000, 'offline from the will');
      // The will is not a sign of life: lastSeen stays at the last real message.
      expect((await store.getGateway('gw-will'))?.lastSeen).toBe(online?.lastSeen);
      // A hub process started later learns the state from the retained message.
      const gw2 = await gatewayClient('gw-state');
      await gw2.publishAsync(gatewayTopic(site, 'gw-state', 'state'), encode(GatewayStateSchema, state('gw-state', 'online')), { qos: 1, retain: true });
      await waitFor(async () => (await statusOf('gw-state')) === 'online', 5000, 'online');
      expect(hub.ingest.stats.rejected).toBe(5); // only the previous test's bad payloads
    });

    it('holds telemetry while the store fails (unacknowledged, retried) and stores it once when the store is back', async () => {
      const outageSite = uniqueId('site');
      let failing = true;
      // The real store, except that telemetry writes fail while `failing` (a locked or full database).
      const flaky = new Proxy(store, {
        get(target, prop) {
          if (prop === 'ingestBatch') {
            return async (...args: Parameters<SqliteStore['ingestBatch']>) => {
              if (failing) throw new Error('SQLITE_BUSY: database is locked');
              return target.ingestBatch(...args);
            };
          }
          const value = Reflect.get(target, prop, target) as unknown;
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      const hub = await startHubSide({ store: flaky, site: outageSite });
      const gw = await connectClient(broker.url, await broker.gatewayAuth(outageSite, 'gw-outage'));
      gateways.push(gw);
      const topic = gatewayTopic(outageSite, 'gw-outage', 'telemetry');
      const t = Date.now() - 5000;
      for (let seq = 1; seq <= 3; seq++) gw.publish(topic, encode(TelemetryBatchSchema, batch('gw-outage', 'boot-0001', seq, [reading('m', 'p', seq, t + seq)])), { qos: 1 });
      await waitFor(async () => (await hub.metrics.count(hub.metrics.storeFailures)) >= 4, 5000, 'retried store failures');
      // Nothing was acknowledged as handled, nothing dropped.
      expect(hub.ingest.stats.handled).toBe(0);
      expect(await store.history('gw-outage', 'm', 'p', t, t + 10)).toEqual([]);
      failing = false;
      await waitFor(() => hub.ingest.stats.handled >= 3, 5000, 'the three batches stored');
      expect((await store.history('gw-outage', 'm', 'p', t, t + 10)).map((x) => x.value)).toEqual([1, 2, 3]);

      // Stopped during an outage: the retry ends at once and the message stays unacknowledged.
      failing = true;
      gw.publish(topic, encode(TelemetryBatchSchema, batch('gw-outage', 'boot-0001', 4, [reading('m', 'p', 4, t + 4)])), { qos: 1 });
      const before = await hub.metrics.count(hub.metrics.storeFailures);
      await waitFor(async () => (await hub.metrics.count(hub.metrics.storeFailures)) > before, 5000, 'the fourth batch failing');
      const stopped = Date.now();
      await hub.ingest.stop();
      expect(Date.now() - stopped).toBeLessThan(2000);
      expect(hub.ingest.stats.handled).toBe(3);
      failing = false;
    });

    it('splits a shared subscription between two hub processes and stores each batch once', async () => {
      const second = await startHubSide();
      const first = hubs[0]!;
      const counts = new Map<HubSide, number>([
        [first, 0],
        [second, 0],
      ]);
      const offs = [first, second].map((h) => h.events.on('telemetry', ({ gateway }) => void (gateway === 'gw-split' && counts.set(h, (counts.get(h) ?? 0) + 1))));
      const gw = await gatewayClient('gw-split');
      const topic = gatewayTopic(site, 'gw-split', 'telemetry');
      const t = Date.now() - 5000;
      const n = 40;
      for (let seq = 1; seq <= n; seq++) await gw.publishAsync(topic, encode(TelemetryBatchSchema, batch('gw-split', 'boot-0001', seq, [reading('m', 'p', seq, t + seq)])), { qos: 1 });
      await waitFor(() => (counts.get(first) ?? 0) + (counts.get(second) ?? 0) >= n, 10_000, 'all batches');
      await sleep(200);
      offs.forEach((off) => off());
      expect((counts.get(first) ?? 0) + (counts.get(second) ?? 0)).toBe(n);
      expect(counts.get(first)).toBeGreaterThan(0);
      expect(counts.get(second)).toBeGreaterThan(0);
      const samples = await store.history('gw-split', 'm', 'p', t, t + n + 1);
      expect(samples.map((s) => s.value)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    });
  });
}
