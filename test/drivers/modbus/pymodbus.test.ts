/**
 * The Modbus driver against an independent implementation: Debian's pymodbus serving a known
 * register layout (test/peers/pymodbus_server.py) over TCP and over RTU on a socat pty pair.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSwarmgateError } from '../../../shared/kit/errors.js';
import type { Reading } from '../../../edge/drivers/driver.js';
import { draftProfile } from '../../../edge/drivers/modbus/browse.js';
import type { ModbusDriver } from '../../../edge/drivers/modbus/driver.js';
import { openBuses } from '../../../edge/drivers/modbus/rtu-bus.js';
import { peerOrSkip, pymodbusPeer, socatPeer } from '../../support/peers.js';
import { driverContract } from '../../contract/driver-contract.js';
import { point, rtuDriver, sleep, startPymodbus, startSocat, tcpDriver, type PymodbusPeer } from './helpers.js';
import type { PtyPair } from '../../../devices/serial/pty-pair.js';

const hasPymodbus = peerOrSkip(pymodbusPeer());
const hasRtuPeers = hasPymodbus && peerOrSkip(socatPeer());

const layout = [
  point('i16', { register: 0, type: 'int16' }),
  point('u16', { register: 1 }),
  point('i32', { register: 2, type: 'int32' }),
  point('u32', { register: 4, type: 'uint32' }),
  point('f32', { register: 6, type: 'float32' }),
  point('f64', { register: 8, type: 'float64' }),
  point('str', { register: 12, type: 'string', length: 4 }),
  point('bit0', { register: 16, type: 'bool', bit: 0 }),
  point('bit1', { register: 16, type: 'bool', bit: 1 }),
  point('bit2', { register: 16, type: 'bool', bit: 2 }),
  point('h100', { register: 100 }),
  point('in_f32', { table: 'input', register: 0, type: 'float32' }),
  point('in_i16', { table: 'input', register: 2, type: 'int16' }),
  point('coil0', { table: 'coil', register: 0, type: 'bool' }),
  point('coil1', { table: 'coil', register: 1, type: 'bool' }),
  point('di7', { table: 'discrete', register: 7, type: 'bool' }),
];

const expected: Record<string, number | boolean | string> = {
  i16: -123,
  u16: 5000,
  i32: -100000,
  u32: 3000000000,
  f32: 21.5,
  f64: 1234.5678,
  str: 'SWG-TEST',
  bit0: true,
  bit1: false,
  bit2: true,
  h100: 100,
  in_f32: -40.25,
  in_i16: -1,
  coil0: true,
  coil1: false,
  di7: true,
};

function values(readings: readonly Reading[]): Record<string, unknown> {
  return Object.fromEntries(readings.map((r) => [r.point, r.quality === 'good' ? r.value : `bad: ${r.cause ?? ''}`]));
}

describe.skipIf(!hasPymodbus)('modbus-tcp against pymodbus', () => {
  let peer: PymodbusPeer;
  let driver: ModbusDriver;

  beforeAll(async () => {
    peer = await startPymodbus('tcp', 0);
    driver = tcpDriver({ host: '127.0.0.1', port: peer.port });
    await driver.initialize();
  });

  afterAll(async () => {
    await driver?.stop(true);
    await peer?.stop();
  });

  it('reads every type from every table', async () => {
    const readings = await driver.read(layout);
    expect(values(readings)).toEqual(expected);
    expect(readings.map((r) => r.device)).toEqual(layout.map(() => 'tcp-dev'));
  });

  it('polling the same array again reuses its plan and keeps the reading order, repeats included', async () => {
    const again = [...layout].reverse();
    for (let poll = 0; poll < 3; poll++) expect(values(await driver.read(again))).toEqual(expected);
    const [first, , repeat] = await driver.read([layout[2], layout[0], layout[2]].filter((p) => p !== undefined));
    expect([first?.point, repeat?.point, repeat?.value]).toEqual(['i32', 'i32', -100000]);
  });

  it('applies scale and offset', async () => {
    const [r] = await driver.read([point('scaled', { register: 1 }, { scale: 0.1, offset: -10 })]);
    expect(r?.value).toBe(490);
  });

  it('an exception reply marks only the points of the refused register bad', async () => {
    // maxGap 100 makes one block 0..103 that crosses the hole at 20..99; it gets split.
    const wide = tcpDriver({ host: '127.0.0.1', port: peer.port, maxGapRegisters: 100 });
    try {
      const readings = await wide.read([...layout, point('hole', { register: 20 }), point('hole2', { register: 50, type: 'float32' })]);
      const v = values(readings);
      expect(v.hole).toMatch(/^bad: SWG_ERR_DEVICE_EXCEPTION: ILLEGAL DATA ADDRESS \(2\)/);
      expect(v.hole2).toMatch(/ILLEGAL DATA ADDRESS \(2\)/);
      for (const [name, value] of Object.entries(expected)) expect(v[name], name).toEqual(value);
    } finally {
      await wide.stop();
    }
  });

  it('writes with FC5, FC6 (single register, bit in register) and FC16 (multi-register)', async () => {
    const w = { writable: true };
    const i16 = point('w_i16', { register: 17, type: 'int16' }, w);
    const f32 = point('w_f32', { register: 18, type: 'float32', wordOrder: 'little' }, { ...w, scale: 0.5 });
    const coil = point('w_coil', { table: 'coil', register: 5, type: 'bool' }, w);
    const bit = point('w_bit', { register: 16, type: 'bool', bit: 1 }, w);
    await driver.write(i16, -42);
    await driver.write(f32, 10.25);
    await driver.write(coil, true);
    await driver.write(bit, true);
    expect(values(await driver.read([i16, f32, coil, bit, layout[7]!, layout[9]!]))).toEqual({
      w_i16: -42,
      w_f32: 10.25,
      w_coil: true,
      w_bit: true,
      bit0: true,
      bit2: true,
    });
    await driver.write(bit, false);
    expect(values(await driver.read([bit, layout[9]!]))).toEqual({ w_bit: false, bit2: true });
  });

  it('refuses writes the protocol or the type cannot do, before touching the device', async () => {
    const err = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);
    expect(isSwarmgateError(await err(driver.write(point('ro', { table: 'input', register: 0 }, { writable: true }), 1)), 'SWG_ERR_POINT_NOT_WRITABLE')).toBe(true);
    expect(isSwarmgateError(await err(driver.write(point('nw', { register: 17 }), 1)), 'SWG_ERR_POINT_NOT_WRITABLE')).toBe(true);
    expect(isSwarmgateError(await err(driver.write(point('big', { register: 17 }, { writable: true }), 70000)), 'SWG_ERR_POINT_TYPE')).toBe(true);
    const refused = await err(driver.write(point('hole', { register: 30 }, { writable: true }), 1));
    expect(isSwarmgateError(refused, 'SWG_ERR_DEVICE_EXCEPTION')).toBe(true);
  });

  it('browse finds the live unit ids and their readable ranges; draftProfile turns them into a profile', async () => {
    const found = await driver.browse({ unitIds: [1, 3], tables: ['holding', 'input', 'coil'], count: 120, blockSize: 50, timeoutMs: 150 });
    const ranges = found.map((p) => [p.unitId, p.address.table, p.address.register, p.count]);
    expect(ranges).toEqual([
      [1, 'coil', 0, 8],
      [1, 'holding', 0, 20],
      [1, 'holding', 100, 4],
      [1, 'input', 0, 10],
    ]);
    expect(found[1]?.name).toBe('u1_holding_0_19');
    const draft = draftProfile(found, { profile: 'scanned', manufacturer: 'Pymodbus' });
    expect(draft.protocol).toBe('modbus');
    expect(draft.points).toHaveLength(8 + 20 + 4 + 10);
    expect(draft.points[8]).toEqual({
      name: 'holding_0',
      description: expect.stringContaining('holding 0') as unknown as string,
      address: { table: 'holding', register: 0, type: 'uint16' },
      writable: false,
    });
  });

  it('peer goes away: bad readings (never a rejection); peer back on the same port: good again', async () => {
    const own = await startPymodbus('tcp', 0);
    const d = tcpDriver({ host: '127.0.0.1', port: own.port, backoffMs: 50, timeoutMs: 300 });
    try {
      await d.initialize();
      expect((await d.read([layout[1]!]))[0]?.quality).toBe('good');
      await own.stop();
      const down = await d.read([layout[1]!, layout[0]!]);
      expect(down.map((r) => r.quality)).toEqual(['bad', 'bad']);
      expect(down[0]?.cause).toMatch(/SWG_ERR_DEVICE_(NOT_CONNECTED|UNREACHABLE)/);
      const again = await startPymodbus('tcp', own.port);
      try {
        let quality = 'bad';
        const deadline = Date.now() + 10_000;
        while (quality !== 'good' && Date.now() < deadline) {
          await sleep(100);
          quality = (await d.read([layout[1]!]))[0]?.quality ?? 'bad';
        }
        expect(quality).toBe('good');
      } finally {
        await d.stop();
        await again.stop();
      }
    } finally {
      await d.stop(true);
      await own.stop();
    }
  });

  it('stop leaves no socket or timer behind, even with a read in flight', async () => {
    const count = () => {
      const all = process.getActiveResourcesInfo();
      return { sockets: all.filter((r) => r === 'TCPSocketWrap').length, timers: all.filter((r) => r === 'Timeout').length };
    };
    await sleep(20);
    const before = count();
    const d = tcpDriver({ host: '127.0.0.1', port: peer.port });
    await d.initialize();
    await d.read(layout);
    expect(count().sockets).toBe(before.sockets + 1);
    const inFlight = d.read(layout);
    await d.stop(true);
    const readings = await inFlight;
    expect(readings).toHaveLength(layout.length);
    await sleep(20);
    const after = count();
    expect(after.sockets).toBe(before.sockets);
    // Unrelated timers of the test runner may end meanwhile; ours must not add any.
    expect(after.timers).toBeLessThanOrEqual(before.timers);
  });

  it('initialize rejects with SWG_ERR_DEVICE_UNREACHABLE when nothing listens', async () => {
    const d = tcpDriver({ host: '127.0.0.1', port: 1 });
    await expect(d.initialize()).rejects.toMatchObject({ code: 'SWG_ERR_DEVICE_UNREACHABLE' });
    await d.stop();
  });
});

if (hasPymodbus) {
  let peer: PymodbusPeer | undefined;
  driverContract({
    name: 'modbus-tcp (pymodbus)',
    async setup() {
      peer = await startPymodbus('tcp', 0);
      return {
        driver: tcpDriver({ host: '127.0.0.1', port: peer.port }),
        readable: layout,
        writes: [
          { point: point('c_u16', { register: 19 }, { writable: true }), value: 1234 },
          { point: point('c_coil', { table: 'coil', register: 6, type: 'bool' }, { writable: true }), value: true },
        ],
        missing: point('missing', { register: 60 }),
        teardown: async () => peer?.stop(),
      };
    },
  });
}

describe.skipIf(!hasRtuPeers)('modbus-rtu against pymodbus on a socat pty pair', () => {
  let pty: PtyPair;
  let peer: PymodbusPeer;
  const drivers: ModbusDriver[] = [];

  beforeAll(async () => {
    pty = await startSocat();
    peer = await startPymodbus('rtu', pty.simPath);
  });

  afterAll(async () => {
    for (const d of drivers) await d.stop(true);
    await peer?.stop();
    await pty?.close();
  });

  it('units 1 and 2 share one port; a dead unit 3 trips its breaker without stalling them', async () => {
    const breaker = { failureThreshold: 2, openMs: 60_000 };
    // Live units get a timeout a loaded CI box cannot miss (pymodbus is a Python process sharing
    // two cores); only the dead unit's matters, and it is never waited out once its breaker opens.
    const u1 = rtuDriver({ path: pty.gatewayPath, unitId: 1, breaker, timeoutMs: 2000 });
    const u2 = rtuDriver({ path: pty.gatewayPath, unitId: 2, breaker, timeoutMs: 2000 });
    const u3 = rtuDriver({ path: pty.gatewayPath, unitId: 3, breaker });
    drivers.push(u1, u2, u3);
    for (const d of [u1, u2, u3]) await d.initialize();
    expect(openBuses()).toEqual([expect.objectContaining({ users: 3, open: true })]);

    expect(values(await u1.read(layout))).toEqual(expected);
    expect((await u2.read([layout[1]!]))[0]?.value).toBe(6000);

    for (let i = 0; i < 2; i++) expect((await u3.read([layout[1]!]))[0]?.cause).toMatch(/SWG_ERR_DEVICE_TIMEOUT/);
    // Refused by the open breaker, without going on the bus (a request would end in a timeout).
    const open = await u3.read([layout[1]!, layout[0]!]);
    expect(open.map((r) => r.cause)).toEqual([expect.stringMatching(/^SWG_ERR_DEVICE_CIRCUIT_OPEN/), expect.stringMatching(/^SWG_ERR_DEVICE_CIRCUIT_OPEN/)]);

    // Writes over RTU (FC6 / FC16) reach the right unit.
    await u2.write(point('w', { register: 17, type: 'int32' }, { writable: true }), -7);
    expect((await u2.read([point('w', { register: 17, type: 'int32' })]))[0]?.value).toBe(-7);
    expect((await u1.read([point('w', { register: 17, type: 'int32' })]))[0]?.value).not.toBe(-7);

    await u3.stop();
    await u2.stop();
    expect(openBuses()).toEqual([expect.objectContaining({ users: 1 })]);
    await u1.stop();
    expect(openBuses()).toEqual([]);
  });

  it('browse scans unit ids on the bus', async () => {
    const d = rtuDriver({ path: pty.gatewayPath, unitId: 1 });
    drivers.push(d);
    const found = await d.browse({ unitIds: { from: 1, to: 3 }, tables: ['holding'], count: 24, blockSize: 24, timeoutMs: 1000 });
    expect(found.map((p) => [p.unitId, p.address.register, p.count])).toEqual([
      [1, 0, 20],
      [2, 0, 20],
    ]);
    await d.stop();
  });
});
