/**
 * The gateway process core against the simulated facility (Modbus TCP, OPC UA, GPIO): faults on
 * one device mark its points bad and recover, while the other devices keep their rate; a slow
 * device's polls are skipped and counted, not stacked; writes go through the checks.
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
import { isSwarmgateError } from '../../shared/kit/errors.js';
import { tempDir } from '../support/tmp.js';

const PROFILES = fileURLToPath(new URL('../../devices/profiles/', import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('gateway against the simulated facility', () => {
  const dir = tempDir('swarmgate-gw-');
  let facility: Facility;
  let gateway: Gateway;
  const readings: Reading[] = [];

  beforeAll(async () => {
    facility = await startFacility({ dataDir: dir.path, seed: 7 });
    const config = `
gateway: { id: gw-it, site: test }
dataDir: ${dir.path}/gw
polling: { defaultIntervalMs: 200, heartbeatMs: 1000 }
devices:
  - id: ahu1
    protocol: modbus-tcp
    profile: ${PROFILES}ahu-modbus.yaml
    connection: { host: 127.0.0.1, port: ${facility.endpoints.modbusTcp.port}, timeoutMs: 300, retries: 0, backoffMs: 50 }
  - id: coldroom
    protocol: opcua
    profile: ${PROFILES}cold-room-opcua.yaml
    connection: { endpointUrl: "${facility.endpoints.opcua.endpointUrl}", publishingIntervalMs: 200 }
  - id: io
    protocol: gpio
    profile: ${PROFILES}facility-gpio.yaml
    connection: { chip: { kind: sim, host: 127.0.0.1, port: ${facility.endpoints.gpio.port} } }
    pollIntervalMs: 200
`;
    const file = join(dir.path, 'gateway.yaml');
    writeFileSync(file, config);
    gateway = new Gateway({ loaded: loadConfig(file, builtinDrivers()), registry: builtinDrivers(), metrics: new GatewayMetrics(false) });
    gateway.onSample((r) => readings.push(r));
    await gateway.start();
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && !(gateway.latest('ahu1', 'supply_air_temp')?.quality === 'good' && gateway.latest('coldroom', 'temperature')?.quality === 'good')) await sleep(100);
  });

  afterAll(async () => {
    await gateway?.stop(true);
    await facility?.stop();
    dir.remove();
  });

  it('reads all four kinds of point with good quality', () => {
    expect(gateway.latest('ahu1', 'supply_air_temp')).toMatchObject({ quality: 'good' });
    expect(typeof gateway.latest('ahu1', 'supply_air_temp')?.value).toBe('number');
    expect(gateway.latest('coldroom', 'temperature')).toMatchObject({ quality: 'good' });
    expect(gateway.latest('io', 'door_contact')).toMatchObject({ quality: 'good' });
    expect(gateway.deviceStates()).toMatchObject({ ahu1: { state: 'up' }, coldroom: { state: 'up' }, io: { state: 'up' } });
  });

  it('marks only the offline device bad, keeps the others at their rate, and recovers', async () => {
    // Both rates over exactly one second of reading timestamps: sleep(1000) overruns on a loaded
    // machine, and counting everything since `before` would then inflate the rate to beat.
    const count = (device: string, quality: Reading['quality'], from: number): number => readings.filter((r) => r.device === device && r.quality === quality && r.ts >= from && r.ts < from + 1000).length;
    const before = Date.now();
    await sleep(1000);
    const ioRateBefore = count('io', 'good', before);

    const id = facility.faults.inject({ kind: 'offline', device: 'ahu' });
    const outageStart = Date.now();
    await sleep(1500);
    expect(gateway.latest('ahu1', 'supply_air_temp')?.quality).toBe('bad');
    expect(gateway.latest('ahu1', 'supply_air_temp')?.cause).toMatch(/SWG_ERR_DEVICE_(TIMEOUT|UNREACHABLE|NOT_CONNECTED)/);
    const ioDuringOutage = count('io', 'good', outageStart + 500);
    expect(ioDuringOutage).toBeGreaterThanOrEqual(Math.floor(ioRateBefore * 0.8));
    expect(gateway.latest('coldroom', 'temperature')?.quality).toBe('good');

    facility.faults.clear(id);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && gateway.latest('ahu1', 'supply_air_temp')?.quality !== 'good') await sleep(100);
    expect(gateway.latest('ahu1', 'supply_air_temp')?.quality).toBe('good');
  });

  it('takes a failed probe the controller reports as NaN (a good float register) as a bad reading, not a good NaN', async () => {
    const wait = async (quality: string): Promise<void> => {
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && gateway.latest('ahu1', 'return_air_temp')?.quality !== quality) await sleep(50);
    };
    const id = facility.faults.inject({ kind: 'probe-failure', target: 'ahu.return_air_temp' });
    await wait('bad');
    expect(gateway.latest('ahu1', 'return_air_temp')).toMatchObject({ quality: 'bad', value: null });
    expect(gateway.latest('ahu1', 'return_air_temp')?.cause).toContain('SWG_ERR_VALUE_NOT_FINITE');
    expect(gateway.latest('ahu1', 'supply_air_temp')?.quality).toBe('good'); // the same device's other points
    expect(readings.some((r) => typeof r.value === 'number' && !Number.isFinite(r.value))).toBe(false);
    facility.faults.clear(id);
    await wait('good');
    expect(gateway.latest('ahu1', 'return_air_temp')?.quality).toBe('good');
  });

  it('skips and counts polls of a slow device instead of stacking them', async () => {
    const skippedBefore = gateway.deviceStates().ahu1?.pollsSkipped ?? 0;
    const id = facility.faults.inject({ kind: 'slow', device: 'ahu', delayMs: 250 });
    await sleep(2000);
    facility.faults.clear(id);
    expect(gateway.deviceStates().ahu1?.pollsSkipped ?? 0).toBeGreaterThan(skippedBefore);
  });

  it('writes through the checks: applied, refused for limits and for read-only points', async () => {
    await gateway.write('ahu1', 'fan_speed_setpoint', 45);
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && gateway.latest('ahu1', 'fan_speed_setpoint')?.value !== 45) await sleep(100);
    expect(gateway.latest('ahu1', 'fan_speed_setpoint')?.value).toBe(45);

    const refused = async (device: string, point: string, value: number | boolean | null): Promise<string> => {
      try {
        await gateway.write(device, point, value);
        return 'applied';
      } catch (err) {
        return isSwarmgateError(err) ? err.code : String(err);
      }
    };
    expect(await refused('ahu1', 'fan_speed_setpoint', 150)).toBe('SWG_ERR_POINT_LIMIT');
    expect(await refused('ahu1', 'supply_air_temp', 10)).toBe('SWG_ERR_POINT_NOT_WRITABLE');
    expect(await refused('ahu1', 'no_such_point', 1)).toBe('SWG_ERR_POINT_UNKNOWN');
    expect(await refused('ahu1', 'fan_speed_setpoint', null)).toBe('SWG_ERR_POINT_RELINQUISH'); // Modbus has no command priorities
    expect(await refused('io', 'backup_compressor_relay', true)).toBe('applied');
  });
});
