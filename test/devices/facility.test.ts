import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFacility, type Facility } from '../../devices/facility.js';
import { FAULT_SCHEMAS } from '../../devices/faults/types.js';
import { ERROR_TABLE } from '../../shared/kit/errors.js';
import { closeModbusClient, newModbusClient, type ModbusClient } from './support.js';

describe('startFacility + control API', () => {
  let facility: Facility;
  let client: ModbusClient;

  beforeAll(async () => {
    facility = await startFacility({ speed: 0, seed: 11 });
    client = newModbusClient();
    await client.connectTCP(facility.endpoints.modbusTcp.host, { port: facility.endpoints.modbusTcp.port });
    client.setID(1);
    client.setTimeout(500);
  });

  afterAll(async () => {
    await closeModbusClient(client);
    await facility.stop();
  });

  const api = (path: string, init?: RequestInit) => fetch(`${facility.endpoints.control.url}${path}`, init);
  const post = (body: unknown) => api('/faults', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('reports endpoints on ephemeral ports', () => {
    const e = facility.endpoints;
    expect(e.modbusTcp.port).toBeGreaterThan(0);
    expect(e.gpio.port).toBeGreaterThan(0);
    expect(e.opcua.endpointUrl).toMatch(/^opc\.tcp:\/\/127\.0\.0\.1:\d+\/swarmgate\/coldroom$/);
    expect(e.control.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(e.rtu).toBeUndefined();
  });

  it('GET /state returns the physics snapshot', async () => {
    const res = await api('/state');
    expect(res.status).toBe(200);
    const state = (await res.json()) as { coldRoom: { temperatureC: number }; time: number };
    expect(state.coldRoom.temperatureC).toBeCloseTo(facility.model.coldRoom.temperatureC, 6);
    expect(state.time).toBe(facility.model.now());
  });

  it('POST /faults validates and names the bad field', async () => {
    const bad = await post({ kind: 'spikes', target: 'ahu.supply_air_temp', probability: 2, magnitude: 5 });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string; field: string }).field).toBe('probability');
    const badKind = await post({ kind: 'meltdown' });
    expect(((await badKind.json()) as { field: string }).field).toBe('kind');
    const badTarget = await post({ kind: 'stuck', target: 'nope' });
    expect(((await badTarget.json()) as { field: string }).field).toBe('target');
    const extra = await post({ kind: 'offline', device: 'ahu', bogus: 1 });
    expect(extra.status).toBe(400);
  });

  it('the invalid-fault hint lists every fault kind there is', () => {
    const hint = ERROR_TABLE.SWG_ERR_SIM_FAULT_INVALID.hint;
    const listed = (hint.split('the fault kinds are ')[1] ?? '').split(', ');
    expect(listed.sort()).toEqual(Object.keys(FAULT_SCHEMAS).sort());
  });

  it('exception, offline and slow faults change Modbus behaviour; DELETE clears', async () => {
    const exc = (await (await post({ kind: 'exception', device: 'ahu', code: 4 })).json()) as { id: string };
    await expect(client.readInputRegisters(0, 2)).rejects.toMatchObject({ modbusCode: 4 });
    expect(((await (await api('/faults')).json()) as Array<{ id: string }>).map((f) => f.id)).toEqual([exc.id]);
    expect((await api(`/faults/${exc.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await api(`/faults/${exc.id}`, { method: 'DELETE' })).status).toBe(404);
    await client.readInputRegisters(0, 2);

    await post({ kind: 'offline', device: 'ahu' });
    await expect(client.readInputRegisters(0, 2)).rejects.toThrow(/Timed out/i);
    expect((await api('/faults', { method: 'DELETE' })).status).toBe(204);

    await post({ kind: 'slow', device: 'ahu', delayMs: 200 });
    const t0 = Date.now();
    await client.readInputRegisters(0, 2);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    facility.faults.clear();
  });

  it('control API: GET/POST /speed changes how fast simulated time runs; POST /step advances it', async () => {
    expect(await (await api('/speed')).json()).toEqual({ speed: facility.speed });
    const before = facility.model.now();
    const stepped = (await (await api('/step', { method: 'POST', body: JSON.stringify({ seconds: 600 }) })).json()) as { time: number };
    expect(stepped.time - before).toBeGreaterThanOrEqual(600_000);
    const set = await api('/speed', { method: 'POST', body: JSON.stringify({ speed: 120 }) });
    expect(set.status).toBe(200);
    expect(await set.json()).toEqual({ speed: 120 });
    expect(facility.speed).toBe(120);
    expect((await api('/speed', { method: 'POST', body: JSON.stringify({ speed: 0 }) })).status).toBe(200);
    expect(facility.speed).toBe(0);
    const bad = await api('/speed', { method: 'POST', body: JSON.stringify({ speed: -1 }) });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ field: 'speed' });
  });

  it('compressor-failure warms the cold room', () => {
    const id = facility.faults.inject({ kind: 'compressor-failure' });
    const before = facility.model.coldRoom.temperatureC;
    facility.model.step(3 * 3600);
    expect(facility.model.coldRoom.temperatureC).toBeGreaterThan(before + 5);
    facility.faults.clear(id);
    expect(facility.model.coldRoom.compressorFailed).toBe(false);
  });
});
