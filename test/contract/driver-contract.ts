/**
 * The contract every protocol driver must pass, run against a real peer (simulator or third-party
 * server). A driver's test file calls driverContract() with a fixture that starts its peer and
 * builds the driver; the suite checks the Driver interface semantics the gateway relies on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Driver, PointSpec, PointValue, Reading } from '../../edge/drivers/driver.js';
import { isSubscribable } from '../../edge/drivers/driver.js';

export interface ContractSetup {
  readonly driver: Driver;
  /** Points that exist on the peer and must read with quality 'good'. */
  readonly readable: readonly PointSpec[];
  /** Writable points and a value to write; reading back must give that value. */
  readonly writes?: readonly { readonly point: PointSpec; readonly value: PointValue }[];
  /** A point the peer does not have: read must give quality 'bad' with a cause, not throw. */
  readonly missing?: PointSpec;
  /** Stops the peer (after the driver has been stopped). */
  teardown(): Promise<void>;
}

export interface ContractFixture {
  readonly name: string;
  setup(): Promise<ContractSetup>;
}

function byPoint(readings: readonly Reading[]): Map<string, Reading> {
  return new Map(readings.map((r) => [r.point, r]));
}

function sameValue(actual: PointValue | null, expected: PointValue): boolean {
  if (typeof expected === 'number' && typeof actual === 'number') return Math.abs(actual - expected) < 1e-3 * Math.max(1, Math.abs(expected));
  return actual === expected;
}

export function driverContract(fixture: ContractFixture): void {
  describe(`driver contract: ${fixture.name}`, () => {
    let setup: ContractSetup;
    let stopped = false;

    beforeAll(async () => {
      setup = await fixture.setup();
      await setup.driver.initialize();
    });

    afterAll(async () => {
      if (!stopped) await setup?.driver.stop(true);
      await setup?.teardown();
    });

    it('reads every readable point with good quality, a value and a timestamp', async () => {
      const before = Date.now() - 60_000;
      const readings = await setup.driver.read(setup.readable);
      const map = byPoint(readings);
      for (const point of setup.readable) {
        const reading = map.get(point.name);
        expect(reading, `reading for ${point.name}`).toBeDefined();
        expect(reading?.quality, `${point.name}: ${reading?.cause ?? ''}`).toBe('good');
        expect(reading?.value).not.toBeNull();
        expect(reading?.ts).toBeGreaterThan(before);
      }
    });

    it('writes writable points and reads the value back', async () => {
      for (const { point, value } of setup.writes ?? []) {
        await setup.driver.write(point, value);
        const [reading] = await setup.driver.read([point]);
        expect(reading?.quality).toBe('good');
        expect(sameValue(reading?.value ?? null, value), `${point.name}: wrote ${String(value)}, read ${String(reading?.value)}`).toBe(true);
      }
    });

    it('reports a point the device does not have as bad, with a cause, without failing the others', async () => {
      if (!setup.missing) return;
      const readings = await setup.driver.read([...setup.readable, setup.missing]);
      const map = byPoint(readings);
      const missing = map.get(setup.missing.name);
      expect(missing?.quality).toBe('bad');
      expect(missing?.cause).toBeTruthy();
      for (const point of setup.readable) expect(map.get(point.name)?.quality, point.name).toBe('good');
    });

    it('keeps reading the same points again and again (no leaked state between polls)', async () => {
      for (let i = 0; i < 5; i++) {
        const readings = await setup.driver.read(setup.readable);
        expect(readings.filter((r) => r.quality === 'good')).toHaveLength(setup.readable.length);
      }
    });

    it('delivers subscribed changes when the driver can subscribe', async () => {
      const { driver } = setup;
      if (!isSubscribable(driver)) return;
      const received: Reading[] = [];
      const subscription = await driver.subscribe(setup.readable, (r) => received.push(r));
      const deadline = Date.now() + 10_000;
      while (received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await subscription.close();
      expect(received.length).toBeGreaterThan(0);
    });

    it('stops cleanly, and a second stop is harmless', async () => {
      await setup.driver.stop();
      await setup.driver.stop();
      stopped = true;
    });
  });
}
