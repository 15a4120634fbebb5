/**
 * The heartbeat covers subscription devices: an OPC UA point and a GPIO line that do not change
 * are reported again every heartbeatMs (with their value, their quality and a fresh ts), a device
 * that goes down is heartbeated bad, never good, and stop() ends the heartbeat. Real peers: the
 * simulated facility's OPC UA server and GPIO chip, frozen (speed 0) so nothing changes by itself.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFacility, type Facility } from '../../devices/facility.js';
import type { Reading } from '../../edge/drivers/driver.js';
import { builtinDrivers } from '../../edge/drivers/builtin.js';
import { loadConfig } from '../../edge/config/load.js';
import { Gateway } from '../../edge/runtime/gateway.js';
import { GatewayMetrics } from '../../edge/runtime/metrics.js';
import { sleep, waitFor } from '../drivers/support.js';
import { tempDir } from '../support/tmp.js';

const PROFILES = fileURLToPath(new URL('../../devices/profiles/', import.meta.url));
/** The smallest heartbeat the config schema allows. */
const HEARTBEAT_MS = 1000;
/** Generous: the box is a loaded 2-core machine and the timer may fire late. */
const WAIT_MS = 30_000;

describe('heartbeat of subscription devices', () => {
  const dir = tempDir('swarmgate-hb-');
  let facility: Facility;
  let gateway: Gateway;
  const reports: Reading[] = [];
  const reportsOf = (device: string, point: string, from = 0): Reading[] => reports.filter((r, i) => i >= from && r.device === device && r.point === point);

  beforeAll(async () => {
    facility = await startFacility({ dataDir: dir.path, seed: 11, speed: 0 });
    const file = join(dir.path, 'gateway.yaml');
    writeFileSync(
      file,
      `
gateway: { id: gw-hb, site: test }
dataDir: ${dir.path}/gw
polling: { defaultIntervalMs: 200, heartbeatMs: ${HEARTBEAT_MS} }
devices:
  - id: coldroom
    protocol: opcua
    profile: ${PROFILES}cold-room-opcua.yaml
    connection: { endpointUrl: "${facility.endpoints.opcua.endpointUrl}", publishingIntervalMs: 200 }
  - id: io
    protocol: gpio
    profile: ${PROFILES}facility-gpio.yaml
    connection: { chip: { kind: sim, host: 127.0.0.1, port: ${facility.endpoints.gpio.port} } }
`,
    );
    gateway = new Gateway({ loaded: loadConfig(file, builtinDrivers()), registry: builtinDrivers(), metrics: new GatewayMetrics(false) });
    gateway.onReport((r) => reports.push(r));
    await gateway.start();
    await waitFor(() => (gateway.latest('coldroom', 'setpoint')?.quality === 'good' && gateway.latest('io', 'occupancy')?.quality === 'good' ? true : undefined), WAIT_MS, 'first good values');
  });

  afterAll(async () => {
    await gateway?.stop(true);
    await facility?.stop();
    dir.remove();
  });

  /** Waits for `count` reports of a point after index `from`, then checks they are heartbeats of `first`. */
  async function heartbeats(device: string, point: string, count: number, from: number): Promise<Reading[]> {
    const got = await waitFor(() => {
      const list = reportsOf(device, point, from);
      return list.length >= count ? list.slice(0, count) : undefined;
    }, WAIT_MS, `${count} reports of ${device}/${point}`);
    for (let i = 1; i < got.length; i++) {
      const gap = got[i]!.ts - got[i - 1]!.ts;
      // Not more often than the heartbeat (nothing changes), and not much later than it either.
      expect(gap).toBeGreaterThanOrEqual(HEARTBEAT_MS - 50);
      expect(gap).toBeLessThan(HEARTBEAT_MS * 4);
    }
    return got;
  }

  it('reports an unchanged OPC UA point again every heartbeat, with its value, quality and a fresh ts', async () => {
    const latest = gateway.latest('coldroom', 'setpoint');
    expect(latest).toMatchObject({ quality: 'good' });
    const from = reports.length;
    const started = Date.now();
    const got = await heartbeats('coldroom', 'setpoint', 3, from);
    for (const r of got) {
      expect(r).toMatchObject({ device: 'coldroom', point: 'setpoint', value: latest!.value, quality: 'good' });
      expect(r.cause).toBeUndefined();
      expect(r.ts).toBeGreaterThanOrEqual(started - HEARTBEAT_MS);
    }
  });

  it('reports a quiet GPIO input and an output that is never written again every heartbeat', async () => {
    const occupancy = gateway.latest('io', 'occupancy');
    const relay = gateway.latest('io', 'backup_compressor_relay');
    expect(typeof occupancy?.value).toBe('boolean');
    expect(relay).toMatchObject({ quality: 'good', value: false });
    const from = reports.length;
    const started = Date.now();
    for (const [point, value] of [['occupancy', occupancy!.value], ['backup_compressor_relay', false]] as const) {
      const got = await heartbeats('io', point, 3, from);
      for (const r of got) {
        expect(r).toMatchObject({ device: 'io', point, value, quality: 'good' });
        expect(r.ts).toBeGreaterThanOrEqual(started - HEARTBEAT_MS);
      }
    }
  });

  it('heartbeats the points of a device that is down as bad, never good, and good again after it recovers', async () => {
    const from = reports.length;
    const id = facility.faults.inject({ kind: 'offline', device: 'freezer' });
    try {
      await waitFor(() => (reportsOf('coldroom', 'setpoint', from).some((r) => r.quality === 'bad') ? true : undefined), WAIT_MS, 'coldroom/setpoint reported bad');
      const sinceDown = reports.length;
      // The outage is reported once by the driver; every further report comes from the heartbeat.
      const got = await heartbeats('coldroom', 'setpoint', 3, sinceDown);
      for (const r of got) expect(r).toMatchObject({ quality: 'bad', value: null, cause: expect.any(String) as string });
      // While the OPC UA server is away, the GPIO device keeps its good heartbeat.
      expect(reportsOf('io', 'occupancy', sinceDown).every((r) => r.quality === 'good')).toBe(true);
      expect(reportsOf('io', 'occupancy', sinceDown).length).toBeGreaterThan(0);
    } finally {
      facility.faults.clear(id);
    }
    const cleared = reports.length;
    await waitFor(() => (reportsOf('coldroom', 'setpoint', cleared).some((r) => r.quality === 'good') ? true : undefined), WAIT_MS, 'coldroom/setpoint good again');
  });

  it('heartbeats a device that cannot be reached from the start as bad', async () => {
    const file = join(dir.path, 'unreachable.yaml');
    writeFileSync(
      file,
      `
gateway: { id: gw-hb-down, site: test }
dataDir: ${dir.path}/gw-down
polling: { heartbeatMs: ${HEARTBEAT_MS} }
devices:
  - id: io
    protocol: gpio
    profile: ${PROFILES}facility-gpio.yaml
    connection: { chip: { kind: sim, host: 127.0.0.1, port: 1 } }
`,
    );
    const down = new Gateway({ loaded: loadConfig(file, builtinDrivers()), registry: builtinDrivers(), metrics: new GatewayMetrics(false) });
    const seen: Reading[] = [];
    down.onReport((r) => seen.push(r));
    await down.start();
    try {
      const got = await waitFor(() => {
        const list = seen.filter((r) => r.point === 'occupancy');
        return list.length >= 3 ? list : undefined;
      }, WAIT_MS, '3 reports of an unreachable point');
      for (const r of got) expect(r).toMatchObject({ quality: 'bad', value: null, cause: expect.any(String) as string });
    } finally {
      await down.stop(true);
    }
  });

  it('stops heartbeating on stop()', async () => {
    const file = join(dir.path, 'stop.yaml');
    writeFileSync(
      file,
      `
gateway: { id: gw-hb-stop, site: test }
dataDir: ${dir.path}/gw-stop
polling: { heartbeatMs: ${HEARTBEAT_MS} }
devices:
  - id: io
    protocol: gpio
    profile: ${PROFILES}facility-gpio.yaml
    connection: { chip: { kind: sim, host: 127.0.0.1, port: ${facility.endpoints.gpio.port} } }
`,
    );
    const short = new Gateway({ loaded: loadConfig(file, builtinDrivers()), registry: builtinDrivers(), metrics: new GatewayMetrics(false) });
    const seen: Reading[] = [];
    short.onReport((r) => seen.push(r));
    await short.start();
    try {
      await waitFor(() => (seen.filter((r) => r.point === 'occupancy').length >= 2 ? true : undefined), WAIT_MS, 'a heartbeat before stop');
    } finally {
      await short.stop(true);
    }
    const atStop = seen.length;
    // Absence can only be shown by waiting: three heartbeat periods with nothing reported.
    await sleep(3 * HEARTBEAT_MS);
    expect(seen.length).toBe(atStop);
  });
});
