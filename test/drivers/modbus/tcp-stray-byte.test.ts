/**
 * Modbus TCP after one reply came with a stray trailing byte (a TCP-to-RTU gateway passing line
 * noise through): modbus-serial's MBAP framing is out of step and misses every later reply on that
 * connection, so after two timeouts in a row the link closes it, says why, and the next request
 * reads over a new connection with a clean buffer.
 */
import { describe, expect, it } from 'vitest';
import type { Reading } from '../../../edge/drivers/driver.js';
import type { ModbusDriver } from '../../../edge/drivers/modbus/driver.js';
import { modbusTcpManifest } from '../../../edge/drivers/modbus/manifest.js';
import { capturedLog } from '../../support/captured-log.js';
import { sleep } from '../support.js';
import { point } from './helpers.js';
import { slavePerTest } from './tcp-slave.js';

const fixture = slavePerTest();

describe('Modbus TCP reply stream out of step', () => {
  it('closes the connection after timeouts in a row and reads again over a new one', async () => {
    const s = await fixture.start();
    s.regs[0] = 1234;
    s.tamper = (n, normal) => (n === 2 ? Buffer.concat([normal, Buffer.from([0x00])]) : undefined);
    const { log, lines } = capturedLog<{ msg: string; why?: string }>('info');
    const points = [point('temp', { register: 0 })];
    const d = modbusTcpManifest.create(
      { id: 'dev', protocol: 'modbus-tcp', connection: { host: '127.0.0.1', port: s.port, unitId: 1, timeoutMs: 300, retries: 1, backoffMs: 50, maxBlockRegisters: 125, maxGapRegisters: 8 }, points },
      { log, dataDir: '/tmp' },
    ) as ModbusDriver;
    fixture.driver(d);
    await d.initialize();
    expect((await d.read(points))[0]).toMatchObject({ quality: 'good', value: 1234 });
    expect((await d.read(points))[0]).toMatchObject({ quality: 'good', value: 1234 }); // the reply with the stray byte

    const seen: Reading[] = [];
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && !(seen.length > 0 && seen.at(-1)?.quality === 'good')) {
      seen.push(...(await d.read(points)));
      await sleep(50);
    }
    expect(seen.some((r) => r.cause?.startsWith('SWG_ERR_DEVICE_TIMEOUT'))).toBe(true);
    expect(seen.at(-1)).toMatchObject({ quality: 'good', value: 1234 });
    expect(s.connections).toBe(2);
    const dropped = lines.find((l) => l.msg === 'modbus link dropped; the next request reconnects');
    expect(dropped?.why).toContain('2 requests in a row got no reply');
  });
});
