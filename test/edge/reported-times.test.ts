/**
 * A gateway restart must not report OPC UA samples again: the new subscription's first values
 * carry the server's original sourceTimestamp, and the hub stores every reported reading. Real
 * peers: the facility's OPC UA cold room (frozen, so its values and timestamps stay put) and two
 * gateway runs on one data folder.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFacility, type Facility } from '../../devices/facility.js';
import type { Reading } from '../../edge/drivers/driver.js';
import { builtinDrivers } from '../../edge/drivers/builtin.js';
import { loadConfig } from '../../edge/config/load.js';
import { Gateway } from '../../edge/runtime/gateway.js';
import { GatewayMetrics } from '../../edge/runtime/metrics.js';
import { REPORTED_TIMES_FILE, loadReportedTimes, saveReportedTimes } from '../../edge/runtime/reported-times.js';
import { createLogger } from '../../shared/kit/log.js';
import { sleep, waitFor } from '../drivers/support.js';
import { tempDir } from '../support/tmp.js';

const PROFILES = fileURLToPath(new URL('../../devices/profiles/', import.meta.url));
const WAIT_MS = 30_000;

describe('last reported timestamps across a gateway restart', () => {
  const dir = tempDir('swarmgate-rts-');
  let facility: Facility;
  let file: string;

  beforeAll(async () => {
    facility = await startFacility({ dataDir: dir.path, seed: 5, speed: 0 });
    file = join(dir.path, 'gateway.yaml');
    writeFileSync(
      file,
      `
gateway: { id: gw-rts, site: test }
dataDir: gw
metrics: { enabled: false }
polling: { heartbeatMs: 600000 }
devices:
  - id: coldroom
    protocol: opcua
    profile: ${PROFILES}cold-room-opcua.yaml
    connection: { endpointUrl: "${facility.endpoints.opcua.endpointUrl}", publishingIntervalMs: 200 }
`,
    );
  }, 60_000);

  afterAll(async () => {
    await facility?.stop();
    dir.remove();
  });

  /** One gateway run: its good reports of the cold room, once every point was read good (plus a little). */
  async function run(): Promise<Reading[]> {
    const loaded = loadConfig(file, builtinDrivers());
    const gateway = new Gateway({ loaded, registry: builtinDrivers(), metrics: new GatewayMetrics(false) });
    const reports: Reading[] = [];
    gateway.onReport((r) => reports.push(r));
    await gateway.start();
    try {
      const points = loaded.devices[0]!.points.map((p) => p.name);
      await waitFor(() => (points.every((p) => gateway.latest('coldroom', p)?.quality === 'good') ? true : undefined), WAIT_MS, 'every cold room point read good');
      await sleep(1500);
    } finally {
      await gateway.stop();
    }
    return reports.filter((r) => r.quality === 'good');
  }

  it('the samples of the first run are not reported again by the next runs; the file stays small', async () => {
    const first = await run();
    expect(first.length).toBeGreaterThan(0);
    const sample = (r: Reading): string => `${r.point}@${r.ts}`;
    const reported = new Set(first.map(sample));
    for (let restart = 1; restart <= 2; restart++) {
      const again = await run();
      // Frozen simulator: every value the new subscription delivers is a sample reported before.
      expect(again.filter((r) => reported.has(sample(r))).map(sample), `restart ${restart}`).toEqual([]);
      for (const r of again) reported.add(sample(r));
    }
    const saved = join(dir.path, 'gw', REPORTED_TIMES_FILE);
    expect(existsSync(saved)).toBe(true);
    const doc = JSON.parse(readFileSync(saved, 'utf8')) as { points: Record<string, number> };
    expect(Object.keys(doc.points).every((k) => k.startsWith('coldroom/'))).toBe(true);
    for (const r of first) expect(doc.points[`coldroom/${r.point}`]).toBeGreaterThanOrEqual(r.ts);
  }, 120_000);

  it('heartbeats (gateway clock) are not saved as reported times: the file holds source timestamps of samples only', async () => {
    const hbFile = join(dir.path, 'gateway-hb.yaml');
    writeFileSync(hbFile, readFileSync(file, 'utf8').replace('heartbeatMs: 600000', 'heartbeatMs: 1000').replace('dataDir: gw', 'dataDir: gw-hb').replace('id: gw-rts', 'id: gw-rts-hb'));
    const loaded = loadConfig(hbFile, builtinDrivers());
    const gateway = new Gateway({ loaded, registry: builtinDrivers(), metrics: new GatewayMetrics(false) });
    const samples = new Map<string, Set<number>>();
    const heartbeats: Reading[] = [];
    gateway.onSample((r) => {
      if (r.quality === 'good') samples.set(r.point, (samples.get(r.point) ?? new Set()).add(r.ts));
    });
    gateway.onReport((r) => {
      if (r.quality === 'good' && !samples.get(r.point)?.has(r.ts)) heartbeats.push(r);
    });
    await gateway.start();
    try {
      const points = loaded.devices[0]!.points.map((p) => p.name);
      await waitFor(() => (points.every((p) => gateway.latest('coldroom', p)?.quality === 'good') ? true : undefined), WAIT_MS, 'every cold room point read good');
      await waitFor(() => (points.every((p) => heartbeats.some((h) => h.point === p)) ? true : undefined), WAIT_MS, 'a heartbeat of every cold room point');
    } finally {
      await gateway.stop();
    }
    const doc = JSON.parse(readFileSync(join(dir.path, 'gw-hb', REPORTED_TIMES_FILE), 'utf8')) as { points: Record<string, number> };
    const saved = Object.entries(doc.points);
    expect(saved.length).toBeGreaterThan(0);
    for (const [ref, ts] of saved) expect(samples.get(ref.slice('coldroom/'.length))?.has(ts), `${ref}@${ts} is a sample's source timestamp`).toBe(true);
  }, 120_000);
});

describe('the reported times file', () => {
  const dir = tempDir('swarmgate-rtf-');
  const log = createLogger('test:reported-times', 'silent');
  afterAll(() => dir.remove());

  it('drops times later than the gateway clock when the file was written (a source clock ahead)', () => {
    const f = join(dir.path, REPORTED_TIMES_FILE);
    expect(saveReportedTimes(f, new Map([['plc/a', { ts: 1000, quality: 'good' }], ['plc/b', { ts: 9000, quality: 'good' }], ['plc/c', { ts: 9500, quality: 'uncertain' }]]), log, 5000)).toBe(true);
    expect(loadReportedTimes(f, log, 6000)).toEqual(new Map([['plc/a', { ts: 1000, quality: 'good' }]]));
  });

  it('keeps uncertain samples apart from good ones, in a file an earlier release still reads', () => {
    const f = join(dir.path, 'uncertain.json');
    expect(saveReportedTimes(f, new Map([['plc/a', { ts: 1000, quality: 'good' }], ['plc/b', { ts: 2000, quality: 'uncertain' }]]), log, 5000)).toBe(true);
    const doc = JSON.parse(readFileSync(f, 'utf8')) as unknown;
    // Version 2, good times where they always were: an earlier release reads the file and reports plc/b's sample once more.
    expect(doc).toEqual({ v: 2, savedAt: 5000, points: { 'plc/a': 1000 }, uncertain: { 'plc/b': 2000 } });
    expect(loadReportedTimes(f, log, 6000)).toEqual(new Map([['plc/a', { ts: 1000, quality: 'good' }], ['plc/b', { ts: 2000, quality: 'uncertain' }]]));
    // A file of an earlier release (no uncertain field) reads as before.
    writeFileSync(f, JSON.stringify({ v: 2, savedAt: 5000, points: { 'plc/a': 1000 } }));
    expect(loadReportedTimes(f, log, 6000)).toEqual(new Map([['plc/a', { ts: 1000, quality: 'good' }]]));
    // A malformed uncertain field is an unknown layout: the file is not used.
    writeFileSync(f, JSON.stringify({ v: 2, savedAt: 5000, points: { 'plc/a': 1000 }, uncertain: { 'plc/b': 'soon' } }));
    expect(loadReportedTimes(f, log, 6000)).toEqual(new Map());
  });

  it('does not use a version 1 file (its times may be heartbeats, on the gateway clock)', () => {
    const f = join(dir.path, 'v1.json');
    writeFileSync(f, JSON.stringify({ v: 1, savedAt: 5000, points: { 'plc/a': 1000 } }));
    expect(loadReportedTimes(f, log, 6000)).toEqual(new Map());
  });
});
