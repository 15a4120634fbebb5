/**
 * Modbus TCP after the device resets the connection (RST: a PLC rebooting, a NAT or firewall in
 * between): the next request counts the connection as dropped and reconnects, although
 * modbus-serial reports the reset to nobody (its TCP port only marks itself not open). And the
 * library's own "Port Not Open" error, a plain object, reads as "not connected", not "[object Object]".
 */
import ModbusSerial from 'modbus-serial';
import type { ModbusRTU } from 'modbus-serial/ModbusRTU.js';
import { describe, expect, it } from 'vitest';
import type { Reading } from '../../../edge/drivers/driver.js';
import { toModbusError } from '../../../edge/drivers/modbus/errors.js';
import { sleep } from '../support.js';
import { point, tcpDriver } from './helpers.js';
import { slavePerTest } from './tcp-slave.js';

const fixture = slavePerTest();

describe('Modbus TCP connection reset by the device', () => {
  it('reconnects on a later request and reads again; no reading says [object Object]', async () => {
    const s = await fixture.start();
    s.regs[0] = 1234;
    const points = [point('temp', { register: 0 })];
    const d = tcpDriver({ host: '127.0.0.1', port: s.port, timeoutMs: 300, retries: 0, backoffMs: 50 }, points);
    fixture.driver(d);
    await d.initialize();
    expect((await d.read(points))[0]).toMatchObject({ quality: 'good', value: 1234 });

    s.resetAll();
    // Polls go on as the runner's would; with the old link every later one failed "Port Not Open".
    const seen: Reading[] = [];
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && seen.at(-1)?.quality !== 'good') {
      seen.push(...(await d.read(points)));
      if (seen.at(-1)?.quality !== 'good') await sleep(50);
    }
    expect(seen.at(-1)).toMatchObject({ quality: 'good', value: 1234 });
    expect(s.connections).toBe(2);
    expect(seen.filter((r) => String(r.cause).includes('[object Object]'))).toEqual([]);
  });

  it("modbus-serial's PortNotOpenError (not an Error) is SWG_ERR_DEVICE_NOT_CONNECTED with its own words", async () => {
    type ClientClass = new () => ModbusRTU;
    const Client = ((ModbusSerial as unknown as { default?: ClientClass }).default ?? ModbusSerial) as unknown as ClientClass;
    const thrown = await new Client().readHoldingRegisters(0, 1).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(thrown).toBeDefined();
    expect(thrown instanceof Error).toBe(false);
    const error = toModbusError(thrown, 'reading holding 0..0 of unit 1 on tcp 127.0.0.1:502');
    expect(error.code).toBe('SWG_ERR_DEVICE_NOT_CONNECTED');
    expect(error.message).toBe('not connected reading holding 0..0 of unit 1 on tcp 127.0.0.1:502');
  });
});
