/**
 * GET …/points/{device}/{point}/history on both stores: raw samples only when they fit maxPoints
 * (else buckets), raw samples asked for cut at MAX_RAW_SAMPLES and saying so, a bucketMs that makes
 * more than MAX_BUCKETS buckets refused naming bucketMs, and a default `from` never below 0.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BUCKETS, MAX_RAW_SAMPLES } from '../../hub/api/plugins/fleet.js';
import { API_STORES, type TestApi } from './support.js';

const HOUR = 3_600_000;

interface History {
  from: number;
  to: number;
  bucketMs: number;
  samples?: { ts: number }[];
  buckets?: { start: number; count: number }[];
  truncated?: true;
  next?: number;
}

for (const s of API_STORES) {
  describe.skipIf(!s.enabled)(`history limits (${s.name})`, () => {
    let t: TestApi;
    let cleanup: () => Promise<void>;
    const now = Date.now();
    // 1 Hz for 6 h: 21,600 readings, more than MAX_RAW_SAMPLES.
    const start = now - 6 * HOUR;
    const total = 6 * 3600;
    const get = async (query: string): Promise<{ status: number; body: History & { error?: { fields?: { path: string; message: string }[] } } }> => {
      const res = await t.app.inject({ method: 'GET', url: `/api/v1/gateways/gw-1/points/ahu1/temp/history?${query}`, headers: { cookie: t.cookies.viewer } });
      return { status: res.statusCode, body: res.json() };
    };

    beforeAll(async () => {
      ({ t, cleanup } = await s.open());
      await t.store.upsertGateway({ gateway: 'gw-1', site: 'site-a', status: 'online', lastSeen: now, stateTs: now }, now);
      for (let b = 0; b < 6; b++) {
        await t.store.ingestBatch({
          v: 1,
          gateway: 'gw-1',
          bootId: 'boot-0001',
          seq: b + 1,
          sentAt: now,
          historical: false,
          readings: Array.from({ length: 3600 }, (_, i) => ({ d: 'ahu1', p: 'temp', v: i % 100, q: 'good' as const, ts: start + (b * 3600 + i) * 1000 })),
        });
      }
    }, 60_000);
    afterAll(async () => cleanup?.());

    it('without bucketMs, a span of 6 h holding more samples than maxPoints comes as buckets, every reading counted', async () => {
      const { status, body } = await get(`from=${start}&to=${now}&maxPoints=300`);
      expect(status).toBe(200);
      expect(body.samples).toBeUndefined();
      expect(body.bucketMs).toBeGreaterThan(0);
      expect(body.buckets!.length).toBeLessThanOrEqual(301);
      expect(body.buckets!.reduce((n, b) => n + b.count, 0)).toBe(total);
    });

    it('without bucketMs, samples that fit maxPoints come raw', async () => {
      const { status, body } = await get(`from=${start}&to=${start + 5 * 60_000}`);
      expect(status).toBe(200);
      expect(body.bucketMs).toBe(0);
      expect(body.samples).toHaveLength(301);
      expect(body.truncated).toBeUndefined();
    });

    it('raw samples asked for are cut at MAX_RAW_SAMPLES, oldest first, saying where the rest starts', async () => {
      const first = await get(`from=${start}&to=${now}&bucketMs=0`);
      expect(first.status).toBe(200);
      expect(first.body.samples).toHaveLength(MAX_RAW_SAMPLES);
      expect(first.body.samples![0]!.ts).toBe(start);
      expect(first.body.truncated).toBe(true);
      expect(first.body.next).toBe(start + MAX_RAW_SAMPLES * 1000);
      const rest = await get(`from=${first.body.next}&to=${now}&bucketMs=0`);
      expect(rest.body.samples).toHaveLength(total - MAX_RAW_SAMPLES);
      expect(rest.body.truncated).toBeUndefined();
      expect(rest.body.next).toBeUndefined();
    });

    it(`refuses a bucketMs making more than ${MAX_BUCKETS} buckets, naming bucketMs`, async () => {
      const { status, body } = await get(`from=0&to=${now}&bucketMs=1000`);
      expect(status).toBe(400);
      expect(body.error!.fields).toEqual([{ path: 'querystring.bucketMs', message: expect.stringContaining(`at most ${MAX_BUCKETS}`) as string }]);
      // Just inside the cap is served.
      expect((await get(`from=0&to=${MAX_BUCKETS * 1000 - 1}&bucketMs=1000`)).status).toBe(200);
    });

    it('a `to` within the first day since the epoch gives from = 0, not below', async () => {
      const { status, body } = await get('to=1000');
      expect(status).toBe(200);
      expect(body.from).toBe(0);
    });
  });
}
