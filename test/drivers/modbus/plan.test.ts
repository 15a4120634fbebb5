import { describe, expect, it } from 'vitest';
import type { PointSpec } from '../../../edge/drivers/driver.js';
import { planReads, splitBlock } from '../../../edge/drivers/modbus/plan.js';
import { PollPlanCache } from '../../../edge/drivers/modbus/poll-plan.js';
import type { ModbusAddress } from '../../../edge/drivers/modbus/schema.js';

function point(name: string, address: Partial<ModbusAddress> & Pick<ModbusAddress, 'register'>): PointSpec<ModbusAddress> {
  return {
    name,
    address: { table: 'holding', type: 'uint16', ...address },
    writable: false,
    scale: 1,
    offset: 0,
    deadband: 0,
    pollIntervalMs: 1000,
  };
}

const opts = { maxBlockRegisters: 125, maxGapRegisters: 8 };
const spans = (blocks: ReturnType<typeof planReads>) => blocks.map((b) => [b.table, b.start, b.count, b.points.map((p) => p.spec.name)]);

describe('planReads', () => {
  it('merges adjacent and near registers, splits at gaps larger than maxGap', () => {
    const points = [point('a', { register: 0 }), point('b', { register: 1, type: 'float32' }), point('c', { register: 11 }), point('d', { register: 21 })];
    expect(spans(planReads(points, opts))).toEqual([['holding', 0, 12, ['a', 'b', 'c']], ['holding', 21, 1, ['d']]]);
  });

  it('gap exactly maxGap merges; maxGap + 1 does not', () => {
    expect(planReads([point('a', { register: 0 }), point('b', { register: 9 })], opts)).toHaveLength(1);
    expect(planReads([point('a', { register: 0 }), point('b', { register: 10 })], opts)).toHaveLength(2);
    expect(planReads([point('a', { register: 0 }), point('b', { register: 1 })], { ...opts, maxGapRegisters: 0 })).toHaveLength(1);
  });

  it('never exceeds maxBlockRegisters (and 125 even if configured higher)', () => {
    const many = Array.from({ length: 300 }, (_, i) => point(`p${i}`, { register: i }));
    const blocks = planReads(many, opts);
    expect(blocks.map((b) => b.count)).toEqual([125, 125, 50]);
    expect(planReads(many, { maxBlockRegisters: 500, maxGapRegisters: 8 }).every((b) => b.count <= 125)).toBe(true);
    expect(planReads(many, { maxBlockRegisters: 10, maxGapRegisters: 8 })).toHaveLength(30);
    // A float32 straddling the limit starts a new block instead of being cut.
    const f = planReads([point('a', { register: 0, type: 'float32' }), point('b', { register: 2, type: 'float32' })], { maxBlockRegisters: 3, maxGapRegisters: 8 });
    expect(spans(f)).toEqual([['holding', 0, 2, ['a']], ['holding', 2, 2, ['b']]]);
  });

  it('keeps tables apart and sorts registers', () => {
    const points = [
      point('h', { register: 5 }),
      point('i', { table: 'input', register: 5 }),
      point('c', { table: 'coil', register: 3, type: 'bool' }),
      point('h0', { register: 0 }),
      point('d', { table: 'discrete', register: 1, type: 'bool' }),
    ];
    expect(spans(planReads(points, opts))).toEqual([
      ['coil', 3, 1, ['c']],
      ['discrete', 1, 1, ['d']],
      ['holding', 0, 6, ['h0', 'h']],
      ['input', 5, 1, ['i']],
    ]);
  });

  it('bit tables: up to 2000 bits per block, gaps of 16 x maxGap bits', () => {
    const coils = Array.from({ length: 2500 }, (_, i) => point(`c${i}`, { table: 'coil', register: i, type: 'bool' }));
    expect(planReads(coils, opts).map((b) => b.count)).toEqual([2000, 500]);
    expect(planReads([point('a', { table: 'coil', register: 0, type: 'bool' }), point('b', { table: 'coil', register: 129, type: 'bool' })], opts)).toHaveLength(1);
    expect(planReads([point('a', { table: 'coil', register: 0, type: 'bool' }), point('b', { table: 'coil', register: 130, type: 'bool' })], opts)).toHaveLength(2);
  });

  it('points sharing a register (bits, overlaps) share a block with correct indexes', () => {
    const points = [point('b0', { register: 16, type: 'bool', bit: 0 }), point('b2', { register: 16, type: 'bool', bit: 2 }), point('s', { register: 12, type: 'string', length: 4 })];
    const [block] = planReads(points, opts);
    expect(block?.start).toBe(12);
    expect(block?.count).toBe(5);
    expect(block?.points.map((p) => [p.spec.name, p.index, p.count])).toEqual([['s', 0, 4], ['b0', 4, 1], ['b2', 4, 1]]);
  });

  it('empty input plans nothing', () => {
    expect(planReads([], opts)).toEqual([]);
  });
});

describe('splitBlock', () => {
  it('bisects by register until a single location is left', () => {
    const [block] = planReads([0, 1, 2, 3, 4].map((r) => point(`p${r}`, { register: r })), opts);
    if (!block) throw new Error('no block');
    const halves = splitBlock(block);
    expect(halves?.map((b) => [b.start, b.count])).toEqual([[0, 2], [2, 3]]);
    const single = planReads([point('x', { register: 7, type: 'bool', bit: 1 }), point('y', { register: 7, type: 'bool', bit: 2 })], opts)[0];
    if (!single) throw new Error('no block');
    expect(splitBlock(single)).toBeUndefined();
  });

  it('keeps a multi-register point whole', () => {
    const [block] = planReads([point('f', { register: 0, type: 'float64' }), point('g', { register: 4 })], opts);
    if (!block) throw new Error('no block');
    expect(splitBlock(block)?.map((b) => [b.start, b.count])).toEqual([[0, 4], [4, 1]]);
  });
});

describe('PollPlanCache', () => {
  it('plans once per points array, replans for a new or resized array', () => {
    const cache = new PollPlanCache(opts);
    const points = [point('b', { register: 5 }), point('a', { register: 0 }), point('far', { register: 100 })];
    const plan = cache.get(points);
    expect(cache.get(points)).toBe(plan);
    expect(plan.blocks.map((b) => [b.label, b.slots])).toEqual([
      ['reading holding 0..5', [1, 0]],
      ['reading holding 100..100', [2]],
    ]);
    expect(cache.get([...points])).not.toBe(plan);
    points.push(point('c', { register: 6 }));
    const grown = cache.get(points);
    expect(grown).not.toBe(plan);
    expect(grown.blocks[0]?.block.count).toBe(7);
  });

  it('a spec listed twice keeps the slot of its first occurrence', () => {
    const a = point('a', { register: 0 });
    const plan = new PollPlanCache(opts).get([a, point('b', { register: 1 }), a]);
    expect(plan.positions).toEqual([0, 1, 0]);
  });
});
