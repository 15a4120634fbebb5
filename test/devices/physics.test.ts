import { describe, expect, it } from 'vitest';
import { FacilityModel } from '../../devices/physics/model.js';
import { doorOpenAt, occupiedAt } from '../../devices/physics/schedule.js';
import { FaultRegistry } from '../../devices/faults/registry.js';

const MONDAY = Date.UTC(2024, 10, 25);
const HOUR = 3600;

describe('facility physics', () => {
  it('is deterministic for a seed; scheduled events are pure functions of (seed, time)', () => {
    const a = new FacilityModel({ seed: 9, startTime: MONDAY });
    const b = new FacilityModel({ seed: 9, startTime: MONDAY });
    const c = new FacilityModel({ seed: 10, startTime: MONDAY });
    for (let i = 0; i < 96; i++) {
      a.step(900);
      b.step(900);
      c.step(900);
    }
    expect(a.snapshot()).toEqual(b.snapshot());
    expect(a.snapshot().outdoorC).not.toBe(c.snapshot().outdoorC);
    // Occupancy and door events are pure functions of (seed, time).
    const t = MONDAY + 10 * HOUR * 1000;
    expect(occupiedAt(9, t, 0)).toBe(occupiedAt(9, t, 0));
    expect(doorOpenAt(9, t, 0)).toBe(doorOpenAt(9, t, 0));
  });

  it('simulates a whole day in well under a second', () => {
    const m = new FacilityModel({ seed: 1, startTime: MONDAY });
    const t0 = performance.now();
    m.step(24 * HOUR);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(m.now()).toBe(MONDAY + 24 * HOUR * 1000);
  });

  it('occupancy follows the weekday schedule', () => {
    const slots = (dayOffset: number, fromH: number, toH: number) => {
      let occ = 0;
      let n = 0;
      for (let h = fromH; h < toH; h += 0.25) {
        n++;
        if (occupiedAt(3, MONDAY + (dayOffset * 24 + h) * HOUR * 1000, 0)) occ++;
      }
      return occ / n;
    };
    expect(slots(0, 8, 17.75)).toBeGreaterThan(0.75); // Monday working hours
    expect(slots(0, 0, 7)).toBeLessThan(0.2); // Monday night
    expect(slots(5, 8, 17.75)).toBeLessThan(0.2); // Saturday
  });

  it('fan on lowers a warm zone\'s return air temperature over time', () => {
    const off = new FacilityModel({ seed: 4, startTime: MONDAY + 10 * HOUR * 1000 });
    const on = new FacilityModel({ seed: 4, startTime: MONDAY + 10 * HOUR * 1000 });
    for (const m of [off, on]) {
      m.ahu.zoneC = 26;
      m.ahu.returnAirC = 26.3;
      m.setSupplySetpoint(16);
    }
    on.setFanCommand(true);
    on.setFanSpeed(100);
    off.step(HOUR);
    on.step(HOUR);
    expect(on.ahu.returnAirC).toBeLessThan(off.ahu.returnAirC - 2);
    expect(on.ahu.returnAirC).toBeLessThan(26);
    // Fan power follows the cube law and shows up on the main and HVAC meters.
    expect(on.snapshot().ahu.fanPowerKw).toBeGreaterThan(7);
    expect(on.meters.hvac.powerKw).toBeGreaterThan(7);
    expect(on.meters.main.powerKw - off.meters.main.powerKw).toBeGreaterThan(6);
    on.setFanSpeed(50);
    on.step(120);
    expect(on.snapshot().ahu.fanPowerKw).toBeLessThan(1.2);
  });

  it('a quiet day stays in band: cold room near -18, compressor cycling, energy rising', () => {
    const m = new FacilityModel({ seed: 21, startTime: MONDAY });
    const e0 = m.meters.main.energyKwh;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < 24 * 60; i++) {
      m.step(60);
      lo = Math.min(lo, m.coldRoom.temperatureC);
      hi = Math.max(hi, m.coldRoom.temperatureC);
      expect(m.outdoorC).toBeGreaterThan(-10);
      expect(m.outdoorC).toBeLessThan(30);
      expect(m.ahu.zoneC).toBeGreaterThan(5);
      expect(m.ahu.zoneC).toBeLessThan(35);
    }
    expect(lo).toBeGreaterThan(-21);
    expect(hi).toBeLessThan(-13);
    expect(m.coldRoom.compressorStarts).toBeGreaterThan(5);
    const used = m.meters.main.energyKwh - e0;
    expect(used).toBeGreaterThan(100); // ~4-15 kW all day
    expect(used).toBeLessThan(400);
  });

  it('compressor failure makes the cold room rise steadily; the backup relay holds it', () => {
    const failed = new FacilityModel({ seed: 2, startTime: MONDAY });
    failed.setCompressorFailure(true);
    const temps: number[] = [];
    for (let h = 0; h < 4; h++) {
      failed.step(HOUR);
      temps.push(failed.coldRoom.temperatureC);
    }
    for (let i = 1; i < temps.length; i++) expect(temps[i]).toBeGreaterThan((temps[i - 1] ?? 0) + 1);
    expect(failed.coldRoom.compressorRunning).toBe(false);

    const backup = new FacilityModel({ seed: 2, startTime: MONDAY });
    backup.setCompressorFailure(true);
    backup.setBackupCompressor(true);
    backup.step(4 * HOUR);
    expect(backup.coldRoom.temperatureC).toBeLessThan((temps[3] ?? 0) - 5);
    expect(backup.meters.refrigeration.powerKw).toBeGreaterThan(2);
  });

  it('a compressor that fails while idle fails to start when the thermostat next calls; the controller raises its fault alarm then', () => {
    const m = new FacilityModel({ seed: 2, startTime: MONDAY });
    // Run until the compressor has just stopped: idle at the bottom of its band.
    let guard = 0;
    while (!m.coldRoom.compressorRunning && guard++ < 10_000) m.step(10);
    while (m.coldRoom.compressorRunning && guard++ < 20_000) m.step(10);
    expect(m.coldRoom.compressorRunning).toBe(false);
    m.setCompressorFailure(true);
    expect(m.coldRoom.compressorFault).toBe(false); // idle: nothing tells yet
    const start = m.coldRoom.temperatureC;
    let calledAfterS = 0;
    while (!m.coldRoom.coolingDemand && calledAfterS < 3 * HOUR) {
      m.step(10);
      calledAfterS += 10;
    }
    expect(m.coldRoom.coolingDemand).toBe(true);
    expect(calledAfterS).toBeLessThan(45 * 60); // the band is 2 K; the envelope warms ~3 K/h
    expect(m.coldRoom.compressorRunning).toBe(false);
    expect(m.coldRoom.compressorFault).toBe(true);
    expect(m.coldRoom.temperatureC).toBeGreaterThan(start + 1.5);
    m.step(HOUR);
    expect(m.coldRoom.compressorFault).toBe(true); // latched while the compressor is broken
    expect(m.coldRoom.temperatureC).toBeGreaterThan(m.coldRoom.setpointC + 3);
    m.setCompressorFailure(false);
    m.step(10);
    expect(m.coldRoom.compressorFault).toBe(false);
    expect(m.coldRoom.compressorRunning).toBe(true);
  });

  it('a compressor that fails while running stops at once and the fault alarm is raised at once', () => {
    const m = new FacilityModel({ seed: 2, startTime: MONDAY });
    let guard = 0;
    while (!m.coldRoom.compressorRunning && guard++ < 10_000) m.step(10);
    expect(m.coldRoom.compressorRunning).toBe(true);
    m.setCompressorFailure(true);
    m.step(2);
    expect(m.coldRoom.compressorRunning).toBe(false);
    expect(m.coldRoom.compressorFault).toBe(true);
  });

  it('door openings warm the cold room', () => {
    const m = new FacilityModel({ seed: 2, startTime: MONDAY });
    m.setCompressorFailure(true); // isolate the door effect from thermostat cycling
    const ref = new FacilityModel({ seed: 2, startTime: MONDAY });
    ref.setCompressorFailure(true);
    m.setDoorOverride(true);
    ref.setDoorOverride(false);
    m.step(300);
    ref.step(300);
    expect(m.coldRoom.doorOpen).toBe(true);
    expect(m.coldRoom.temperatureC - ref.coldRoom.temperatureC).toBeGreaterThan(1.5);
  });

  it('sensor faults: drift grows with sim time, stuck holds, spikes appear', () => {
    const m = new FacilityModel({ seed: 1, startTime: MONDAY });
    const faults = new FaultRegistry({ now: () => m.now(), seed: 1 });
    faults.inject({ kind: 'drift', target: 'freezer.temperature', ratePerHour: 2 });
    m.step(3 * HOUR);
    expect(faults.sensor('freezer.temperature', -18)).toBeCloseTo(-12, 6);
    faults.clear();
    faults.inject({ kind: 'stuck', target: 'ahu.supply_air_temp' });
    expect(faults.sensor('ahu.supply_air_temp', 17)).toBe(17);
    expect(faults.sensor('ahu.supply_air_temp', 19)).toBe(17);
    faults.clear();
    faults.inject({ kind: 'spikes', target: 'meter.active_power', probability: 0.5, magnitude: 100 });
    const reads = Array.from({ length: 200 }, () => faults.sensor('meter.active_power', 10, 1));
    expect(reads.filter((v) => Math.abs(v - 10) === 100).length).toBeGreaterThan(50);
    expect(reads.filter((v) => v === 10).length).toBeGreaterThan(50);
  });
});
