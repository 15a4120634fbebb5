/**
 * The GPIO driver against the simulator's chip server (devices/gpio): the driver contract, door
 * edges from the physics, relays driving the physics, and the 'offline' fault.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../shared/kit/log.js';
import type { PointSpec, Reading, SubscribableDriver } from '../../../edge/drivers/driver.js';
import { isSubscribable } from '../../../edge/drivers/driver.js';
import { gpioManifest, type GpioAddress } from '../../../edge/drivers/gpio/index.js';
import { startGpioChipServer, type GpioChipServer } from '../../../devices/gpio/chip-server.js';
import { driverContract } from '../../contract/driver-contract.js';
import { waitFor } from '../support.js';

const p = (name: string, address: GpioAddress): PointSpec<GpioAddress> => ({
  name,
  address,
  writable: address.direction === 'out',
  scale: 1,
  offset: 0,
  deadband: 0,
  pollIntervalMs: 1000,
});

// As in devices/profiles/facility-gpio.yaml, plus an active-low view of the door contact.
const DOOR_CONTACT = p('door_contact', { pin: 17, direction: 'in', edge: 'both' });
const DOOR_OPEN = p('door_open', { pin: 17, direction: 'in', edge: 'both', activeLow: true, debounceMs: 30 });
const OCCUPANCY = p('occupancy', { pin: 27, direction: 'in', edge: 'both' });
const BACKUP_RELAY = p('backup_compressor_relay', { pin: 22, direction: 'out', initial: 0 });
const AHU_ENABLE = p('ahu_enable_relay', { pin: 23, direction: 'out', initial: 1 });

function makeDriver(server: GpioChipServer): SubscribableDriver {
  const driver = gpioManifest.create(
    {
      id: 'facility-io',
      protocol: 'gpio',
      connection: { chip: { kind: 'sim', host: server.host, port: server.port, timeoutMs: 300 } },
      points: [DOOR_CONTACT, DOOR_OPEN, OCCUPANCY, BACKUP_RELAY, AHU_ENABLE],
    },
    { log: createLogger('test-gpio-sim'), dataDir: '/nonexistent' },
  );
  if (!isSubscribable(driver)) throw new Error('expected subscribe');
  return driver;
}

driverContract({
  name: 'gpio (simulator chip server)',
  async setup() {
    const server = await startGpioChipServer({ speed: 0, seed: 3 });
    return {
      driver: makeDriver(server),
      readable: [DOOR_CONTACT, DOOR_OPEN, OCCUPANCY, BACKUP_RELAY, AHU_ENABLE],
      writes: [
        { point: BACKUP_RELAY, value: true },
        { point: BACKUP_RELAY, value: false },
      ],
      missing: p('ghost', { pin: 5, direction: 'in' }),
      teardown: () => server.stop(),
    };
  },
});

describe('gpio driver with the simulator chip server', () => {
  let server: GpioChipServer;
  let driver: SubscribableDriver;

  beforeAll(async () => {
    server = await startGpioChipServer({ speed: 0, seed: 3 });
    server.model.setDoorOverride(false);
    server.model.step(1);
    driver = makeDriver(server);
    await driver.initialize();
  });

  afterAll(async () => {
    await driver?.stop();
    await server?.stop();
  });

  it('door edges from the physics arrive as readings (raw and active-low debounced views)', async () => {
    const got: Reading[] = [];
    const sub = await driver.subscribe([DOOR_CONTACT, DOOR_OPEN], (r) => got.push(r));
    try {
      expect(got.find((r) => r.point === 'door_contact')?.value).toBe(true); // closed: raw 1
      expect(got.find((r) => r.point === 'door_open')?.value).toBe(false);
      server.model.setDoorOverride(true);
      server.model.step(1);
      await waitFor(() => got.find((r) => r.point === 'door_contact' && r.value === false), 2000, 'door contact opened');
      await waitFor(() => got.find((r) => r.point === 'door_open' && r.value === true), 2000, 'door open (debounced)');
    } finally {
      server.model.setDoorOverride(false);
      server.model.step(1);
      await sub.close();
    }
  });

  it('relays drive the physics', async () => {
    await driver.write(BACKUP_RELAY, true);
    expect(server.level(22)).toBe(1);
    await driver.write(BACKUP_RELAY, false);
    expect(server.level(22)).toBe(0);
    expect(server.level(23)).toBe(1);
  });

  it('a gateway restart keeps a running backup compressor on (initial: 0 applies at power-up only)', async () => {
    await driver.write(BACKUP_RELAY, true);
    expect(server.model.coldRoom.backupCompressor).toBe(true);
    await driver.stop();
    const switchedOff: number[] = [];
    const watch = setInterval(() => {
      if (!server.model.coldRoom.backupCompressor) switchedOff.push(Date.now());
    }, 1);
    try {
      driver = makeDriver(server);
      await driver.initialize();
      const got: Reading[] = [];
      const sub = await driver.subscribe([BACKUP_RELAY], (r) => got.push(r));
      expect(got.map((r) => r.value)).toEqual([true]);
      await sub.close();
    } finally {
      clearInterval(watch);
    }
    expect(switchedOff).toEqual([]);
    expect(server.level(22)).toBe(1);
    await driver.write(BACKUP_RELAY, false);
  });

  it("the 'offline' fault turns reads into bad readings with a timeout cause", async () => {
    const id = server.faults.inject({ kind: 'offline', device: 'gpio' });
    try {
      const [r] = await driver.read([DOOR_CONTACT]);
      expect(r?.quality).toBe('bad');
      expect(r?.cause).toContain('SWG_ERR_DEVICE_TIMEOUT');
    } finally {
      server.faults.clear(id);
    }
    const [again] = await driver.read([DOOR_CONTACT]);
    expect(again?.quality).toBe('good');
  });
});
