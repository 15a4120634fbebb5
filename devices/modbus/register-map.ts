/**
 * A declarative Modbus register map: each point says where it lives, its data type and how to
 * get/set its engineering value. The same list serves requests (ModbusImage) and generates the
 * device profile YAML, so the two cannot disagree.
 */
import { decodeRegisters, encodeRegisters, registerCount, type Order, type RegisterType } from './codec.js';

export type Table = 'coil' | 'discrete' | 'holding' | 'input';

export interface RegisterPoint {
  readonly name: string;
  readonly description: string;
  readonly unit?: string;
  readonly table: Table;
  readonly register: number;
  readonly type: RegisterType;
  readonly wordOrder?: Order;
  readonly byteOrder?: Order;
  /** Registers (string type only). */
  readonly length?: number;
  /** Bool taken from one bit of a holding/input register. */
  readonly bit?: number;
  /** engineering = raw * scale (numeric types). */
  readonly scale?: number;
  readonly limits?: { readonly min: number; readonly max: number };
  readonly deadband?: number;
  /** Engineering value now. */
  readonly get: () => number | boolean | string;
  /** Present = writable; receives the engineering value. */
  readonly set?: (value: number | boolean) => void;
}

/** A Modbus exception to answer with (code 1 illegal function, 2 illegal address, 3 illegal value, 4 failure...). */
export class ModbusException extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'ModbusException';
  }
}

export interface ModbusImage {
  readBits(table: 'coil' | 'discrete', address: number, count: number): boolean[];
  readRegisters(table: 'holding' | 'input', address: number, count: number): number[];
  writeCoils(address: number, values: readonly boolean[]): void;
  writeRegisters(address: number, values: readonly number[]): void;
}

function span(p: RegisterPoint): number {
  return p.table === 'coil' || p.table === 'discrete' || p.bit !== undefined ? 1 : registerCount(p.type, p.length);
}

function rawOf(p: RegisterPoint): number | boolean | string {
  const v = p.get();
  return typeof v === 'number' ? v / (p.scale ?? 1) : v;
}

export function createImage(points: readonly RegisterPoint[]): ModbusImage {
  const byTable = (t: Table) => points.filter((p) => p.table === t);
  // Addresses up to the highest mapped one read as 0 when unmapped (so drivers can read through
  // small gaps); beyond it the device answers "illegal data address".
  const top = (t: Table): number => Math.max(-1, ...byTable(t).map((p) => p.register + span(p) - 1));

  const checkRange = (t: Table, address: number, count: number): void => {
    if (count < 1 || address + count - 1 > top(t)) {
      throw new ModbusException(2, `${t} ${address}..${address + count - 1} is outside the map (last ${top(t)})`);
    }
  };

  return {
    readBits(table, address, count) {
      checkRange(table, address, count);
      const out = new Array<boolean>(count).fill(false);
      for (const p of byTable(table)) {
        const i = p.register - address;
        if (i >= 0 && i < count) out[i] = Boolean(p.get());
      }
      return out;
    },
    readRegisters(table, address, count) {
      checkRange(table, address, count);
      const out = new Array<number>(count).fill(0);
      for (const p of byTable(table)) {
        const n = span(p);
        if (p.register + n <= address || p.register >= address + count) continue;
        const words = p.bit !== undefined ? [p.get() ? 1 << p.bit : 0] : encodeRegisters(p.type, rawOf(p), p);
        words.forEach((w, k) => {
          const i = p.register + k - address;
          if (i >= 0 && i < count) out[i] = p.bit !== undefined ? (out[i] ?? 0) | w : w;
        });
      }
      return out;
    },
    writeCoils(address, values) {
      values.forEach((v, k) => {
        const p = byTable('coil').find((q) => q.register === address + k);
        if (!p?.set) throw new ModbusException(2, `coil ${address + k} is not writable`);
      });
      values.forEach((v, k) => byTable('coil').find((q) => q.register === address + k)?.set?.(v));
    },
    writeRegisters(address, values) {
      const end = address + values.length;
      const targets = byTable('holding').filter((p) => p.register < end && p.register + span(p) > address);
      for (let a = address; a < end; a++) {
        const p = targets.find((q) => a >= q.register && a < q.register + span(q));
        if (!p?.set || p.bit !== undefined) throw new ModbusException(2, `holding ${a} is not writable`);
        if (p.register < address || p.register + span(p) > end) throw new ModbusException(3, `write must cover all ${span(p)} registers of ${p.name}`);
      }
      for (const p of targets) {
        const raw = decodeRegisters(p.type, values.slice(p.register - address, p.register - address + span(p)), p);
        if (typeof raw === 'string') continue;
        const eng = typeof raw === 'number' ? raw * (p.scale ?? 1) : raw;
        if (typeof eng === 'number' && p.limits && (eng < p.limits.min || eng > p.limits.max)) {
          throw new ModbusException(3, `${p.name} value ${eng} outside ${p.limits.min}..${p.limits.max}`);
        }
        p.set?.(eng);
      }
    },
  };
}
