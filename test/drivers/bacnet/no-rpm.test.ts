/**
 * Controllers without ReadPropertyMultiple (many small VAV and unitary controllers), against our
 * simulated building's bacnet-no-rpm fault: the driver reads with ReadProperty without being told
 * (readPropertyMultiple stays at its default, true) — whether the device says so in its
 * protocol-services-supported before the first read, or only rejects RPM (unrecognized-service)
 * in the middle of a run — and its readings stay good.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBacnetBuilding, type BacnetBuilding } from '../../../devices/bacnet/building.js';
import type { Driver } from '../../../edge/drivers/driver.js';
import { driverFor, freeUdpPort, point } from './bacnet-stack.js';

const POINTS = [
  point('zone_temp', { objectType: 'analog-input', instance: 1 }),
  point('airflow', { objectType: 'analog-input', instance: 2 }),
];
const usesRpm = (d: Driver): boolean => (d as unknown as { usesReadPropertyMultiple: boolean }).usesReadPropertyMultiple;

describe('bacnet-ip with controllers that have no ReadPropertyMultiple (simulated building)', { timeout: 30_000 }, () => {
  let building: BacnetBuilding;
  const drivers: Driver[] = [];

  beforeAll(async () => {
    building = await startBacnetBuilding({ host: '127.0.0.1', port: await freeUdpPort(), seed: 9 });
  });

  afterAll(async () => {
    for (const d of drivers) await d.stop();
    await building?.stop();
  });

  const open = async (instance: number): Promise<Driver> => {
    const driver = await driverFor({ instance, address: building.endpoints[instance] }, POINTS, { apduTimeoutMs: 1000 });
    drivers.push(driver);
    await driver.initialize();
    return driver;
  };

  it('a device whose services-supported lacks RPM is read with ReadProperty from the first read', async () => {
    const id = building.faults.inject({ kind: 'bacnet-no-rpm', device: 1001 });
    try {
      const driver = await open(1001);
      const readings = await driver.read(POINTS);
      expect(readings.map((r) => r.quality)).toEqual(['good', 'good']);
      expect(usesRpm(driver)).toBe(false);
    } finally {
      building.faults.clear(id);
    }
  });

  it('a device that starts rejecting RPM mid-run is read with ReadProperty from then on, without a bad reading', async () => {
    const driver = await open(1002);
    expect((await driver.read(POINTS)).map((r) => r.quality)).toEqual(['good', 'good']);
    expect(usesRpm(driver)).toBe(true);
    const id = building.faults.inject({ kind: 'bacnet-no-rpm', device: 1002 });
    try {
      const readings = await driver.read(POINTS);
      expect(readings.map((r) => r.quality)).toEqual(['good', 'good']);
      expect(readings.every((r) => typeof r.value === 'number')).toBe(true);
      expect(usesRpm(driver)).toBe(false);
    } finally {
      building.faults.clear(id);
    }
  });
});
