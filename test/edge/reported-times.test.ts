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
import { REPORTED_TIMES_FILE } from '../../edge/runtime/reported-times.js';
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
});
