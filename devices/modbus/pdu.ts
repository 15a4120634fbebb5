/**
 * Modbus PDU handling (function code + data → response PDU) over a ModbusImage, for the RTU
 * slave. Supports FC 1, 2, 3, 4, 5, 6, 15, 16; anything else is "illegal function".
 */
import { ModbusException, type ModbusImage } from './register-map.js';

export function handlePdu(image: ModbusImage, pdu: Buffer): Buffer {
  const fc = pdu[0] ?? 0;
  const need = (n: number): void => {
    if (pdu.length < n) throw new ModbusException(3, `FC${fc} request too short`);
  };
  switch (fc) {
    case 1:
    case 2: {
      need(5);
      const address = pdu.readUInt16BE(1);
      const count = pdu.readUInt16BE(3);
      if (count < 1 || count > 2000) throw new ModbusException(3, `bit count ${count} not in 1..2000`);
      const bits = image.readBits(fc === 1 ? 'coil' : 'discrete', address, count);
      const bytes = Buffer.alloc(Math.ceil(count / 8));
      bits.forEach((b, i) => {
        if (b) bytes[i >> 3] = (bytes[i >> 3] ?? 0) | (1 << (i & 7));
      });
      return Buffer.concat([Buffer.from([fc, bytes.length]), bytes]);
    }
    case 3:
    case 4: {
      need(5);
      const address = pdu.readUInt16BE(1);
      const count = pdu.readUInt16BE(3);
      if (count < 1 || count > 125) throw new ModbusException(3, `register count ${count} not in 1..125`);
      const words = image.readRegisters(fc === 3 ? 'holding' : 'input', address, count);
      const out = Buffer.alloc(2 + count * 2);
      out[0] = fc;
      out[1] = count * 2;
      words.forEach((w, i) => out.writeUInt16BE(w & 0xffff, 2 + i * 2));
      return out;
    }
    case 5: {
      need(5);
      const address = pdu.readUInt16BE(1);
      const value = pdu.readUInt16BE(3);
      if (value !== 0xff00 && value !== 0x0000) throw new ModbusException(3, `coil value must be 0xFF00 or 0x0000`);
      image.writeCoils(address, [value === 0xff00]);
      return Buffer.from(pdu.subarray(0, 5));
    }
    case 6: {
      need(5);
      image.writeRegisters(pdu.readUInt16BE(1), [pdu.readUInt16BE(3)]);
      return Buffer.from(pdu.subarray(0, 5));
    }
    case 15: {
      need(6);
      const address = pdu.readUInt16BE(1);
      const count = pdu.readUInt16BE(3);
      const byteCount = pdu[5] ?? 0;
      if (count < 1 || count > 1968 || byteCount !== Math.ceil(count / 8)) throw new ModbusException(3, 'bad coil count/byte count');
      need(6 + byteCount);
      const values: boolean[] = [];
      for (let i = 0; i < count; i++) values.push((((pdu[6 + (i >> 3)] ?? 0) >> (i & 7)) & 1) === 1);
      image.writeCoils(address, values);
      return Buffer.from(pdu.subarray(0, 5));
    }
    case 16: {
      need(6);
      const address = pdu.readUInt16BE(1);
      const count = pdu.readUInt16BE(3);
      const byteCount = pdu[5] ?? 0;
      if (count < 1 || count > 123 || byteCount !== count * 2) throw new ModbusException(3, 'bad register count/byte count');
      need(6 + byteCount);
      const values: number[] = [];
      for (let i = 0; i < count; i++) values.push(pdu.readUInt16BE(6 + i * 2));
      image.writeRegisters(address, values);
      return Buffer.from(pdu.subarray(0, 5));
    }
    default:
      throw new ModbusException(1, `function code ${fc} is not supported`);
  }
}

/** The address span a request touches (for exception faults bound to a register). */
export function requestSpan(pdu: Buffer): { address: number; count: number } {
  const fc = pdu[0] ?? 0;
  if (pdu.length < 5) return { address: 0, count: 0 };
  const address = pdu.readUInt16BE(1);
  if (fc === 5 || fc === 6) return { address, count: 1 };
  return { address, count: pdu.readUInt16BE(3) };
}

export function exceptionPdu(fc: number, code: number): Buffer {
  return Buffer.from([(fc | 0x80) & 0xff, code & 0xff]);
}
