/**
 * Converting values to and from 16-bit Modbus registers for every data type the profiles use,
 * honouring byte order (within a register) and word order (between registers).
 */

export type RegisterType = 'bool' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'float32' | 'float64' | 'string';
export type Order = 'big' | 'little';

export function registerCount(type: RegisterType, length?: number): number {
  switch (type) {
    case 'bool':
    case 'int16':
    case 'uint16':
      return 1;
    case 'int32':
    case 'uint32':
    case 'float32':
      return 2;
    case 'float64':
      return 4;
    case 'string':
      return length ?? 1;
  }
}

/** Big-endian bytes of the value (before any word/byte reordering). */
function toBytes(type: RegisterType, raw: number | boolean | string, length: number): Buffer {
  const b = Buffer.alloc(registerCount(type, length) * 2);
  switch (type) {
    case 'bool':
      b.writeUInt16BE(raw ? 1 : 0);
      break;
    case 'int16':
      b.writeInt16BE(clampInt(Number(raw), -32768, 32767));
      break;
    case 'uint16':
      b.writeUInt16BE(clampInt(Number(raw), 0, 65535));
      break;
    case 'int32':
      b.writeInt32BE(clampInt(Number(raw), -2147483648, 2147483647));
      break;
    case 'uint32':
      b.writeUInt32BE(clampInt(Number(raw), 0, 4294967295));
      break;
    case 'float32':
      b.writeFloatBE(Number(raw));
      break;
    case 'float64':
      b.writeDoubleBE(Number(raw));
      break;
    case 'string':
      b.write(String(raw).slice(0, b.length), 'latin1');
      break;
  }
  return b;
}

function clampInt(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, Math.round(v)));
}

export function encodeRegisters(type: RegisterType, raw: number | boolean | string, opts: { byteOrder?: Order; wordOrder?: Order; length?: number } = {}): number[] {
  const bytes = toBytes(type, raw, opts.length ?? 1);
  const words: number[] = [];
  for (let i = 0; i < bytes.length; i += 2) words.push(bytes.readUInt16BE(i));
  return reorder(words, type, opts);
}

export function decodeRegisters(type: RegisterType, words: readonly number[], opts: { byteOrder?: Order; wordOrder?: Order } = {}): number | boolean | string {
  // Reordering is its own inverse (a reverse and a byte swap).
  const ordered = reorder([...words], type, opts);
  const b = Buffer.alloc(ordered.length * 2);
  ordered.forEach((w, i) => b.writeUInt16BE(w & 0xffff, i * 2));
  switch (type) {
    case 'bool':
      return b.readUInt16BE(0) !== 0;
    case 'int16':
      return b.readInt16BE(0);
    case 'uint16':
      return b.readUInt16BE(0);
    case 'int32':
      return b.readInt32BE(0);
    case 'uint32':
      return b.readUInt32BE(0);
    case 'float32':
      return b.readFloatBE(0);
    case 'float64':
      return b.readDoubleBE(0);
    case 'string':
      return b.toString('latin1').replace(/\0+$/, '');
  }
}

function reorder(words: number[], type: RegisterType, opts: { byteOrder?: Order; wordOrder?: Order }): number[] {
  let out = words;
  // Word order applies to multi-register numbers; strings are always in reading order.
  if (opts.wordOrder === 'little' && type !== 'string') out = out.reverse();
  if (opts.byteOrder === 'little') out = out.map((w) => ((w & 0xff) << 8) | (w >> 8));
  return out;
}
