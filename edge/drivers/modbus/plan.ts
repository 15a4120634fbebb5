/**
 * Read planning: points are coalesced into as few block reads as the device allows, because on a
 * 9600-baud bus every request costs ~10 ms of framing and turnaround no matter how short it is.
 */
import type { PointSpec } from '../driver.js';
import { isBitTable, registerCount } from './codec.js';
import type { ModbusAddress, ModbusTable } from './schema.js';

/** Protocol limits per request (Modbus application protocol spec, FC 1/2 and 3/4). */
export const MAX_READ_REGISTERS = 125;
export const MAX_READ_BITS = 2000;

export interface PlanOptions {
  /** Registers per request (<= 125). Bit tables use MAX_READ_BITS. */
  readonly maxBlockRegisters: number;
  /** Unused registers that may be read through to merge two points; bit tables allow 16x as many bits. */
  readonly maxGapRegisters: number;
}

export interface PlannedPoint {
  readonly spec: PointSpec<ModbusAddress>;
  /** Index of the point's first register (or bit) inside the block. */
  readonly index: number;
  readonly count: number;
}

export interface ReadBlock {
  readonly table: ModbusTable;
  readonly start: number;
  /** Registers, or bits for coil/discrete. */
  readonly count: number;
  readonly points: readonly PlannedPoint[];
}

function limits(table: ModbusTable, options: PlanOptions): { maxBlock: number; maxGap: number } {
  if (isBitTable(table)) return { maxBlock: MAX_READ_BITS, maxGap: options.maxGapRegisters * 16 };
  return { maxBlock: Math.min(MAX_READ_REGISTERS, Math.max(1, options.maxBlockRegisters)), maxGap: options.maxGapRegisters };
}

/** Builds a block spanning exactly the given points. */
export function blockOf(table: ModbusTable, specs: readonly PointSpec<ModbusAddress>[]): ReadBlock {
  const start = Math.min(...specs.map((s) => s.address.register));
  const end = Math.max(...specs.map((s) => s.address.register + registerCount(s.address)));
  return {
    table,
    start,
    count: end - start,
    points: specs.map((spec) => ({ spec, index: spec.address.register - start, count: registerCount(spec.address) })),
  };
}

const TABLE_ORDER: readonly ModbusTable[] = ['coil', 'discrete', 'holding', 'input'];

/**
 * Groups points per table, sorted by register, and merges neighbours while the gap between them is
 * at most maxGap and the block stays within maxBlock. Overlapping points share a block. A point
 * larger than maxBlock still gets its own block (validation refuses such profiles first).
 */
export function planReads(points: readonly PointSpec<ModbusAddress>[], options: PlanOptions): ReadBlock[] {
  const blocks: ReadBlock[] = [];
  for (const table of TABLE_ORDER) {
    const sorted = points
      .filter((p) => p.address.table === table)
      .sort((a, b) => a.address.register - b.address.register);
    const { maxBlock, maxGap } = limits(table, options);
    let group: PointSpec<ModbusAddress>[] = [];
    let groupStart = 0;
    let groupEnd = 0; // exclusive
    for (const point of sorted) {
      const start = point.address.register;
      const end = start + registerCount(point.address);
      const fits = group.length > 0 && start - groupEnd <= maxGap && Math.max(groupEnd, end) - groupStart <= maxBlock;
      if (fits) {
        group.push(point);
        groupEnd = Math.max(groupEnd, end);
        continue;
      }
      if (group.length > 0) blocks.push(blockOf(table, group));
      group = [point];
      groupStart = start;
      groupEnd = end;
    }
    if (group.length > 0) blocks.push(blockOf(table, group));
  }
  return blocks;
}

/**
 * Splits a block into two tighter blocks by point order (for the retry after an exception reply,
 * so that one bad register ends up marking only its own points bad). Returns undefined when the
 * block holds points at a single location and cannot be narrowed further.
 */
export function splitBlock(block: ReadBlock): [ReadBlock, ReadBlock] | undefined {
  const specs = [...block.points].sort((a, b) => a.index - b.index).map((p) => p.spec);
  const distinctStarts = new Set(specs.map((s) => s.address.register));
  if (distinctStarts.size < 2) return undefined;
  // Split at a register boundary so points at the same register stay together.
  const starts = [...distinctStarts].sort((a, b) => a - b);
  const pivot = starts[Math.floor(starts.length / 2)] ?? 0;
  const left = specs.filter((s) => s.address.register < pivot);
  const right = specs.filter((s) => s.address.register >= pivot);
  return [blockOf(block.table, left), blockOf(block.table, right)];
}
