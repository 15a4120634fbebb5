import { Value } from '@sinclair/typebox/value';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isSwarmgateError } from '../../../shared/kit/errors.js';
import { createLogger } from '../../../shared/kit/log.js';
import type { PointSpec, Reading, SubscribableDriver } from '../../../edge/drivers/driver.js';
import { isSubscribable } from '../../../edge/drivers/driver.js';
import { OUTPUT_READBACK_MS } from '../../../edge/drivers/gpio/driver.js';
import { gpioManifest, loadOnoff, openChip, type GpioAddress, type GpioConnection } from '../../../edge/drivers/gpio/index.js';
import { driverContract } from '../../contract/driver-contract.js';
import { startFakeChip, type FakeChip } from './fake-chip.js';
import { waitFor, sleep } from '../support.js';

const log = createLogger('test-gpio');

function point(name: string, address: GpioAddress, extra: Partial<PointSpec<GpioAddress>> = {}): PointSpec<GpioAddress> {
  return { name, address, writable: address.direction === 'out', scale: 1, offset: 0, deadband: 0, pollIntervalMs: 1000, ...extra };
}

const DOOR = point('door_closed', { pin: 17, direction: 'in' });
const DOOR_OPEN = point('door_open', { pin: 17, direction: 'in', activeLow: true });
/** Long enough that a loaded machine's late timers still fall inside one bounce (8-10 ms gaps). */
const DEBOUNCE_MS = 300;
const OCCUPIED = point('occupied', { pin: 27, direction: 'in', debounceMs: DEBOUNCE_MS });
const RELAY = point('backup_compressor', { pin: 22, direction: 'out' });
const AHU_ENABLE = point('ahu_enable', { pin: 23, direction: 'out', activeLow: true, initial: 1 });

function makeDriver(port: number, points: PointSpec<GpioAddress>[], timeoutMs = 500): SubscribableDriver {
  const connection: GpioConnection = { chip: { kind: 'sim', host: '127.0.0.1', port, timeoutMs } };
  const driver = gpioManifest.create({ id: 'io', protocol: 'gpio', connection, points }, { log, dataDir: '/nonexistent' });
  if (!isSubscribable(driver)) throw new Error('gpio driver must subscribe');
  return driver;
}

describe('gpio manifest', () => {
  it('declares protocol and capabilities; schemas follow profiles.md', () => {
    expect(gpioManifest.protocol).toBe('gpio');
    expect(gpioManifest.profileProtocol).toBe('gpio');
    expect(gpioManifest.capabilities).toEqual({ subscribe: true, browse: false });
    expect(Value.Check(gpioManifest.connectionSchema, { chip: { kind: 'auto' } })).toBe(true);
    expect(Value.Check(gpioManifest.connectionSchema, { chip: { kind: 'sysfs', base: 512, label: 'pinctrl-bcm2711' } })).toBe(true);
    expect(Value.Check(gpioManifest.connectionSchema, { chip: { kind: 'sim', host: 'h', port: 5000 } })).toBe(true);
    expect(Value.Check(gpioManifest.connectionSchema, { chip: { kind: 'sim', host: 'h' } })).toBe(false);
    expect(Value.Check(gpioManifest.connectionSchema, { chip: { kind: 'auto', base: 3 } })).toBe(false);
    expect(Value.Check(gpioManifest.addressSchema, { pin: 17, direction: 'in', edge: 'both', activeLow: true, debounceMs: 20 })).toBe(true);
    expect(Value.Check(gpioManifest.addressSchema, { pin: 22, direction: 'out', initial: 2 })).toBe(false);
  });

  it('validate() flags input-only/output-only options; every point claims its pin (one point of one device per line, checked across the config)', () => {
    const problems = gpioManifest.validate({
      id: 'io',
      protocol: 'gpio',
      connection: { chip: { kind: 'auto' } },
      points: [
        point('a', { pin: 17, direction: 'in', initial: 1 }),
        point('b', { pin: 22, direction: 'out', edge: 'rising', debounceMs: 5 }),
        point('c', { pin: 17, direction: 'out' }),
        point('d', { pin: 27, direction: 'in' }, { writable: true }),
      ],
    });
    expect(problems.map((p) => p.path).sort()).toEqual(['/points/0/address/initial', '/points/1/address/debounceMs', '/points/1/address/edge', '/points/3/writable']);
    const claims = gpioManifest.claims?.({ id: 'io', protocol: 'gpio', connection: { chip: { kind: 'auto' } }, points: [point('a', { pin: 17, direction: 'in' }), point('c', { pin: 17, direction: 'out' })] }) ?? [];
    expect(claims.map((c) => [c.resource, c.kind, c.path])).toEqual([
      ['gpio sysfs /sys/class/gpio header pin 17', 'exclusive', '/points/0/address/pin'],
      ['gpio sysfs /sys/class/gpio header pin 17', 'exclusive', '/points/1/address/pin'],
    ]);
  });
});

describe('gpio chip selection', () => {
  it('auto without accessible sysfs GPIO fails with SWG_ERR_GPIO_UNAVAILABLE pointing at kind: sim', async () => {
    const accessible = await loadOnoff().then((G) => G.accessible, () => false);
    if (accessible) return; // on real gateway hardware auto picks sysfs
    const err = await openChip({ kind: 'auto' }, log).catch((e: unknown) => e);
    expect(isSwarmgateError(err, 'SWG_ERR_GPIO_UNAVAILABLE')).toBe(true);
    expect((err as Error).message).toContain('kind: sim');
    const explicit = await openChip({ kind: 'sysfs' }, log).catch((e: unknown) => e);
    expect(isSwarmgateError(explicit, 'SWG_ERR_GPIO_UNAVAILABLE')).toBe(true);
  });

  it('sim chip that is not listening: initialize() rejects with SWG_ERR_DEVICE_UNREACHABLE', async () => {
    const chip = await startFakeChip([]);
    const port = chip.port;
    await chip.stop();
    const driver = makeDriver(port, [DOOR]);
    const err = await driver.initialize().catch((e: unknown) => e);
    expect(isSwarmgateError(err, 'SWG_ERR_DEVICE_UNREACHABLE')).toBe(true);
    await driver.stop();
  });
});

describe('gpio driver on the simulated chip protocol', () => {
  let chip: FakeChip;
  let driver: SubscribableDriver;

  beforeAll(async () => {
    chip = await startFakeChip([
      { line: 17, name: 'door_contact', direction: 'in', level: 1 },
      { line: 27, name: 'occupancy', direction: 'in', level: 0 },
      { line: 22, name: 'backup_compressor_relay', direction: 'out', level: 0 },
      { line: 23, name: 'ahu_enable_relay', direction: 'out', level: 1 },
    ]);
  });
  afterAll(async () => chip.stop());

  beforeEach(async () => {
    chip.set(17, 1);
    chip.set(27, 0);
    chip.set(22, 0);
    chip.powerCycle();
    driver = makeDriver(chip.port, [DOOR, DOOR_OPEN, OCCUPIED, RELAY, AHU_ENABLE]);
    await driver.initialize();
  });
  afterEach(async () => driver.stop());

  it('exports outputs with their initial value after active-low mapping', () => {
    // ahu_enable: logical 1, activeLow -> raw 0
    expect(chip.level(23)).toBe(0);
  });

  it('reads booleans, inverting active-low points', async () => {
    const readings = await driver.read([DOOR, DOOR_OPEN, OCCUPIED]);
    expect(readings.map((r) => [r.point, r.value, r.quality])).toEqual([
      ['door_closed', true, 'good'],
      ['door_open', false, 'good'],
      ['occupied', false, 'good'],
    ]);
    chip.set(17, 0);
    expect((await driver.read([DOOR_OPEN]))[0]?.value).toBe(true);
  });

  it('writes outputs (active-low inverted on the wire) and refuses inputs and non-booleans', async () => {
    await driver.write(RELAY, true);
    expect(chip.level(22)).toBe(1);
    await driver.write(AHU_ENABLE, true);
    expect(chip.level(23)).toBe(0);
    await driver.write(AHU_ENABLE, 0);
    expect(chip.level(23)).toBe(1);
    expect((await driver.read([AHU_ENABLE]))[0]?.value).toBe(false);
    const toInput = await driver.write(DOOR, true).catch((e: unknown) => e);
    expect(isSwarmgateError(toInput, 'SWG_ERR_POINT_NOT_WRITABLE')).toBe(true);
    const wrongType = await driver.write(RELAY, 'maybe').catch((e: unknown) => e);
    expect(isSwarmgateError(wrongType, 'SWG_ERR_POINT_TYPE')).toBe(true);
  });

  it('a pin the chip does not have reads bad with a cause, the others stay good', async () => {
    const ghost = point('ghost', { pin: 5, direction: 'in' });
    const readings = await driver.read([DOOR, ghost]);
    expect(readings[0]?.quality).toBe('good');
    expect(readings[1]).toMatchObject({ quality: 'bad', value: null });
    expect(readings[1]?.cause).toContain('SWG_ERR_GPIO_EXPORT');
  });

  it('subscribe: initial values, then edges as readings with the chip timestamp', async () => {
    const got: Reading[] = [];
    const sub = await driver.subscribe([DOOR, DOOR_OPEN], (r) => got.push(r));
    expect(got.map((r) => [r.point, r.value])).toEqual(expect.arrayContaining([['door_closed', true], ['door_open', false]]));
    const before = Date.now();
    chip.set(17, 0);
    const open = await waitFor(() => got.find((r) => r.point === 'door_open' && r.value === true), 2000, 'door open edge');
    expect(open.ts).toBeGreaterThanOrEqual(before);
    expect(got.find((r) => r.point === 'door_closed' && r.value === false)).toBeDefined();
    await sub.close();
  });

  it('debounce collapses a burst into one reading of the settled value', async () => {
    const got: Reading[] = [];
    const sub = await driver.subscribe([OCCUPIED], (r) => got.push(r));
    got.length = 0;
    // bounce: 1 0 1 0 1 within ~40 ms, settles at 1
    for (const level of [1, 0, 1, 0, 1] as const) {
      chip.set(27, level);
      await sleep(8);
    }
    await waitFor(() => (got.length > 0 ? true : undefined), 2000, 'debounced reading');
    await sleep(DEBOUNCE_MS + 100);
    expect(got.map((r) => r.value)).toEqual([true]);
    // a burst that returns to the reported value produces nothing
    chip.set(27, 0);
    await sleep(10);
    chip.set(27, 1);
    await sleep(DEBOUNCE_MS + 200);
    expect(got.map((r) => r.value)).toEqual([true]);
    await sub.close();
  });

  it('edge: rising reports only transitions to true (of the active-low mapped value)', async () => {
    const got: Reading[] = [];
    const risingOpen = point('door_opened', { pin: 17, direction: 'in', activeLow: true, edge: 'rising' });
    const sub = await driver.subscribe([risingOpen], (r) => got.push(r));
    got.length = 0;
    chip.set(17, 0); // opened: logical true -> reported
    await waitFor(() => got.find((r) => r.value === true), 2000, 'rising edge');
    chip.set(17, 1); // closed: falling -> not reported
    await sleep(100);
    chip.set(17, 0);
    await waitFor(() => (got.filter((r) => r.value === true).length === 2 ? true : undefined), 2000, 'second rising edge');
    expect(got.map((r) => r.value)).toEqual([true, true]);
    await sub.close();
  });

  it('a restarted driver finds its outputs held: initial applies only after a power cycle', async () => {
    await driver.write(AHU_ENABLE, false); // raw 1; the profile's initial is logical 1 (raw 0)
    await driver.stop();
    driver = makeDriver(chip.port, [RELAY, AHU_ENABLE]);
    await driver.initialize();
    expect(chip.level(23)).toBe(1);
    expect((await driver.read([AHU_ENABLE]))[0]?.value).toBe(false);
    await driver.stop();
    chip.powerCycle();
    driver = makeDriver(chip.port, [RELAY, AHU_ENABLE]);
    await driver.initialize();
    expect(chip.level(23)).toBe(0);
  });

  it('subscribed outputs are read back: a level changed behind the driver is reported', async () => {
    const got: Reading[] = [];
    const sub = await driver.subscribe([RELAY], (r) => got.push(r));
    chip.set(22, 1); // outputs have no edge events: only the read-back can see this
    await waitFor(() => (got.length >= 2 ? true : undefined), OUTPUT_READBACK_MS * 4, 'read-back reading');
    expect(got.map((r) => r.value)).toEqual([false, true]);
    await sub.close();
  });

  it('subscribed outputs report what was written', async () => {
    const got: Reading[] = [];
    const sub = await driver.subscribe([RELAY], (r) => got.push(r));
    await driver.write(RELAY, true);
    expect(got.map((r) => r.value)).toEqual([false, true]);
    await sub.close();
  });

  it('connection loss: points go bad, then the chip reconnects, re-watches and values flow again', async () => {
    const got: Reading[] = [];
    const sub = await driver.subscribe([DOOR], (r) => got.push(r));
    chip.dropClients();
    const lost = await waitFor(() => got.find((r) => r.quality === 'bad'), 2000, 'bad reading');
    expect(lost.cause).toMatch(/connection lost/);
    const mark = got.length;
    await waitFor(() => got.slice(mark).find((r) => r.quality === 'good'), 3000, 'good reading after reconnect');
    chip.set(17, 0);
    await waitFor(() => got.slice(mark).find((r) => r.value === false), 2000, 'edge after reconnect');
    await sub.close();
  });

  it('an unresponsive chip gives bad readings with SWG_ERR_DEVICE_TIMEOUT, not a hang', async () => {
    chip.mute(true);
    try {
      const started = Date.now();
      const [r] = await driver.read([DOOR]);
      expect(r?.quality).toBe('bad');
      expect(r?.cause).toContain('SWG_ERR_DEVICE_TIMEOUT');
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      chip.mute(false);
    }
  });

  it('initialize() rejects with SWG_ERR_GPIO_EXPORT on a direction mismatch', async () => {
    const bad = makeDriver(chip.port, [point('relay_as_input', { pin: 22, direction: 'in' })]);
    const err = await bad.initialize().catch((e: unknown) => e);
    expect(isSwarmgateError(err, 'SWG_ERR_GPIO_EXPORT')).toBe(true);
    expect((err as Error).message).toContain('BCM pin 22');
    await bad.stop();
  });

  it('stop() leaves no sockets or timers', async () => {
    const before = process.getActiveResourcesInfo().filter((t) => t !== 'TTYWrap').length;
    const d = makeDriver(chip.port, [OCCUPIED]);
    await d.initialize();
    await d.subscribe([OCCUPIED], () => undefined);
    chip.set(27, 1); // leaves a debounce timer pending
    await sleep(5);
    await d.stop();
    await d.stop();
    expect(process.getActiveResourcesInfo().filter((t) => t !== 'TTYWrap').length).toBeLessThanOrEqual(before);

    // ... and none while the chip connection is being re-established
    const e = makeDriver(chip.port, [OCCUPIED]);
    await e.initialize();
    const got: Reading[] = [];
    await e.subscribe([OCCUPIED], (r) => got.push(r));
    chip.dropClients();
    await waitFor(() => got.find((r) => r.quality === 'bad'), 2000, 'connection lost');
    await e.stop();
    await sleep(20);
    expect(process.getActiveResourcesInfo().filter((t) => t !== 'TTYWrap').length).toBeLessThanOrEqual(before);
  });
});

driverContract({
  name: 'gpio (simulated chip protocol, in-test chip)',
  async setup() {
    const chip = await startFakeChip([
      { line: 17, name: 'door_contact', direction: 'in', level: 1 },
      { line: 22, name: 'backup_compressor_relay', direction: 'out', level: 0 },
    ]);
    return {
      driver: makeDriver(chip.port, [DOOR, RELAY]),
      readable: [DOOR, DOOR_OPEN, RELAY],
      writes: [
        { point: RELAY, value: true },
        { point: RELAY, value: false },
      ],
      missing: point('ghost', { pin: 5, direction: 'in' }),
      teardown: () => chip.stop(),
    };
  },
});
