import { describe, expect, it } from 'vitest';
import { parseDecimal } from '../../shared/kit/decimal.js';

describe('parseDecimal', () => {
  it('reads decimal numbers as written and nothing else', () => {
    expect(['21.5', '-3', '+4', '1e3', '.5', '5.', '1E-2'].map(parseDecimal)).toEqual([21.5, -3, 4, 1000, 0.5, 5, 0.01]);
    expect(parseDecimal('1e400')).toBe(Infinity);
    expect(['0x10', '0b11', '', ' 1', '1 ', 'Infinity', 'NaN', '1,5', '--1'].map(parseDecimal)).toEqual(Array(9).fill(undefined));
  });
});
