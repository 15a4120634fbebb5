/**
 * The one HubStore contract both implementations must pass (like aedes' abstract-persistence).
 * Each test uses its own gateway ids, so one store instance serves the whole suite.
 */
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommandRecord, HubStore } from '../../../hub/store/types.js';
import type { GapRecord, GatewayEvent } from '../../../shared/wire/index.js';
import { batch, reading, uniqueId } from '../helpers.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2024, 0, 1); // bucket-aligned base time

export interface StoreHandle {
  readonly store: HubStore;
  readonly cleanup: () => Promise<void>;
}

/** A real pino logger whose JSON lines are kept, for tests that check what a store logs. */
export function capturedLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'warn' }, sink), lines };
}

export function storeContract(name: string, open: (logger: Logger) => Promise<StoreHandle>, enabled = true): void {
  describe.skipIf(!enabled)(`HubStore contract: ${name}`, () => {
    let handle: StoreHandle;
    let store: HubStore;
    const logs = capturedLogger();

    beforeAll(async () => {
      handle = await open(logs.logger);
      store = handle.store;
    });
    afterAll(async () => {
      await handle?.cleanup();
    });

    it('is migrated to the current schema version', async () => {
      expect(await store.schemaVersion()).toBeGreaterThanOrEqual(1);
    });

    it('stores a batch once: the same (gateway, bootId, seq) again is a duplicate', async () => {
      const gw = uniqueId('gw');
      const b = batch(gw, 'boot-0001', 1, [reading('ahu1', 'temp', 21.5, T0), reading('ahu1', 'temp', 21.7, T0 + 1000)]);
      expect(await store.ingestBatch(b)).toEqual({ stored: true, readings: 2 });
      expect(await store.ingestBatch(b)).toEqual({ stored: false, readings: 0 });
      expect(await store.ingestBatch({ ...b, bootId: 'boot-0002' })).toEqual({ stored: true, readings: 2 });
      expect(await store.ingestBatch({ ...b, seq: 2 })).toEqual({ stored: true, readings: 2 });
      expect(await store.history(gw, 'ahu1', 'temp', T0, T0 + 10_000)).toHaveLength(6);
    });

    it('takes the same batch sent again (historical, a later sentAt) as a plain duplicate, not a conflict', async () => {
      const gw = uniqueId('gw');
      const b = batch(gw, 'boot-0001', 7, [reading('m', 'p', 1, T0), reading('m', 'q', 'on', T0)]);
      expect(await store.ingestBatch(b)).toEqual({ stored: true, readings: 2 });
      expect(await store.ingestBatch({ ...b, historical: true, sentAt: b.sentAt + 60_000 })).toEqual({ stored: false, readings: 0 });
      expect(await store.ingestBatch(JSON.parse(JSON.stringify(b)) as typeof b)).toEqual({ stored: false, readings: 0 });
      expect(logs.lines.filter((l) => l.gateway === gw)).toEqual([]);
    });

    it('reports a repeated key with different readings as a conflict, logs it, and keeps what was stored first', async () => {
      const gw = uniqueId('gw');
      const first = batch(gw, 'boot-0001', 3, [reading('m', 'p', 1, T0), reading('m', 'p', 2, T0 + 1000)]);
      expect(await store.ingestBatch(first)).toEqual({ stored: true, readings: 2 });
      const changed = [
        { ...first, readings: [reading('m', 'p', 1, T0), reading('m', 'p', 3, T0 + 1000)] },
        { ...first, readings: [reading('m', 'p', 1, T0)] },
        { ...first, readings: [reading('m', 'p', 1, T0), reading('m', 'p', 2, T0 + 1001)] },
        { ...first, readings: [reading('m', 'p', 1, T0), reading('m', 'p', 2, T0 + 1000, 'bad')] },
        { ...first, readings: [reading('m', 'p', 1, T0), reading('m', 'p', '2', T0 + 1000)] },
      ];
      for (const b of changed) expect(await store.ingestBatch(b)).toEqual({ stored: false, readings: 0, conflict: true });
      expect((await store.history(gw, 'm', 'p', T0, T0 + 5000)).map((s) => s.value)).toEqual([1, 2]);
      // Another seq of the same boot is a new batch, whatever it holds.
      expect(await store.ingestBatch({ ...changed[0]!, seq: 4 })).toEqual({ stored: true, readings: 2 });
      const warnings = logs.lines.filter((l) => l.gateway === gw);
      expect(warnings.length).toBeGreaterThanOrEqual(1);
      expect(warnings[0]).toMatchObject({ level: 40, gateway: gw, bootId: 'boot-0001', seq: 3 });
      expect(String(warnings[0]!.msg)).toMatch(/conflict/);
    });

    it('rate-limits conflict warnings per gateway', async () => {
      const gw = uniqueId('gw');
      for (let seq = 1; seq <= 20; seq++) await store.ingestBatch(batch(gw, 'boot-0002', seq, [reading('m', 'p', seq, T0 + seq)]));
      for (let seq = 1; seq <= 20; seq++) expect(await store.ingestBatch(batch(gw, 'boot-0002', seq, [reading('m', 'p', -seq, T0 + seq)]))).toMatchObject({ conflict: true });
      const warnings = logs.lines.filter((l) => l.gateway === gw);
      expect(warnings.length).toBeGreaterThanOrEqual(1);
      expect(warnings.length).toBeLessThan(20);
    });

    it('keeps order per point by ts, arrival order on equal ts, across out-of-order batches', async () => {
      const gw = uniqueId('gw');
      await store.ingestBatch(batch(gw, 'boot-0001', 2, [reading('m', 'p', 3, T0 + 3000), reading('m', 'p', 4, T0 + 3000)]));
      await store.ingestBatch(batch(gw, 'boot-0001', 1, [reading('m', 'p', 1, T0 + 1000), reading('m', 'q', 9, T0 + 500), reading('m', 'p', 2, T0 + 2000)], true));
      const samples = await store.history(gw, 'm', 'p', T0, T0 + 5000);
      expect(samples.map((s) => s.value)).toEqual([1, 2, 3, 4]);
      expect(samples.map((s) => s.ts)).toEqual([T0 + 1000, T0 + 2000, T0 + 3000, T0 + 3000]);
      expect(await store.history(gw, 'm', 'p', T0 + 2000, T0 + 2999)).toEqual([{ ts: T0 + 2000, value: 2, quality: 'good' }]);
    });

    it('round-trips every value type and quality, and keeps the newest value as latest', async () => {
      const gw = uniqueId('gw');
      await store.ingestBatch(
        batch(gw, 'boot-0001', 1, [
          reading('d', 'n', 1.25, T0 + 10),
          reading('d', 'b', true, T0 + 10),
          reading('d', 's', 'auto', T0 + 10),
          { d: 'd', p: 'x', v: null, q: 'bad', ts: T0 + 10, c: 'timeout' },
        ]),
      );
      // A replay of older data must not overwrite newer latest values.
      await store.ingestBatch(batch(gw, 'boot-0001', 2, [reading('d', 'n', 9, T0 + 5)], true));
      await store.ingestBatch(batch(gw, 'boot-0001', 3, [reading('d', 'b', false, T0 + 20)]));
      const latest = await store.latest(gw);
      expect(latest).toEqual([
        { gateway: gw, device: 'd', point: 'b', value: false, quality: 'good', ts: T0 + 20 },
        { gateway: gw, device: 'd', point: 'n', value: 1.25, quality: 'good', ts: T0 + 10 },
        { gateway: gw, device: 'd', point: 's', value: 'auto', quality: 'good', ts: T0 + 10 },
        { gateway: gw, device: 'd', point: 'x', value: null, quality: 'bad', ts: T0 + 10, cause: 'timeout' },
      ]);
      expect((await store.latest()).filter((r) => r.gateway === gw)).toHaveLength(4);
      expect(await store.history(gw, 'd', 'x', T0, T0 + 100)).toEqual([{ ts: T0 + 10, value: null, quality: 'bad', cause: 'timeout' }]);
    });

    it('downsamples into aligned buckets: avg/min/max/count of good and uncertain numbers', async () => {
      const gw = uniqueId('gw');
      await store.ingestBatch(
        batch(gw, 'boot-0001', 1, [
          reading('d', 'p', 1, T0 + 0),
          reading('d', 'p', 3, T0 + 20_000),
          reading('d', 'p', 8, T0 + 59_999, 'uncertain'),
          { d: 'd', p: 'p', v: 1000, q: 'bad', ts: T0 + 30_000 },
          reading('d', 'p', 10, T0 + 60_000),
          reading('d', 'p', -2, T0 + 150_000),
          reading('d', 'b', true, T0 + 1),
          reading('d', 'b', false, T0 + 2),
          reading('d', 'b', true, T0 + 3),
          reading('d', 'b', true, T0 + 4),
        ]),
      );
      expect(await store.history(gw, 'd', 'p', T0, T0 + 200_000, 60_000)).toEqual([
        { start: T0, avg: 4, min: 1, max: 8, count: 3 },
        { start: T0 + 60_000, avg: 10, min: 10, max: 10, count: 1 },
        { start: T0 + 120_000, avg: -2, min: -2, max: -2, count: 1 },
      ]);
      expect(await store.history(gw, 'd', 'b', T0, T0 + 10, 60_000)).toEqual([{ start: T0, avg: 0.75, min: 0, max: 1, count: 4 }]);
      await expect(store.history(gw, 'd', 'p', T0, T0 + 1, 0)).rejects.toThrow(/bucketMs/);
    });

    it('applies retention: rolls up old raw readings, deletes them, serves buckets from rollups, ages out rollups', async () => {
      const gw = uniqueId('gw');
      const now = T0 + 10 * DAY;
      const policy = { rawDays: 2, rollups: [{ bucketS: 3600, keepDays: 5 }, { bucketS: 86_400, keepDays: 30 }] };
      // Day 0 and day 7 are older than rawDays; day 9 is recent.
      const old = [0, 1, 2, 3].map((i) => reading('d', 'p', i * 10, T0 + i * 600_000)); // 0,10,20,30 within hour 0 of day 0
      const week = [reading('d', 'p', 5, T0 + 7 * DAY + 1000), reading('d', 'p', 7, T0 + 7 * DAY + 3_600_000 + 1)];
      const recent = [reading('d', 'p', 100, T0 + 9 * DAY + 5)];
      await store.ingestBatch(batch(gw, 'boot-0001', 1, [...old, ...week, ...recent]));
      const before = await store.history(gw, 'd', 'p', T0, now, DAY);

      const result = await store.retention(now, policy);
      expect(result.rawDeleted).toBeGreaterThanOrEqual(6);
      expect(await store.history(gw, 'd', 'p', T0, now)).toEqual([{ ts: T0 + 9 * DAY + 5, value: 100, quality: 'good' }]);
      // Daily buckets come from the daily rollup (kept 30 days) plus raw: same numbers as before.
      expect(await store.history(gw, 'd', 'p', T0, now, DAY)).toEqual(before);
      // Hourly rollups are kept 5 days: day 0 is gone, day 7 remains.
      expect(await store.history(gw, 'd', 'p', T0, now, 3_600_000)).toEqual([
        { start: T0 + 7 * DAY, avg: 5, min: 5, max: 5, count: 1 },
        { start: T0 + 7 * DAY + 3_600_000, avg: 7, min: 7, max: 7, count: 1 },
        { start: T0 + 9 * DAY, avg: 100, min: 100, max: 100, count: 1 },
      ]);
      // A second run adds nothing twice; a late replay of old data is rolled up on the next run.
      await store.retention(now, policy);
      await store.ingestBatch(batch(gw, 'boot-0001', 2, [reading('d', 'p', 50, T0 + 3 * 600_000 + 1)], true));
      await store.retention(now, policy);
      const days = await store.history(gw, 'd', 'p', T0, now, DAY);
      expect(days[0]).toEqual({ start: T0, avg: 22, min: 0, max: 50, count: 5 });
      expect(days.slice(1)).toEqual(before.slice(1));
    });

    it('stores gap records once and lists them per gateway', async () => {
      const gw = uniqueId('gw');
      const gap: GapRecord = { v: 1, gateway: gw, bootId: 'boot-0001', fromSeq: 10, toSeq: 19, readingsDropped: 500, fromTs: T0, toTs: T0 + 60_000, reason: 'outbox-size', ts: T0 + 70_000 };
      expect(await store.insertGap(gap, T0 + 80_000)).toEqual({ stored: true });
      expect(await store.insertGap(gap)).toEqual({ stored: false });
      await store.insertGap({ ...gap, fromSeq: 1, toSeq: 2, fromTs: T0 - 1000, reason: 'outbox-age' }, T0 + 90_000);
      const gaps = await store.gaps(gw);
      expect(gaps).toHaveLength(2);
      expect(gaps[1]).toEqual({ ...gap, receivedAt: T0 + 80_000 });
      expect(gaps[0]?.reason).toBe('outbox-age');
      expect(await store.gaps(uniqueId('other'))).toEqual([]);
    });

    it('pages gaps newest first by (ts, bootId, fromSeq, toSeq): records with equal ts are neither skipped nor repeated', async () => {
      const gw = uniqueId('gw');
      const gap = (bootId: string, fromSeq: number, ts: number): GapRecord => ({ v: 1, gateway: gw, bootId, fromSeq, toSeq: fromSeq + 9, readingsDropped: 10, fromTs: ts - 60_000, toTs: ts - 1000, reason: 'outbox-size', ts });
      // One drop on a gateway that booted three times: one record per boot, one ts; and two older ones.
      const all = [gap('boot-cccc3', 0, T0 + 5000), gap('boot-aaaa1', 0, T0 + 5000), gap('boot-bbbb2', 20, T0 + 5000), gap('boot-bbbb2', 0, T0 + 5000), gap('boot-aaaa1', 30, T0 + 1000), gap('boot-zzzz9', 0, T0)];
      for (const g of all) await store.insertGap(g, T0 + 9000);
      await store.insertGap({ ...gap('boot-other1', 0, T0 + 5000), gateway: uniqueId('other') });
      const key = (g: GapRecord): string => `${g.ts}/${g.bootId}/${g.fromSeq}`;
      const at = (ms: number, bootId: string, fromSeq: number): string => `${T0 + ms}/${bootId}/${fromSeq}`;
      const expected = [at(5000, 'boot-cccc3', 0), at(5000, 'boot-bbbb2', 20), at(5000, 'boot-bbbb2', 0), at(5000, 'boot-aaaa1', 0), at(1000, 'boot-aaaa1', 30), at(0, 'boot-zzzz9', 0)];
      expect((await store.gapPage(gw, { limit: 100 })).map(key)).toEqual(expected);
      for (const limit of [1, 2, 4]) {
        const seen: string[] = [];
        let page = await store.gapPage(gw, { limit });
        while (page.length > 0) {
          seen.push(...page.map(key));
          const last = page[page.length - 1]!;
          page = await store.gapPage(gw, { limit, before: { ts: last.ts, bootId: last.bootId, fromSeq: last.fromSeq, toSeq: last.toSeq } });
        }
        expect(seen, `limit ${limit}`).toEqual(expected);
      }
      // A plain time takes the gaps recorded before it.
      expect((await store.gapPage(gw, { limit: 100, before: T0 + 5000 })).map(key)).toEqual(expected.slice(4));
      expect((await store.gapPage(gw, { limit: 100 }))[0]).toEqual({ ...all[0], receivedAt: T0 + 9000 });
    });

    it('stores events once and queries them newest first with filters', async () => {
      const gw = uniqueId('gw');
      const ev = (id: string, ts: number, severity: GatewayEvent['severity'], extra: Partial<GatewayEvent> = {}): GatewayEvent => ({ v: 1, id, gateway: gw, ts, kind: 'anomaly', severity, message: `m ${id}`, ...extra });
      expect(await store.insertEvent(ev(`${gw}-e1`, T0 + 1, 'info'), 'site-a', T0 + 2)).toEqual({ stored: true });
      expect(await store.insertEvent(ev(`${gw}-e1`, T0 + 1, 'info'), 'site-a')).toEqual({ stored: false });
      await store.insertEvent(ev(`${gw}-e2`, T0 + 5, 'critical', { device: 'ahu1', point: 'temp', data: { z: 4.2, tags: ['a'] } }), 'site-a', T0 + 6);
      await store.insertEvent(ev(`${gw}-e3`, T0 + 3, 'warning', { kind: 'rule' }), 'site-a', T0 + 7);
      const all = await store.events({ gateway: gw });
      expect(all.map((e) => e.id)).toEqual([`${gw}-e2`, `${gw}-e3`, `${gw}-e1`]);
      expect(all[0]).toEqual({ ...ev(`${gw}-e2`, T0 + 5, 'critical', { device: 'ahu1', point: 'temp', data: { z: 4.2, tags: ['a'] } }), site: 'site-a', receivedAt: T0 + 6 });
      expect((await store.events({ gateway: gw, severity: 'critical' })).map((e) => e.id)).toEqual([`${gw}-e2`]);
      expect((await store.events({ gateway: gw, kind: 'rule' })).map((e) => e.id)).toEqual([`${gw}-e3`]);
      expect((await store.events({ gateway: gw, from: T0 + 2, to: T0 + 4 })).map((e) => e.id)).toEqual([`${gw}-e3`]);
      expect(await store.events({ gateway: gw, limit: 1 })).toHaveLength(1);
    });

    it('pages events in the order they were stored (received time, then id), whatever their own times', async () => {
      const gw = uniqueId('gw');
      // Received far after anything else in this store: only these are read.
      const R = 9_000_000_000_000 + Math.floor(Math.random() * 1e9);
      const ev = (id: string, ts: number, kind: GatewayEvent['kind'] = 'anomaly'): GatewayEvent => ({ v: 1, id: `${gw}-${id}`, gateway: gw, ts, kind, severity: 'warning', message: id });
      await store.insertEvent(ev('b', T0 + 9), 'site-a', R + 1);
      await store.insertEvent(ev('a', T0 + 1), 'site-a', R + 1);
      await store.insertEvent(ev('late', T0 - 3_600_000), 'site-a', R + 2); // a backlog: old, stored last
      await store.insertEvent(ev('rule', T0 + 2, 'rule'), 'site-a', R + 2);
      await store.insertEvent(ev('before', T0 + 5), 'site-a', R - 1);
      const ids = (events: readonly { id: string }[]): string[] => events.map((e) => e.id.slice(gw.length + 1));
      expect(ids(await store.eventsReceived({ from: R, kind: 'anomaly', limit: 10 }))).toEqual(['a', 'b', 'late']);
      expect(ids(await store.eventsReceived({ from: R, limit: 10 }))).toEqual(['a', 'b', 'late', 'rule']);
      const first = await store.eventsReceived({ from: R, kind: 'anomaly', limit: 1 });
      expect(ids(first)).toEqual(['a']);
      const next = await store.eventsReceived({ from: R, kind: 'anomaly', after: { receivedAt: R + 1, id: first[0]!.id }, limit: 1 });
      expect(ids(next)).toEqual(['b']);
      expect(ids(await store.eventsReceived({ from: R, kind: 'anomaly', after: { receivedAt: R + 1, id: next[0]!.id }, limit: 5 }))).toEqual(['late']);
      expect((await store.eventsReceived({ from: R + 2, kind: 'anomaly', limit: 5 }))[0]).toMatchObject({ ts: T0 - 3_600_000, site: 'site-a', receivedAt: R + 2 });
    });

    it('upserts gateways: fields merge, lastSeen only moves forward', async () => {
      const gw = uniqueId('gw');
      const first = await store.upsertGateway({ gateway: gw, site: 'site-a', lastSeen: T0 + 100 });
      expect(first).toEqual({ gateway: gw, site: 'site-a', status: 'unknown', firstSeen: T0 + 100, lastSeen: T0 + 100, stateTs: null });
      const health = { outboxDepth: 1, outboxBytes: 200, rssBytes: 3000, uptimeS: 4.5 };
      await store.upsertGateway({ gateway: gw, site: 'site-a', status: 'online', stateTs: T0 + 50, bootId: 'boot-0001', version: '0.1.0', health, devices: [{ id: 'ahu1', protocol: 'modbus-tcp', state: 'up' }] });
      await store.upsertGateway({ gateway: gw, site: 'site-a', lastSeen: T0 + 90 });
      const got = await store.getGateway(gw);
      expect(got).toEqual({
        gateway: gw,
        site: 'site-a',
        status: 'online',
        firstSeen: T0 + 100,
        lastSeen: T0 + 100,
        stateTs: T0 + 50,
        bootId: 'boot-0001',
        version: '0.1.0',
        health,
        devices: [{ id: 'ahu1', protocol: 'modbus-tcp', state: 'up' }],
      });
      const offline = await store.upsertGateway({ gateway: gw, site: 'site-a', status: 'offline', stateTs: T0 + 200, lastSeen: T0 + 200 });
      expect(offline.status).toBe('offline');
      expect(offline.version).toBe('0.1.0');
      expect(offline.lastSeen).toBe(T0 + 200);
      expect((await store.listGateways()).some((g) => g.gateway === gw)).toBe(true);
      expect(await store.getGateway(uniqueId('none'))).toBeUndefined();
    });

    it('tracks command state with guarded transitions', async () => {
      const gw = uniqueId('gw');
      const id = uniqueId('cmd');
      const record: CommandRecord = {
        id,
        gateway: gw,
        site: 'site-a',
        command: { v: 1, id, ts: T0, origin: 'test', action: { kind: 'write', device: 'ahu1', point: 'fan_speed', value: 50 } },
        status: 'pending',
        attempts: 1,
        createdAt: T0,
        updatedAt: T0,
        deadline: T0 + 5000,
      };
      await store.insertCommand(record);
      expect(await store.getCommand(id)).toEqual(record);
      const delivered = await store.updateCommand(id, { status: 'delivered', updatedAt: T0 + 1 }, ['pending']);
      expect(delivered?.status).toBe('delivered');
      // A transition whose guard does not hold changes nothing.
      expect(await store.updateCommand(id, { status: 'timed-out', updatedAt: T0 + 2 }, ['pending'])).toBeUndefined();
      const applied = await store.updateCommand(id, { status: 'applied', updatedAt: T0 + 3, ackedAt: T0 + 3, deadline: null, duplicate: false }, ['pending', 'delivered']);
      expect(applied).toEqual({ ...record, status: 'applied', updatedAt: T0 + 3, ackedAt: T0 + 3, deadline: null, duplicate: false });
      const id2 = uniqueId('cmd');
      await store.insertCommand({ ...record, id: id2, command: { ...record.command, id: id2 }, createdAt: T0 + 10, updatedAt: T0 + 10 });
      await store.updateCommand(id2, { status: 'rejected', code: 'SWG_ERR_POINT_LIMIT', reason: 'above max', updatedAt: T0 + 11, deadline: null });
      expect((await store.getCommand(id2))?.reason).toBe('above max');
      expect((await store.listCommands({ gateway: gw })).map((c) => c.id)).toEqual([id2, id]);
      expect((await store.listCommands({ gateway: gw, status: ['rejected'] })).map((c) => c.id)).toEqual([id2]);
      expect(await store.listCommands({ gateway: gw, status: [] })).toEqual([]);
      expect(await store.getCommand(uniqueId('none'))).toBeUndefined();
      expect(await store.updateCommand(uniqueId('none'), { status: 'applied', updatedAt: 1 })).toBeUndefined();
    });
  });
}
