/**
 * A gap record says which batches a gateway's outbox dropped or set aside; some reach the hub after
 * all (a dead letter re-queued with `swarmgate edge dead-letters requeue`, a batch an
 * `-unconfirmed` record says the hub may have). GET /api/v1/gateways/{gw}/gaps counts them in
 * storedBatches, on SQLite and PostgreSQL, while the hub keeps those batches' keys (readings newer
 * than the raw retention); an older record has no count rather than a wrong one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TelemetryBatch } from '../../shared/wire/index.js';
import { API_STORES, type TestApi } from './support.js';

const DAY = 86_400_000;

for (const store of API_STORES) {
  describe.skipIf(!store.enabled)(`gap records and the batches stored after all (${store.name})`, () => {
    let t: TestApi;
    let cleanup: () => Promise<void>;
    const now = Date.now();
    const batch = (bootId: string, seq: number, ts: number): TelemetryBatch => ({ v: 1, gateway: 'gw-1', bootId, seq, sentAt: ts, historical: false, readings: Array.from({ length: 10 }, (_, i) => ({ d: 'ahu1', p: 'temp', v: i, q: 'good' as const, ts: ts + i })) });
    const gaps = async (): Promise<{ bootId: string; reason: string; storedBatches?: number }[]> => {
      const res = await t.app.inject({ method: 'GET', url: '/api/v1/gateways/gw-1/gaps', headers: { cookie: t.cookies.viewer } });
      expect(res.statusCode).toBe(200);
      return res.json<{ gaps: { bootId: string; reason: string; storedBatches?: number }[] }>().gaps;
    };

    beforeAll(async () => {
      ({ t, cleanup } = await store.open());
      await t.store.upsertGateway({ gateway: 'gw-1', site: 'site-a', status: 'online', lastSeen: now, stateTs: now, version: '1.2.3', health: { outboxDepth: 0, outboxBytes: 0, rssBytes: 50_000_000, uptimeS: 100 } }, now);
      // Batches 4..6 of one boot set aside as refused; 7..9 dropped by age after the broker had them.
      await t.store.insertGap({ v: 1, gateway: 'gw-1', bootId: 'boot-new01', fromSeq: 4, toSeq: 6, readingsDropped: 30, fromTs: now - 3600_000, toTs: now - 3000_000, reason: 'refused', ts: now - 2000 });
      await t.store.insertGap({ v: 1, gateway: 'gw-1', bootId: 'boot-new01', fromSeq: 7, toSeq: 9, readingsDropped: 30, fromTs: now - 2900_000, toTs: now - 2500_000, reason: 'outbox-age-unconfirmed', ts: now - 1000 });
      // A record of readings older than the raw retention: the keys of its batches may be gone.
      await t.store.insertGap({ v: 1, gateway: 'gw-1', bootId: 'boot-old01', fromSeq: 0, toSeq: 1, readingsDropped: 20, fromTs: now - 400 * DAY, toTs: now - 399 * DAY, reason: 'refused', ts: now - 3000 });
    });
    afterAll(async () => cleanup?.());

    it('counts the batches of each record the hub stored after all, and none for a record past the raw retention', async () => {
      expect(await gaps()).toEqual([
        expect.objectContaining({ bootId: 'boot-new01', reason: 'outbox-age-unconfirmed', storedBatches: 0 }),
        expect.objectContaining({ bootId: 'boot-new01', reason: 'refused', storedBatches: 0 }),
        expect.not.objectContaining({ storedBatches: expect.anything() as unknown }),
      ]);
      // The broker had two of the age-dropped batches after all, and the technician re-queued batch 5.
      await t.store.ingestBatch(batch('boot-new01', 7, now - 2900_000));
      await t.store.ingestBatch(batch('boot-new01', 8, now - 2800_000));
      await t.store.ingestBatch(batch('boot-new01', 5, now - 3500_000));
      // A batch of another boot with the same seq is not one of them.
      await t.store.ingestBatch(batch('boot-else1', 4, now - 3500_000));
      // Counted once the buffered telemetry is written (on a timer anyway, within seconds).
      await (t.store as unknown as { flush(): void | Promise<void> }).flush();
      const after = await gaps();
      expect(after.map((g) => [g.reason, g.storedBatches])).toEqual([
        ['outbox-age-unconfirmed', 2],
        ['refused', 1],
        ['refused', undefined],
      ]);
    });
  });
}
