/**
 * Bool points that are bits of one holding register (a control word), written at the same time
 * (two rules firing on one sample, a hub command while a rule writes): each write reads the word,
 * sets its bit and writes the word back, and none may put back a word read before another's write.
 */
import { describe, expect, it } from 'vitest';
import { point, tcpDriver } from './helpers.js';
import { slavePerTest } from './tcp-slave.js';

const fixture = slavePerTest();

describe('Modbus bits of one holding register written at once', () => {
  it('keeps every bit each write set or cleared', async () => {
    const s = await fixture.start();
    const bits = Array.from({ length: 8 }, (_, b) => point(`bit${b}`, { register: 5, type: 'bool', bit: b }, { writable: true }));
    const other = point('other', { register: 6, type: 'bool', bit: 0 }, { writable: true });
    const d = tcpDriver({ host: '127.0.0.1', port: s.port, timeoutMs: 1000, retries: 0 }, [...bits, other]);
    fixture.driver(d);
    await d.initialize();
    s.regs[5] = 0x0100; // a bit no point writes stays as it is

    await Promise.all([...bits.map((p) => d.write(p, true)), d.write(other, true)]);
    expect(s.regs[5]).toBe(0x01ff);
    expect(s.regs[6]).toBe(1);

    await Promise.all(bits.slice(0, 4).map((p) => d.write(p, false)));
    expect(s.regs[5]).toBe(0x01f0);
    const readings = await d.read(bits);
    expect(readings.map((r) => r.value)).toEqual([false, false, false, false, true, true, true, true]);
  });
});
