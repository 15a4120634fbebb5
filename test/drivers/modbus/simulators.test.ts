/**
 * The Modbus driver against the facility simulators: the AHU over Modbus TCP and the energy meter
 * bus over Modbus RTU (socat pty pair), with faults injected through the simulators' registries.
 * Points come from the real profiles in devices/profiles/.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startAhuServer, type AhuServer } from '../../../devices/modbus/ahu-server.js';
import { AHU_SERIAL_NUMBER } from '../../../devices/modbus/ahu-map.js';
import { startMeterBus, type MeterBus } from '../../../devices/modbus/meter-bus.js';
import type { PointSpec, Reading } from '../../../edge/drivers/driver.js';
import type { ModbusDriver } from '../../../edge/drivers/modbus/driver.js';
import { modbusTcpManifest } from '../../../edge/drivers/modbus/manifest.js';
import { openBuses } from '../../../edge/drivers/modbus/rtu-bus.js';
import type { ModbusAddress } from '../../../edge/drivers/modbus/schema.js';
import { driverContract } from '../../contract/driver-contract.js';
import { peerOrSkip, socatPeer } from '../../support/peers.js';
import { point, rtuDriver, sleep, startSocat, tcpDriver } from './helpers.js';
import type { PtyPair } from '../../../devices/serial/pty-pair.js';

interface ProfilePoint {
  name: string;
  address: ModbusAddress;
  unit?: string;
  writable?: boolean;
  scale?: number;
  offset?: number;
  deadband?: number;
  limits?: { min?: number; max?: number };
}

function profilePoints(file: string): PointSpec<ModbusAddress>[] {
  const profile = parse(readFileSync(new URL(`../../../devices/profiles/${file}`, import.meta.url), 'utf8')) as { points: ProfilePoint[] };
  return profile.points.map((p) => ({
    name: p.name,
    address: p.address,
    ...(p.unit === undefined ? {} : { unit: p.unit }),
    ...(p.limits === undefined ? {} : { limits: p.limits }),
    writable: p.writable ?? false,
    scale: p.scale ?? 1,
    offset: p.offset ?? 0,
    deadband: p.deadband ?? 0,
    pollIntervalMs: 1000,
  }));
}

const ahuProfile = profilePoints('ahu-modbus.yaml');
const meterProfile = profilePoints('energy-meter-modbus.yaml');
const byName = (readings: readonly Reading[]) => new Map(readings.map((r) => [r.point, r]));
const pick = (name: string) => {
  const p = ahuProfile.find((q) => q.name === name);
  if (!p) throw new Error(`no point ${name} in the AHU profile`);
  return p;
};

describe('the simulator profiles pass the manifest validation', () => {
  it('ahu-modbus and energy-meter-modbus have no problems', () => {
    const connection = { host: '127.0.0.1', port: 502, unitId: 1, timeoutMs: 1000, retries: 2, backoffMs: 200, maxBlockRegisters: 125, maxGapRegisters: 8 };
    for (const points of [ahuProfile, meterProfile]) {
      expect(modbusTcpManifest.validate({ id: 'x', protocol: 'modbus-tcp', connection, points })).toEqual([]);
    }
  });
});

describe('AHU over Modbus TCP', () => {
  let ahu: AhuServer;
  let driver: ModbusDriver;

  beforeAll(async () => {
    ahu = await startAhuServer({ speed: 0, seed: 3 });
    ahu.model.step(120);
    driver = tcpDriver({ host: ahu.host, port: ahu.port, timeoutMs: 200, retries: 1, backoffMs: 20 });
    await driver.initialize();
  });

  afterAll(async () => {
    await driver?.stop(true);
    await ahu?.stop();
  });

  it('reads the whole profile with good quality and the model values', async () => {
    const readings = byName(await driver.read(ahuProfile));
    for (const p of ahuProfile) expect(readings.get(p.name)?.quality, `${p.name}: ${readings.get(p.name)?.cause ?? ''}`).toBe('good');
    expect(readings.get('serial_number')?.value).toBe(AHU_SERIAL_NUMBER);
    expect(readings.get('supply_air_temp')?.value as number).toBeCloseTo(ahu.model.ahu.supplyAirC, 3);
    expect(readings.get('air_volume_total')?.value as number).toBeCloseTo(ahu.model.ahu.airVolumeM3, 3);
    expect(readings.get('fan_running')?.value).toBe(readings.get('status_fan_running')?.value);
  });

  it('writes scaled setpoints the simulator takes over', async () => {
    await driver.write(pick('supply_temp_setpoint'), 18.5);
    await driver.write(pick('fan_speed_setpoint'), 55);
    expect(ahu.model.ahu.supplySetpointC).toBeCloseTo(18.5, 5);
    const readings = byName(await driver.read([pick('supply_temp_setpoint'), pick('fan_speed_setpoint')]));
    expect(readings.get('supply_temp_setpoint')?.value).toBe(18.5);
    expect(readings.get('fan_speed_setpoint')?.value).toBe(55);
  });

  it('an exception on one register marks only the points covering it bad', async () => {
    const id = ahu.faults.inject({ kind: 'exception', device: 'ahu', code: 2, register: 9 });
    try {
      const readings = byName(await driver.read(ahuProfile));
      expect(readings.get('fan_speed_feedback')?.cause).toMatch(/ILLEGAL DATA ADDRESS \(2\)/);
      const bad = ahuProfile.filter((p) => readings.get(p.name)?.quality !== 'good').map((p) => p.name);
      expect(bad).toEqual(['fan_speed_feedback']);
    } finally {
      ahu.faults.clear(id);
    }
    const code4 = ahu.faults.inject({ kind: 'exception', device: 'ahu', code: 4, register: 20 });
    try {
      const readings = byName(await driver.read(ahuProfile));
      expect(readings.get('serial_number')?.cause).toMatch(/SERVER DEVICE FAILURE \(4\)/);
      expect(ahuProfile.filter((p) => readings.get(p.name)?.quality !== 'good')).toHaveLength(1);
    } finally {
      ahu.faults.clear(code4);
    }
  });

  it('offline device: bad readings within the timeout budget, good again when it is back', async () => {
    const id = ahu.faults.inject({ kind: 'offline', device: 'ahu' });
    const started = Date.now();
    const down = await driver.read(ahuProfile);
    // one block times out (200 ms, one retry after 20 ms); the other blocks are not even sent
    expect(Date.now() - started).toBeLessThan(1000);
    expect(down.every((r) => r.quality === 'bad')).toBe(true);
    expect(down[0]?.cause).toMatch(/^SWG_ERR_DEVICE_TIMEOUT/);
    // Points of the blocks not sent say so, naming their own registers and the link failure.
    const skipped = down.filter((r) => r.cause?.includes('not read'));
    expect(skipped.length).toBeGreaterThan(0);
    for (const r of skipped) expect(r.cause).toMatch(/^SWG_ERR_DEVICE_TIMEOUT: not read \(reading \w+ \d+\.\.\d+\): no reply reading/);
    expect(new Set(skipped.map((r) => r.cause)).size).toBeGreaterThan(1);
    ahu.faults.clear(id);
    // The late answers of the timed-out requests must not be taken for the next replies.
    await sleep(50);
    const up = await driver.read(ahuProfile);
    expect(up.filter((r) => r.quality !== 'good')).toEqual([]);
  });

  it('slow device: answers slower than timeoutMs are timeouts, within it are fine', async () => {
    const slow = ahu.faults.inject({ kind: 'slow', device: 'ahu', delayMs: 400 });
    try {
      const [r] = await driver.read([pick('filter_dp')]);
      expect(r?.quality).toBe('bad');
      expect(r?.cause).toMatch(/SWG_ERR_DEVICE_TIMEOUT/);
    } finally {
      ahu.faults.clear(slow);
    }
    await sleep(450); // let the late replies drain
    const ok = ahu.faults.inject({ kind: 'slow', device: 'ahu', delayMs: 50 });
    try {
      const [r] = await driver.read([pick('filter_dp')]);
      expect(r?.quality, r?.cause).toBe('good');
    } finally {
      ahu.faults.clear(ok);
    }
  });

  it('server gone and back on the same port: reconnects on a later poll', async () => {
    const own = await startAhuServer({ speed: 0 });
    const port = own.port;
    const d = tcpDriver({ host: own.host, port, timeoutMs: 200, backoffMs: 50 });
    try {
      await d.initialize();
      expect((await d.read([pick('filter_dp')]))[0]?.quality).toBe('good');
      await own.stop();
      expect((await d.read([pick('filter_dp')]))[0]?.quality).toBe('bad');
      const back = await startAhuServer({ speed: 0, port });
      try {
        let quality = 'bad';
        for (let i = 0; i < 50 && quality !== 'good'; i++) {
          await sleep(100);
          quality = (await d.read([pick('filter_dp')]))[0]?.quality ?? 'bad';
        }
        expect(quality).toBe('good');
      } finally {
        await d.stop();
        await back.stop();
      }
    } finally {
      await d.stop(true);
    }
  });
});

{
  let ahu: AhuServer | undefined;
  driverContract({
    name: 'modbus-tcp (AHU simulator)',
    async setup() {
      ahu = await startAhuServer({ speed: 0 });
      return {
        driver: tcpDriver({ host: ahu.host, port: ahu.port }),
        readable: ahuProfile,
        writes: [
          { point: pick('damper_position'), value: 30 },
          { point: pick('fan_command'), value: true },
        ],
        missing: point('not_there', { table: 'holding', register: 900 }),
        teardown: async () => ahu?.stop(),
      };
    },
  });
}

/** Polls `driver` every intervalMs until stopped; counts readings by quality. */
function poller(driver: ModbusDriver, points: readonly PointSpec[], intervalMs: number) {
  const counts = { good: 0, bad: 0, polls: 0, lastCause: '' };
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = Date.now();
      const readings = await driver.read(points);
      counts.polls++;
      if (readings.every((r) => r.quality === 'good')) counts.good++;
      else {
        counts.bad++;
        counts.lastCause = readings.find((r) => r.cause)?.cause ?? '';
      }
      await sleep(Math.max(0, intervalMs - (Date.now() - started)));
    }
  })();
  return {
    counts,
    reset: () => Object.assign(counts, { good: 0, bad: 0, polls: 0 }),
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

describe.skipIf(!peerOrSkip(socatPeer()))('energy meters over Modbus RTU: two live units and a dead one on one bus', () => {
  let pty: PtyPair;
  let bus: MeterBus;
  const drivers: ModbusDriver[] = [];

  beforeAll(async () => {
    pty = await startSocat();
    bus = await startMeterBus({ path: pty.simPath, unitIds: [1, 2], speed: 0, seed: 9 });
    bus.model.step(60);
  });

  afterAll(async () => {
    for (const d of drivers) await d.stop(true);
    await bus?.stop();
    await pty?.close();
  });

  it('live units keep their poll rate while the dead unit is breaker-open; offline and back', async () => {
    // Timeouts generous enough for a loaded CI box; the dead unit is cut off by the breaker anyway.
    const settings = { timeoutMs: 250, retries: 1, backoffMs: 20, breaker: { failureThreshold: 3, openMs: 1500 } };
    const u1 = rtuDriver({ path: pty.gatewayPath, unitId: 1, ...settings });
    const u2 = rtuDriver({ path: pty.gatewayPath, unitId: 2, ...settings });
    const dead = rtuDriver({ path: pty.gatewayPath, unitId: 9, ...settings });
    drivers.push(u1, u2, dead);
    for (const d of [u1, u2, dead]) await d.initialize();
    expect(openBuses()).toEqual([expect.objectContaining({ users: 3, open: true })]);

    const first = byName(await u1.read(meterProfile));
    for (const p of meterProfile) expect(first.get(p.name)?.quality, `${p.name}: ${first.get(p.name)?.cause ?? ''}`).toBe('good');
    expect(first.get('active_power')?.value as number).toBeCloseTo(bus.model.meters.main.powerKw, 3);
    // uint32, low word first, kWh x 10: within one count of the model
    expect(Math.abs((first.get('energy_total')?.value as number) - bus.model.meters.main.energyKwh)).toBeLessThanOrEqual(0.1);

    const interval = 100;
    // Rates are compared over 3 s windows: over 1.5 s a loaded 2-core box moved a live unit's
    // count by as much as the probe costs (11 polls against a baseline of 15). The breaker's open
    // period doubles after a failed probe (1.5 s, then 3 s), so one window still holds one probe.
    const windowMs = 3000;
    const p1 = poller(u1, meterProfile, interval);
    const p2 = poller(u2, meterProfile, interval);
    try {
      await sleep(windowMs);
      const baseline = Math.min(p1.counts.good, p2.counts.good);
      expect(baseline).toBeGreaterThanOrEqual(10);

      const pd = poller(dead, meterProfile, interval);
      try {
        // The dead unit trips its breaker after 3 failed polls.
        for (let i = 0; i < 100 && !pd.counts.lastCause.startsWith('SWG_ERR_DEVICE_CIRCUIT_OPEN'); i++) await sleep(50);
        expect(pd.counts.lastCause).toMatch(/^SWG_ERR_DEVICE_CIRCUIT_OPEN/);
        p1.reset();
        p2.reset();
        pd.reset();
        await sleep(windowMs);
        // At most one half-open probe (250 ms) fell into the window: the live units keep their rate.
        expect(p1.counts.good).toBeGreaterThanOrEqual(baseline * 0.75);
        expect(p2.counts.good).toBeGreaterThanOrEqual(baseline * 0.75);
        expect(p1.counts.bad + p2.counts.bad).toBe(0);
        expect(pd.counts.good).toBe(0);
        expect(pd.counts.polls).toBeGreaterThanOrEqual(10); // answered at once, not stalled
      } finally {
        await pd.stop();
      }

      // Unit 2 goes offline: it turns bad, unit 1 stays good; back online it recovers via a probe.
      const off = bus.faults.inject({ kind: 'offline', device: 'meter', unit: 2 });
      for (let i = 0; i < 100 && p2.counts.bad === 0; i++) await sleep(50);
      expect(p2.counts.lastCause).toMatch(/SWG_ERR_DEVICE_(TIMEOUT|CIRCUIT_OPEN)/);
      bus.faults.clear(off);
      p2.reset();
      for (let i = 0; i < 160 && p2.counts.good === 0; i++) await sleep(50);
      expect(p2.counts.good).toBeGreaterThan(0);
      expect(p1.counts.bad).toBe(0);
    } finally {
      await p1.stop();
      await p2.stop();
    }
  });

  it('an exception from one meter register marks only that point bad', async () => {
    // The exception answer is what is checked, not the speed: 150 ms timed out on a loaded box.
    const u1 = rtuDriver({ path: pty.gatewayPath, unitId: 1, timeoutMs: 1000 });
    drivers.push(u1);
    const id = bus.faults.inject({ kind: 'exception', device: 'meter', unit: 1, code: 2, register: 7 });
    try {
      const readings = byName(await u1.read(meterProfile));
      expect(readings.get('frequency')?.cause).toMatch(/ILLEGAL DATA ADDRESS \(2\)/);
      expect(meterProfile.filter((p) => readings.get(p.name)?.quality !== 'good').map((p) => p.name)).toEqual(['frequency']);
    } finally {
      bus.faults.clear(id);
    }
  });

  it('closing the last user closes the port', async () => {
    for (const d of drivers.splice(0)) await d.stop();
    expect(openBuses()).toEqual([]);
  });
});
