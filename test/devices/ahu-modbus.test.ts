import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAhuServer, type AhuServer } from '../../devices/modbus/ahu-server.js';
import { decodeRegisters } from '../../devices/modbus/codec.js';
import { AHU_SERIAL_NUMBER } from '../../devices/modbus/ahu-map.js';
import { closeModbusClient, newModbusClient, type ModbusClient } from './support.js';

describe('AHU Modbus TCP server', () => {
  let server: AhuServer;
  let client: ModbusClient;

  beforeAll(async () => {
    server = await startAhuServer({ speed: 0, seed: 7 });
    client = newModbusClient();
    await client.connectTCP(server.host, { port: server.port });
    client.setID(1);
    client.setTimeout(1000);
  });

  afterAll(async () => {
    await closeModbusClient(client);
    await server.stop();
  });

  it('serves float32, uint32, int32, float64, bit and string registers', async () => {
    expect(server.port).toBeGreaterThan(0);
    const { data } = await client.readInputRegisters(0, 28);
    const supply = decodeRegisters('float32', data.slice(0, 2)) as number;
    expect(supply).toBeCloseTo(server.model.ahu.supplyAirC, 3);
    expect(decodeRegisters('uint32', data.slice(10, 12))).toBe(Math.round(server.model.ahu.runHours * 10));
    expect(decodeRegisters('int32', data.slice(12, 14))).toBe(Math.round(server.model.ahu.coilEnergyWh));
    expect(decodeRegisters('float64', data.slice(14, 18))).toBeCloseTo(server.model.ahu.airVolumeM3, 3);
    expect((data[18] ?? 0) & 0b1000).toBe(0b1000); // enable relay closed by default
    expect(decodeRegisters('string', data.slice(20, 28))).toBe(AHU_SERIAL_NUMBER);
  });

  it('writes change the physics', async () => {
    await client.writeCoil(0, true);
    await client.writeRegisters(0, [500, 300]);
    await client.writeRegister(2, 160);
    expect(server.model.ahu.fanCommand).toBe(true);
    expect(server.model.ahu.fanSpeedPct).toBe(50);
    expect(server.model.ahu.damperPct).toBe(30);
    expect(server.model.ahu.supplySetpointC).toBe(16);
    server.model.step(120);
    const { data } = await client.readDiscreteInputs(0, 3);
    expect(data[2]).toBe(true);
    const fb = await client.readInputRegisters(9, 1);
    expect((fb.data[0] ?? 0) / 10).toBeGreaterThan(45);
  });

  it('answers illegal address beyond the map and refuses read-only writes', async () => {
    await expect(client.readInputRegisters(40, 2)).rejects.toMatchObject({ modbusCode: 2 });
    await expect(client.writeRegister(10, 1)).rejects.toMatchObject({ modbusCode: 2 });
    await expect(client.writeRegister(0, 2000)).rejects.toMatchObject({ modbusCode: 3 });
  });

  it('injected exception hits only requests covering the register', async () => {
    const id = server.faults.inject({ kind: 'exception', device: 'ahu', code: 6, register: 2 });
    await expect(client.readHoldingRegisters(0, 3)).rejects.toMatchObject({ modbusCode: 6 });
    expect((await client.readHoldingRegisters(0, 1)).data).toHaveLength(1);
    server.faults.clear(id);
    expect((await client.readHoldingRegisters(0, 3)).data).toHaveLength(3);
  });

  it('offline does not answer; slow answers late', async () => {
    const off = server.faults.inject({ kind: 'offline', device: 'ahu' });
    client.setTimeout(300);
    await expect(client.readInputRegisters(0, 2)).rejects.toThrow(/Timed out/i);
    server.faults.clear(off);
    const slow = server.faults.inject({ kind: 'slow', device: 'ahu', delayMs: 150 });
    client.setTimeout(1000);
    const t0 = Date.now();
    await client.readInputRegisters(0, 2);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    server.faults.clear(slow);
  });
});
