/**
 * bacnet-ip against our own BACnet building (devices/bacnet/), end to end as a technician would
 * commission it: `edge discover` finds the chilled-water plant controller and drafts a profile with
 * Haystack tags proposed from the object names and units, `edge check` accepts the draft, a gateway
 * runs it (polling and COV), a write at the point priority overrides the controller's own logic
 * (priority 16) and its relinquish hands control back; with one controller offline, the others go
 * on being read.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parse, stringify } from 'yaml';
import { discover } from '../../../cli/discover.js';
import { startBacnetBuilding, type BacnetBuilding } from '../../../devices/bacnet/building.js';
import { checkGatewayConfigFile } from '../../../edge/config/check-file.js';
import { loadConfig } from '../../../edge/config/load.js';
import { builtinDrivers } from '../../../edge/drivers/builtin.js';
import { Gateway } from '../../../edge/runtime/gateway.js';
import { GatewayMetrics } from '../../../edge/runtime/metrics.js';
import { formatProblem } from '../../../shared/kit/config-file.js';
import { tempDir } from '../../support/tmp.js';
import { waitFor } from '../support.js';
import { freeUdpPort } from './bacnet-stack.js';

interface DraftPoint {
  name: string;
  unit?: string;
  writable?: boolean;
  tags?: string[];
}

describe('bacnet-ip against the simulated BACnet building', { timeout: 60_000 }, () => {
  const dir = tempDir('swarmgate-bacnet-sim-');
  let building: BacnetBuilding;
  let gateway: Gateway | undefined;
  let stderr = '';
  let points: DraftPoint[] = [];
  let plantId = '';

  beforeAll(async () => {
    building = await startBacnetBuilding({ host: '127.0.0.1', port: await freeUdpPort(), seed: 4 });
    const output = join(dir.path, 'plant.yaml');
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stderr += String(chunk);
      return true;
    });
    try {
      const code = await discover(['--protocol', 'bacnet-ip', '--bind', `127.0.0.1:${await freeUdpPort()}`, '--target', building.endpoints[2001]!, '--wait', '500', '--output', output]);
      expect(code).toBe(0);
    } finally {
      spy.mockRestore();
    }
    points = (parse(readFileSync(join(dir.path, 'plant-2001.yaml'), 'utf8')) as { points: DraftPoint[] }).points;
  });

  afterAll(async () => {
    await gateway?.stop(true);
    await building?.stop();
    dir.remove();
  });

  it('discovers the plant controller and drafts a tagged profile that edge check accepts', () => {
    expect(stderr).toMatch(/2001 {2}127\.0\.0\.1:\d+ .*SG-CHW-200 {2}"CHW-PLANT"/);
    const byName = new Map(points.map((p) => [p.name, p]));
    expect(byName.get('chw_supply_temp')).toMatchObject({ unit: 'degC' });
    expect(byName.get('chw_supply_temp')?.tags).toEqual(expect.arrayContaining(['chilled', 'water', 'supply', 'temp', 'sensor']));
    expect(byName.get('outside_air_temp')?.tags).toEqual(expect.arrayContaining(['outside', 'air', 'temp', 'sensor']));
    expect(byName.get('chw_setpoint')).toMatchObject({ writable: true });
    expect(byName.get('chw_setpoint')?.tags).toEqual(expect.arrayContaining(['sp']));
    const { problems } = checkGatewayConfigFile(join(dir.path, 'plant.yaml'), builtinDrivers());
    expect(problems.map(formatProblem)).toEqual([]);
  });

  it('runs the draft: reads every point, writes the setpoint over the controller and relinquishes it', async () => {
    // Add VAV-1 by hand (polled, cov: off, so that its reads are seen every 200 ms) to watch it while the plant is away.
    const file = join(dir.path, 'plant.yaml');
    const config = parse(readFileSync(file, 'utf8')) as { devices: Record<string, unknown>[]; polling?: unknown };
    // Short APDU timeouts (the draft keeps the defaults: 3 s, 3 retries) so that an outage shows in seconds.
    const drafted = config.devices[0]!;
    const plant = { ...drafted, connection: { ...(drafted.connection as object), apduTimeoutMs: 500, apduRetries: 1 } };
    const vav = { ...plant, id: 'vav1', profile: 'vav1.yaml', connection: { ...(plant.connection as object), deviceInstance: 1001, deviceAddress: building.endpoints[1001] } };
    writeFileSync(join(dir.path, 'vav1.yaml'), stringify({ profile: 'vav', protocol: 'bacnet', points: [{ name: 'zone_temp', unit: 'degC', address: { objectType: 'analog-input', instance: 1, cov: 'off' } }] }));
    writeFileSync(file, stringify({ ...config, polling: { defaultIntervalMs: 200 }, devices: [plant, vav] }));
    const loaded = loadConfig(file, builtinDrivers());
    gateway = new Gateway({ loaded, registry: builtinDrivers(), metrics: new GatewayMetrics(false), log: pino({ level: process.env.DEBUG_BACNET ? 'debug' : 'silent' }) });
    await gateway.start();
    const g = gateway;
    plantId = String(drafted.id);
    await waitFor(() => (points.every((p) => g.latest(plantId, p.name)?.quality === 'good') ? true : undefined), 15_000, 'every plant point read good');
    await waitFor(() => (g.latest('vav1', 'zone_temp')?.quality === 'good' ? true : undefined), 15_000, 'VAV-1 zone temp read good');

    const setpoint = building.points(2001).find((p) => p.name === 'CHW Setpoint')!;
    const auto = setpoint.presentValue();
    await g.write(plantId, 'chw_setpoint', 9.5, 'test');
    expect(setpoint.presentValue()).toBe(9.5);
    await waitFor(() => (g.latest(plantId, 'chw_setpoint')?.value === 9.5 ? true : undefined), 10_000, 'the written setpoint read back');
    await g.write(plantId, 'chw_setpoint', null, 'test');
    expect(setpoint.priorityArray.filter((v) => v !== null)).toHaveLength(setpoint.priorityArray[15] === null ? 0 : 1);
    expect(setpoint.presentValue()).toBe(auto);
  });

  it('a controller that stops answering goes bad alone; the other keeps being read and it comes back', async () => {
    const g = gateway!;
    const id = building.faults.inject({ kind: 'bacnet-offline', device: 2001 });
    try {
      await waitFor(() => (g.latest(plantId, 'chw_supply_temp')?.quality === 'bad' || g.deviceStates()[plantId]?.state === 'down' ? true : undefined), 20_000, 'the plant to go bad');
      const since = Date.now();
      await waitFor(() => ((g.latest('vav1', 'zone_temp')?.ts ?? 0) > since + 500 && g.latest('vav1', 'zone_temp')?.quality === 'good' ? true : undefined), 10_000, 'VAV-1 still read');
    } finally {
      building.faults.clear(id);
    }
    await waitFor(() => (g.latest(plantId, 'chw_supply_temp')?.quality === 'good' ? true : undefined), 30_000, 'the plant back');
  });

  it('a controller without segmentation and a 128-byte APDU: after a driver restart every point is read again (subscriptions and reads fit)', async () => {
    const g = gateway!;
    const id = building.faults.inject({ kind: 'bacnet-no-segmentation', device: 2001, maxApdu: 128 });
    try {
      // A technician power-cycles the gateway's link to it (the health agent's remedy does the same).
      await g.restartDevice(plantId);
      const since = Date.now();
      await waitFor(() => (points.every((p) => g.latest(plantId, p.name)?.quality === 'good' && (g.latest(plantId, p.name)?.ts ?? 0) > since) ? true : undefined), 20_000, 'every plant point read again under a 128-byte APDU');
    } finally {
      building.faults.clear(id);
    }
  });
});
