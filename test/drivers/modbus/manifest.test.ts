import { Value } from '@sinclair/typebox/value';
import { describe, expect, it } from 'vitest';
import type { DeviceSpec, PointSpec } from '../../../edge/drivers/driver.js';
import { CircuitBreaker } from '../../../edge/drivers/modbus/breaker.js';
import { modbusRtuManifest, modbusTcpManifest } from '../../../edge/drivers/modbus/manifest.js';
import { SerialQueue } from '../../../edge/drivers/modbus/queue.js';
import type { ModbusAddress, ModbusRtuConnection, ModbusTcpConnection } from '../../../edge/drivers/modbus/schema.js';
import { point } from './helpers.js';

const tcp: ModbusTcpConnection = { host: 'plc', port: 502, unitId: 1, timeoutMs: 1000, retries: 2, backoffMs: 200, maxBlockRegisters: 125, maxGapRegisters: 8 };

function problems(points: PointSpec<ModbusAddress>[]) {
  const device: DeviceSpec<ModbusTcpConnection, ModbusAddress> = { id: 'd', protocol: 'modbus-tcp', connection: tcp, points };
  return modbusTcpManifest.validate(device);
}

describe('manifests', () => {
  it('names, profile family and capabilities', () => {
    expect([modbusTcpManifest.protocol, modbusRtuManifest.protocol]).toEqual(['modbus-tcp', 'modbus-rtu']);
    expect(modbusTcpManifest.profileProtocol).toBe('modbus');
    expect(modbusRtuManifest.profileProtocol).toBe('modbus');
    expect(modbusTcpManifest.capabilities).toEqual({ subscribe: false, browse: true });
  });

  it('schemas: defaults, descriptions, no extra fields', () => {
    const filled = Value.Default(modbusTcpManifest.connectionSchema, { host: 'plc' });
    expect(filled).toEqual(tcp);
    expect(Value.Check(modbusTcpManifest.connectionSchema, { ...tcp, extra: 1 })).toBe(false);
    const rtu = Value.Default(modbusRtuManifest.connectionSchema, { path: '/dev/ttyUSB0' }) as ModbusRtuConnection;
    expect(rtu).toMatchObject({ baudRate: 9600, parity: 'none', dataBits: 8, stopBits: 1, unitId: 1, timeoutMs: 500, retries: 1 });
    expect(Value.Check(modbusRtuManifest.connectionSchema, { ...rtu, breaker: { failureThreshold: 3, openMs: 5000 } })).toBe(true);
    expect(Value.Check(modbusTcpManifest.addressSchema, { table: 'holding', register: 0, type: 'float32', wordOrder: 'little' })).toBe(true);
    expect(Value.Check(modbusTcpManifest.addressSchema, { table: 'holding', register: 65536, type: 'uint16' })).toBe(false);
    expect(Value.Check(modbusTcpManifest.addressSchema, { table: 'holding', register: 0, type: 'uint16', scale: 2 })).toBe(false);
    const described = JSON.stringify(modbusRtuManifest.connectionSchema);
    expect(described).toContain('share one port');
  });

  it('accepts a clean device, including several bits of one register', () => {
    expect(
      problems([
        point('a', { register: 0, type: 'float32' }),
        point('b', { register: 2, type: 'bool', bit: 0 }),
        point('c', { register: 2, type: 'bool', bit: 1 }),
        point('d', { table: 'coil', register: 0, type: 'bool' }, { writable: true }),
        point('e', { table: 'input', register: 0, type: 'string', length: 4 }),
      ]),
    ).toEqual([]);
  });

  it('reports overlaps, missing bit/length, writes to read-only tables and type/table mismatches', () => {
    const found = problems([
      point('a', { register: 0, type: 'float32' }),
      point('b', { register: 1 }),
      point('c', { register: 5, type: 'bool' }),
      point('d', { register: 6, type: 'string' }),
      point('e', { table: 'input', register: 0 }, { writable: true }),
      point('f', { table: 'discrete', register: 0, type: 'bool' }, { writable: true }),
      point('g', { table: 'coil', register: 0, type: 'uint16' }),
      point('h', { register: 20, type: 'uint16', length: 2 }),
      point('i', { register: 30, type: 'bool', bit: 3 }),
      point('j', { register: 30, type: 'bool', bit: 3 }),
      point('k', { register: 65535, type: 'uint32' }),
    ]);
    const messages = found.map((p) => `${p.path} ${p.message}`);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^\/points\/1\/address\/register b .*overlaps a/),
        expect.stringMatching(/^\/points\/2\/address\/bit c: a bool on a holding register needs bit/),
        expect.stringMatching(/^\/points\/3\/address\/length d: a string needs length/),
        expect.stringMatching(/^\/points\/4\/writable e: the input table is read-only/),
        expect.stringMatching(/^\/points\/5\/writable f: the discrete table is read-only/),
        expect.stringMatching(/^\/points\/6\/address\/type g: the coil table holds single bits/),
        expect.stringMatching(/^\/points\/7\/address\/length h: length is only meaningful with type string/),
        expect.stringMatching(/^\/points\/9\/address\/register j .*overlaps i/),
        expect.stringMatching(/^\/points\/10\/address\/register k: uint32 at 65535 runs past/),
      ]),
    );
    expect(found).toHaveLength(9);
  });

  it('refuses strings longer than maxBlockRegisters and RTU broadcast unit ids', () => {
    const small = { ...tcp, maxBlockRegisters: 10 };
    const device: DeviceSpec<ModbusTcpConnection, ModbusAddress> = { id: 'd', protocol: 'modbus-tcp', connection: small, points: [point('s', { register: 0, type: 'string', length: 20 })] };
    expect(modbusTcpManifest.validate(device)[0]?.message).toMatch(/more than maxBlockRegisters \(10\)/);
    const rtu = Value.Default(modbusRtuManifest.connectionSchema, { path: '/dev/ttyUSB0', unitId: 0 }) as ModbusRtuConnection;
    const problemsRtu = modbusRtuManifest.validate({ id: 'm', protocol: 'modbus-rtu', connection: rtu, points: [] });
    expect(problemsRtu).toEqual([expect.objectContaining({ path: '/connection/unitId' })]);
  });
});

describe('CircuitBreaker', () => {
  it('opens after N consecutive failures, probes after openMs, doubles while probes fail, closes on success', () => {
    let now = 0;
    const b = new CircuitBreaker({ failureThreshold: 3, openMs: 1000, maxOpenMs: 3000 }, () => now);
    b.failure();
    b.success();
    b.failure();
    b.failure();
    expect(b.state).toBe('closed');
    b.failure();
    expect(b.state).toBe('open');
    expect(b.admit()).toBe('reject');
    now = 999;
    expect(b.admit()).toBe('reject');
    now = 1000;
    expect(b.admit()).toBe('probe');
    expect(b.admit()).toBe('reject'); // one probe at a time
    b.failure();
    expect(b.retryInMs()).toBe(2000);
    now = 3000;
    expect(b.admit()).toBe('probe');
    b.failure();
    expect(b.retryInMs()).toBe(3000); // capped
    now = 6000;
    expect(b.admit()).toBe('probe');
    b.success();
    expect(b.state).toBe('closed');
    expect(b.admit()).toBe('pass');
    // After closing, the open period starts again from openMs.
    b.failure();
    b.failure();
    b.failure();
    expect(b.retryInMs()).toBe(1000);
  });
});

describe('SerialQueue', () => {
  it('runs one job at a time, in order, and survives failures', async () => {
    const q = new SerialQueue();
    const log: string[] = [];
    let running = 0;
    const job = (name: string, ms: number, fail = false) =>
      q.run(async () => {
        running++;
        expect(running).toBe(1);
        log.push(`start ${name}`);
        await new Promise((r) => setTimeout(r, ms));
        log.push(`end ${name}`);
        running--;
        if (fail) throw new Error(name);
        return name;
      });
    const results = await Promise.allSettled([job('a', 20), job('b', 5, true), job('c', 1)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
    expect(q.size).toBe(0);
  });
});

describe('read never rejects', () => {
  it('a point with a broken address (validation skipped) yields a bad reading, not a rejection', async () => {
    const { tcpDriver } = await import('./helpers.js');
    const d = tcpDriver({ host: '127.0.0.1', port: 1 });
    const broken = { ...point('x', { register: 0 }), address: undefined } as unknown as PointSpec<ModbusAddress>;
    const [r] = await d.read([broken]);
    expect(r).toMatchObject({ point: 'x', quality: 'bad', value: null });
    expect(r?.cause).toMatch(/^SWG_ERR_INTERNAL/);
    await d.stop();
  });
});
