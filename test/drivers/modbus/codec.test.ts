import { describe, expect, it } from 'vitest';
import { isSwarmgateError } from '../../../shared/kit/errors.js';
import { decodeRegisters, decodeRegistersAt, encodeRegisters, registerCount, setBit, toRawNumber } from '../../../edge/drivers/modbus/codec.js';
import type { ModbusAddress } from '../../../edge/drivers/modbus/schema.js';

const unscaled = { scale: 1, offset: 0 };

function addr(type: ModbusAddress['type'], extra: Partial<ModbusAddress> = {}): ModbusAddress {
  return { table: 'holding', register: 0, type, ...extra };
}

describe('codec: known vectors (big-endian bytes and words)', () => {
  const rows: [ModbusAddress['type'], number[], number | string | boolean][] = [
    ['int16', [0xff85], -123],
    ['int16', [0x8000], -32768],
    ['uint16', [0xffff], 65535],
    ['int32', [0xfffe, 0x7960], -100000],
    ['int32', [0x8000, 0x0000], -2147483648],
    ['uint32', [0xb2d0, 0x5e00], 3000000000],
    ['float32', [0x41ac, 0x0000], 21.5],
    ['float32', [0xc221, 0x0000], -40.25],
    ['float32', [0x3f80, 0x0000], 1],
    ['float64', [0x4093, 0x4a45, 0x6d5c, 0xfaad], 1234.5678],
    ['float64', [0x3ff0, 0, 0, 0], 1],
    ['float64', [0xc000, 0, 0, 0], -2],
  ];
  it.each(rows)('%s %j <-> %s', (type, words, value) => {
    const a = addr(type);
    expect(decodeRegisters(a, words, unscaled)).toBe(value);
    expect(encodeRegisters(a, value, unscaled)).toEqual(words);
  });

  it('strings: register order, ended by a NUL, trailing spaces trimmed, padded with NULs on write', () => {
    const a = addr('string', { length: 4 });
    const words = [0x5357, 0x472d, 0x5445, 0x5354];
    expect(decodeRegisters(a, words, unscaled)).toBe('SWG-TEST');
    expect(decodeRegisters(a, [0x4142, 0x4300, 0, 0], unscaled)).toBe('ABC');
    // A NUL ends the text, as in the C strings devices keep: what follows it is stale bytes.
    expect(decodeRegisters(a, [0x4142, 0x0044, 0x4546, 0x2020], unscaled)).toBe('AB');
    expect(encodeRegisters(a, 'ABC', unscaled)).toEqual([0x4142, 0x4300, 0, 0]);
    expect(decodeRegisters({ ...a, byteOrder: 'little' }, [0x4241, 0x0043, 0, 0], unscaled)).toBe('ABC');
    expect(() => encodeRegisters(a, 'too long for it', unscaled)).toThrow(/longer than 8/);
  });

  it('register counts per type', () => {
    expect(registerCount(addr('int16'))).toBe(1);
    expect(registerCount(addr('float32'))).toBe(2);
    expect(registerCount(addr('float64'))).toBe(4);
    expect(registerCount(addr('string', { length: 5 }))).toBe(5);
    expect(registerCount({ table: 'coil', type: 'bool' })).toBe(1);
  });
});

describe('codec: the four byte/word order combinations', () => {
  const combos: [ModbusAddress['byteOrder'], ModbusAddress['wordOrder'], number[], number[]][] = [
    ['big', 'big', [0x1122, 0x3344], [0x41ac, 0x0000]],
    ['little', 'big', [0x2211, 0x4433], [0xac41, 0x0000]],
    ['big', 'little', [0x3344, 0x1122], [0x0000, 0x41ac]],
    ['little', 'little', [0x4433, 0x2211], [0x0000, 0xac41]],
  ];
  it.each(combos)('byteOrder %s, wordOrder %s', (byteOrder, wordOrder, uintWords, floatWords) => {
    const u = addr('uint32', { byteOrder, wordOrder });
    expect(decodeRegisters(u, uintWords, unscaled)).toBe(0x11223344);
    expect(encodeRegisters(u, 0x11223344, unscaled)).toEqual(uintWords);
    const f = addr('float32', { byteOrder, wordOrder });
    expect(decodeRegisters(f, floatWords, unscaled)).toBe(21.5);
    expect(encodeRegisters(f, 21.5, unscaled)).toEqual(floatWords);
    const i = addr('int32', { byteOrder, wordOrder });
    expect(decodeRegisters(i, encodeRegisters(i, -100000, unscaled), unscaled)).toBe(-100000);
    const d = addr('float64', { byteOrder, wordOrder });
    expect(decodeRegisters(d, encodeRegisters(d, -1234.5678, unscaled), unscaled)).toBe(-1234.5678);
  });

  it('float64 with little word order reverses all four registers', () => {
    const d = addr('float64', { wordOrder: 'little' });
    expect(encodeRegisters(d, 1234.5678, unscaled)).toEqual([0xfaad, 0x6d5c, 0x4a45, 0x4093]);
  });

  it('int16 with little byte order', () => {
    expect(decodeRegisters(addr('int16', { byteOrder: 'little' }), [0x85ff], unscaled)).toBe(-123);
  });
});

describe('codec: scale and offset', () => {
  it('engineering = raw * scale + offset, without float noise', () => {
    expect(decodeRegisters(addr('int16'), [0xff85], { scale: 0.1, offset: 0 })).toBe(-12.3);
    expect(decodeRegisters(addr('uint16'), [3], { scale: 0.1, offset: 0 })).toBe(0.3);
    expect(decodeRegisters(addr('uint16'), [500], { scale: 0.1, offset: -40 })).toBe(10);
  });

  it('writes invert scaling and round integer types', () => {
    expect(encodeRegisters(addr('int16'), -12.3, { scale: 0.1, offset: 0 })).toEqual([0xff85]);
    expect(encodeRegisters(addr('uint16'), 10, { scale: 0.1, offset: -40 })).toEqual([500]);
    expect(toRawNumber(addr('uint16'), 10.04, { scale: 0.1, offset: 0 })).toBe(100);
    expect(toRawNumber(addr('float32'), 10, { scale: 0.5, offset: 1 })).toBe(18);
  });

  it.each([
    ['uint16', -1],
    ['uint16', 65536],
    ['int16', 32768],
    ['int32', 2 ** 31],
    ['uint32', -0.6],
    ['float32', 1e39],
  ] as const)('refuses %s value %s with SWG_ERR_POINT_TYPE', (type, value) => {
    try {
      encodeRegisters(addr(type), value, unscaled);
      expect.unreachable();
    } catch (err) {
      expect(isSwarmgateError(err, 'SWG_ERR_POINT_TYPE')).toBe(true);
    }
  });

  it('refuses wrong JS types', () => {
    expect(() => encodeRegisters(addr('uint16'), 'x', unscaled)).toThrow(/finite number/);
    expect(() => encodeRegisters(addr('float32'), Number.NaN, unscaled)).toThrow(/finite number/);
    expect(() => encodeRegisters(addr('string', { length: 2 }), 5, unscaled)).toThrow(/expected a string/);
  });
});

describe('codec: bits in registers', () => {
  it('decodes a bit of a register', () => {
    expect(decodeRegisters(addr('bool', { bit: 0 }), [0b101], unscaled)).toBe(true);
    expect(decodeRegisters(addr('bool', { bit: 1 }), [0b101], unscaled)).toBe(false);
    expect(decodeRegisters(addr('bool', { bit: 15 }), [0x8000], unscaled)).toBe(true);
    expect(decodeRegisters(addr('bool', { bit: 0, byteOrder: 'little' }), [0x0100], unscaled)).toBe(true);
  });

  it('sets and clears one bit, keeping the others', () => {
    expect(setBit(addr('bool', { bit: 1 }), 0b101, true)).toBe(0b111);
    expect(setBit(addr('bool', { bit: 2 }), 0b101, false)).toBe(0b001);
    expect(setBit(addr('bool', { bit: 15 }), 0, 1)).toBe(0x8000);
    expect(setBit(addr('bool', { bit: 0, byteOrder: 'little' }), 0, true)).toBe(0x0100);
    expect(() => setBit(addr('bool', { bit: 0 }), 0, 2)).toThrow(/true\/false/);
  });
});

describe('codec: decoding inside a block reply', () => {
  it('decodeRegistersAt reads at an offset, every order, without copying the block', () => {
    const orders: Partial<ModbusAddress>[] = [{}, { byteOrder: 'little' }, { wordOrder: 'little' }, { byteOrder: 'little', wordOrder: 'little' }];
    for (const order of orders) {
      for (const [type, value] of [['int16', -5], ['uint32', 0x11223344], ['float32', 21.5], ['float64', -1234.5678], ['int32', -100000]] as const) {
        const a = addr(type, order);
        const block = [0xdead, 0xbeef, ...encodeRegisters(a, value, unscaled), 0xffff];
        expect(decodeRegistersAt(a, block, 2, unscaled)).toBe(value);
      }
      const s = addr('string', { ...order, length: 3 });
      expect(decodeRegistersAt(s, [0x2020, ...encodeRegisters(s, 'AB C', unscaled), 0x4142], 1, unscaled)).toBe('AB C');
    }
  });

  it('a reply too short for the point is an error naming what is missing', () => {
    expect(() => decodeRegistersAt(addr('float64'), [1, 2, 3, 4, 5], 2, unscaled)).toThrow(/needs 4 registers, got 3/);
    expect(() => decodeRegistersAt(addr('uint16'), [1], 3, unscaled)).toThrow(/needs 1 registers, got 0/);
  });
});
