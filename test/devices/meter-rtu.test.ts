import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peerOrSkip, socatPeer } from '../support/peers.js';
import { startMeterBus, type MeterBus } from '../../devices/modbus/meter-bus.js';
import { decodeRegisters } from '../../devices/modbus/codec.js';
import { closeModbusClient, newModbusClient, startPtyPair, type ModbusClient, type PtyPair } from './support.js';

describe.skipIf(!peerOrSkip(socatPeer()))('energy meter bus (Modbus RTU over a socat pty pair)', () => {
  let pty: PtyPair;
  let bus: MeterBus;
  let client: ModbusClient;

  beforeAll(async () => {
    pty = await startPtyPair();
    bus = await startMeterBus({ path: pty.a, unitIds: [1, 2, 3], speed: 0, seed: 5 });
    bus.model.step(60);
    client = newModbusClient();
    await client.connectRTUBuffered(pty.b, { baudRate: 9600 });
    client.setTimeout(400);
  });

  afterAll(async () => {
    if (client) await closeModbusClient(client);
    await bus?.stop();
    await pty?.stop();
  });

  const read = async (unit: number, address: number, count: number) => {
    client.setID(unit);
    return (await client.readInputRegisters(address, count)).data;
  };

  it('serves several unit ids, each with its own meter', async () => {
    expect(bus.kinds).toEqual({ 1: 'main', 2: 'refrigeration', 3: 'hvac' });
    const main = await read(1, 0, 10);
    const refr = await read(2, 0, 10);
    expect(decodeRegisters('float32', main.slice(0, 2)) as number).toBeCloseTo(bus.model.meters.main.voltageV, 3);
    expect(decodeRegisters('float32', main.slice(4, 6)) as number).toBeCloseTo(bus.model.meters.main.powerKw, 3);
    expect(decodeRegisters('float32', refr.slice(4, 6)) as number).toBeCloseTo(bus.model.meters.refrigeration.powerKw, 3);
    // uint32 kWh x 10, low word first by default
    const energy = decodeRegisters('uint32', main.slice(8, 10), { wordOrder: 'little' }) as number;
    expect(energy).toBe(Math.round(bus.model.meters.main.energyKwh * 10));
    expect(energy).toBeGreaterThan(65535);
  });

  it('supports coil, holding and multi-write function codes', async () => {
    client.setID(2);
    await client.writeCoil(0, true); // FC5
    expect((await client.readCoils(0, 1)).data[0]).toBe(true); // FC1
    await client.writeCoils(0, [false]); // FC15
    expect((await client.readCoils(0, 1)).data[0]).toBe(false);
    await client.writeRegister(0, 250); // FC6
    await client.writeRegisters(0, [300, 30]); // FC16
    expect((await client.readHoldingRegisters(0, 2)).data).toEqual([300, 30]); // FC3
    expect((await client.readDiscreteInputs(0, 1)).data[0]).toBe(false); // FC2
    await expect(client.writeRegister(1, 0)).rejects.toMatchObject({ modbusCode: 3 });
    await expect(client.readInputRegisters(50, 2)).rejects.toMatchObject({ modbusCode: 2 });
  });

  it('an offline unit stays silent while the others answer', async () => {
    const id = bus.faults.inject({ kind: 'offline', device: 'meter', unit: 2 });
    await expect(read(2, 0, 2)).rejects.toThrow(/Timed out/i);
    expect(await read(1, 0, 2)).toHaveLength(2);
    expect(await read(3, 0, 2)).toHaveLength(2);
    bus.faults.clear(id);
    expect(await read(2, 0, 2)).toHaveLength(2);
  });

  it('a slow unit answers late; injected exceptions are per unit', async () => {
    const slow = bus.faults.inject({ kind: 'slow', device: 'meter', unit: 3, delayMs: 200 });
    const t0 = Date.now();
    await read(3, 0, 2);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    const t1 = Date.now();
    await read(1, 0, 2);
    expect(Date.now() - t1).toBeLessThan(150);
    bus.faults.clear(slow);

    const exc = bus.faults.inject({ kind: 'exception', device: 'meter', unit: 1, code: 6, register: 8 });
    await expect(read(1, 8, 2)).rejects.toMatchObject({ modbusCode: 6 });
    expect(await read(1, 0, 2)).toHaveLength(2);
    expect(await read(2, 8, 2)).toHaveLength(2);
    bus.faults.clear(exc);
  });

  it('an unknown unit id gets no answer', async () => {
    await expect(read(9, 0, 2)).rejects.toThrow(/Timed out/i);
    expect(await read(1, 0, 2)).toHaveLength(2);
  });
});
