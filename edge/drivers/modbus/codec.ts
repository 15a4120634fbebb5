/**
 * Register words <-> engineering values. Pure functions, no I/O.
 *
 * Byte/word order: words are first put into "most significant word first" order (wordOrder
 * little = the device sends the low word first), then each word's two bytes are swapped when
 * byteOrder is little. The result is one big-endian byte string that DataView reads directly.
 * Strings follow register order (wordOrder does not apply) and byteOrder says which byte of a
 * register holds the first character.
 */
import { SwarmgateError } from '../../../shared/kit/errors.js';
import type { PointValue } from '../driver.js';
import type { ModbusAddress, ModbusDataType } from './schema.js';

const WORDS: Record<Exclude<ModbusDataType, 'string' | 'bool'>, number> = {
  int16: 1,
  uint16: 1,
  int32: 2,
  uint32: 2,
  float32: 2,
  float64: 4,
};

const INTEGER_RANGE: Record<'int16' | 'uint16' | 'int32' | 'uint32', readonly [number, number]> = {
  int16: [-0x8000, 0x7fff],
  uint16: [0, 0xffff],
  int32: [-0x80000000, 0x7fffffff],
  uint32: [0, 0xffffffff],
};

const FLOAT32_MAX = 3.4028234663852886e38;

export function isBitTable(table: ModbusAddress['table']): boolean {
  return table === 'coil' || table === 'discrete';
}

/** How many registers (or bits, on coil/discrete tables) a point occupies. */
export function registerCount(address: Pick<ModbusAddress, 'table' | 'type' | 'length'>): number {
  if (isBitTable(address.table) || address.type === 'bool') return 1;
  if (address.type === 'string') return address.length ?? 1;
  return WORDS[address.type];
}

export interface Scaling {
  readonly scale: number;
  readonly offset: number;
}

function fromBytes(view: DataView, address: ModbusAddress): number[] {
  const words: number[] = [];
  for (let i = 0; i < view.byteLength; i += 2) {
    const a = view.getUint8(i);
    const b = view.getUint8(i + 1);
    words.push(address.byteOrder === 'little' ? (b << 8) | a : (a << 8) | b);
  }
  return address.type !== 'string' && address.wordOrder === 'little' ? words.reverse() : words;
}

/** Scratch space for the multi-register types: decoding runs on every poll, so it allocates nothing. */
const SCRATCH = new DataView(new ArrayBuffer(8));

/** One register as a big-endian word (the device's byte order undone). */
function wordAt(address: ModbusAddress, words: readonly number[], i: number): number {
  const word = (words[i] ?? 0) & 0xffff;
  return address.byteOrder === 'little' ? ((word & 0xff) << 8) | (word >> 8) : word;
}

/** Puts `count` registers from `index` into SCRATCH, most significant word first. */
function fillScratch(address: ModbusAddress, words: readonly number[], index: number, count: number): DataView {
  const reversed = address.wordOrder === 'little';
  for (let i = 0; i < count; i++) SCRATCH.setUint16(i * 2, wordAt(address, words, reversed ? index + count - 1 - i : index + i));
  return SCRATCH;
}

/** Byte b of the registers from words[index], in register order (strings ignore wordOrder). */
function stringByte(address: ModbusAddress, words: readonly number[], index: number, b: number): number {
  const word = wordAt(address, words, index + (b >> 1));
  return b & 1 ? word & 0xff : word >> 8;
}

function decodeString(address: ModbusAddress, words: readonly number[], index: number, count: number): string {
  // Latin-1: one byte is one character; a NUL ends the text (C strings), trailing spaces are padding.
  let end = 0;
  while (end < count * 2 && stringByte(address, words, index, end) !== 0) end++;
  while (end > 0) {
    const last = stringByte(address, words, index, end - 1);
    if (last !== 0 && last !== 0x20) break;
    end--;
  }
  let text = '';
  for (let b = 0; b < end; b++) text += String.fromCharCode(stringByte(address, words, index, b));
  return text;
}

/**
 * The point's registers starting at words[index] -> raw value (before scale/offset), without
 * copying the block.
 */
export function decodeRawAt(address: ModbusAddress, words: readonly number[], index: number): number | boolean | string {
  const need = registerCount(address);
  const available = words.length - index;
  if (available < need) {
    throw new SwarmgateError('SWG_ERR_INTERNAL', `decoding ${address.type} needs ${need} registers, got ${Math.max(0, available)}`);
  }
  switch (address.type) {
    case 'bool':
      return ((wordAt(address, words, index) >> (address.bit ?? 0)) & 1) === 1;
    case 'int16': {
      const word = wordAt(address, words, index);
      return word & 0x8000 ? word - 0x10000 : word;
    }
    case 'uint16':
      return wordAt(address, words, index);
    case 'int32':
      return fillScratch(address, words, index, 2).getInt32(0);
    case 'uint32':
      return fillScratch(address, words, index, 2).getUint32(0);
    case 'float32':
      return fillScratch(address, words, index, 2).getFloat32(0);
    case 'float64':
      return fillScratch(address, words, index, 4).getFloat64(0);
    case 'string':
      return decodeString(address, words, index, need);
  }
}

/** Register words as the device sent them -> raw value (before scale/offset). */
export function decodeRaw(address: ModbusAddress, words: readonly number[]): number | boolean | string {
  return decodeRawAt(address, words, 0);
}

/**
 * Float noise from scaling (0.1 * 3 = 0.30000000000000004) is trimmed to 15 significant digits;
 * unscaled values are left untouched so float64 registers keep full precision.
 */
function applyScaling(raw: number, scaling: Scaling): number {
  if (scaling.scale === 1 && scaling.offset === 0) return raw;
  return Number((raw * scaling.scale + scaling.offset).toPrecision(15));
}

/** Register words -> engineering value (scale/offset applied to numeric types). */
export function decodeRegisters(address: ModbusAddress, words: readonly number[], scaling: Scaling): PointValue {
  return decodeRegistersAt(address, words, 0, scaling);
}

/** Like decodeRegisters, for the point whose first register is words[index] of a block reply. */
export function decodeRegistersAt(address: ModbusAddress, words: readonly number[], index: number, scaling: Scaling): PointValue {
  const raw = decodeRawAt(address, words, index);
  return typeof raw === 'number' ? applyScaling(raw, scaling) : raw;
}

function typeError(address: ModbusAddress, value: unknown, why: string): SwarmgateError {
  return new SwarmgateError('SWG_ERR_POINT_TYPE', `cannot write ${JSON.stringify(value)} to a ${address.type} point: ${why}`, {
    details: { type: address.type },
  });
}

/** Engineering value -> raw number, inverting scale/offset; integers are rounded and range-checked. */
export function toRawNumber(address: ModbusAddress, value: PointValue, scaling: Scaling): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw typeError(address, value, 'expected a finite number');
  if (scaling.scale === 0) throw typeError(address, value, 'the point scale is 0, so it cannot be written');
  const raw = (value - scaling.offset) / scaling.scale;
  if (address.type === 'float64') return raw;
  if (address.type === 'float32') {
    if (Math.abs(raw) > FLOAT32_MAX) throw typeError(address, value, 'outside the float32 range');
    return raw;
  }
  const range = INTEGER_RANGE[address.type as keyof typeof INTEGER_RANGE];
  const rounded = Math.round(raw);
  if (rounded < range[0] || rounded > range[1]) {
    throw typeError(address, value, `raw value ${rounded} is outside ${range[0]}..${range[1]}`);
  }
  return rounded;
}

export function toBool(address: ModbusAddress, value: PointValue): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 0 || value === 1) return value === 1;
  throw typeError(address, value, 'expected true/false (or 0/1)');
}

/**
 * Engineering value -> register words in device order, for holding-register points other than
 * bit-in-register bools (those need the current register, see setBit).
 */
export function encodeRegisters(address: ModbusAddress, value: PointValue, scaling: Scaling): number[] {
  const count = registerCount(address);
  const view = new DataView(new ArrayBuffer(count * 2));
  switch (address.type) {
    case 'bool':
      throw new SwarmgateError('SWG_ERR_INTERNAL', 'bit-in-register bools are written with setBit()');
    case 'string': {
      if (typeof value !== 'string') throw typeError(address, value, 'expected a string');
      if (value.length > count * 2) throw typeError(address, value, `longer than ${count * 2} characters`);
      for (let i = 0; i < value.length; i++) {
        const code = value.charCodeAt(i);
        if (code > 0xff) throw typeError(address, value, 'only Latin-1 characters fit in registers');
        view.setUint8(i, code);
      }
      break;
    }
    case 'int16':
      view.setInt16(0, toRawNumber(address, value, scaling));
      break;
    case 'uint16':
      view.setUint16(0, toRawNumber(address, value, scaling));
      break;
    case 'int32':
      view.setInt32(0, toRawNumber(address, value, scaling));
      break;
    case 'uint32':
      view.setUint32(0, toRawNumber(address, value, scaling));
      break;
    case 'float32':
      view.setFloat32(0, toRawNumber(address, value, scaling));
      break;
    case 'float64':
      view.setFloat64(0, toRawNumber(address, value, scaling));
      break;
  }
  return fromBytes(view, address);
}

function swapBytes(word: number): number {
  return ((word & 0xff) << 8) | ((word >> 8) & 0xff);
}

/** Returns the register word (as the device holds it) with the point's bit set or cleared. */
export function setBit(address: ModbusAddress, currentWord: number, value: PointValue): number {
  const on = toBool(address, value);
  const little = address.byteOrder === 'little';
  const logical = little ? swapBytes(currentWord) : currentWord;
  const mask = 1 << (address.bit ?? 0);
  const next = on ? logical | mask : logical & ~mask & 0xffff;
  return little ? swapBytes(next) : next;
}
