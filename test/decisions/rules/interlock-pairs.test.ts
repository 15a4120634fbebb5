/**
 * Interlocks on one point that together leave no value a write may take are a config problem:
 * those that always hold, and those under the same condition with them. Interlocks under
 * different conditions, or refusing one value only, are not compared (they may never hold at once).
 */
import { describe, expect, it } from 'vitest';
import { compileInterlocks } from '../../../edge/decisions/rules/interlocks.js';
import type { ConditionProblem } from '../../../edge/decisions/rules/conditions.js';
import type { InterlockConfig } from '../../../edge/decisions/rules/schema.js';

const check = (interlocks: InterlockConfig[]): ConditionProblem[] => {
  const problems: ConditionProblem[] = [];
  compileInterlocks(interlocks, problems);
  return problems;
};
const hot = { kind: 'above' as const, point: 'room/temp', on: 30 };

describe('contradicting interlocks', () => {
  it('finds two that always hold with no value between them, naming both and the later one', () => {
    const problems = check([
      { name: 'floor', point: 'ahu/speed', min: 60 },
      { name: 'ceiling', point: 'ahu/speed', max: 40 },
    ]);
    expect(problems).toEqual([{ path: ['interlocks', 1, 'max'], message: 'interlocks "floor" (min 60) and "ceiling" (max 40) leave no value ahu/speed may take, so every write is refused' }]);
  });

  it('combines one that always holds with a conditional one, and reports an always-pair once', () => {
    const problems = check([
      { name: 'ceiling', point: 'ahu/speed', max: 40 },
      { name: 'hot-floor', point: 'ahu/speed', min: 50, when: hot },
      { name: 'cold-floor', point: 'ahu/speed', min: 45, when: { ...hot, kind: 'below' } },
    ]);
    expect(problems.map((p) => p.message)).toEqual([
      'interlocks "hot-floor" (min 50) and "ceiling" (max 40) leave no value ahu/speed may take, so while their condition holds every write is refused',
      'interlocks "cold-floor" (min 45) and "ceiling" (max 40) leave no value ahu/speed may take, so while their condition holds every write is refused',
    ]);
    expect(check([
      { name: 'a', point: 'ahu/speed', min: 60 },
      { name: 'b', point: 'ahu/speed', max: 40 },
      { name: 'c', point: 'ahu/speed', max: 70, when: hot },
    ])).toHaveLength(1);
  });

  it('leaves alone bounds that meet, other points, other conditions and single-value interlocks', () => {
    expect(check([
      { name: 'a', point: 'ahu/speed', min: 40 },
      { name: 'b', point: 'ahu/speed', max: 40 },
      { name: 'c', point: 'ahu/other', max: 10 },
    ])).toEqual([]);
    expect(check([
      { name: 'd', point: 'ahu/speed', max: 10, when: hot },
      { name: 'e', point: 'ahu/speed', min: 90, when: { ...hot, on: 35 } },
      { name: 'f', point: 'ahu/speed', value: 100, when: hot },
      { name: 'g', point: 'ahu/speed', value: 0 },
    ])).toEqual([]);
  });
});
