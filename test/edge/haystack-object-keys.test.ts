/**
 * Tags and units that are names of Object.prototype members ("constructor", "__proto__",
 * "toString") are words like any other: the Haystack tables are looked up as maps, so a message
 * never prints a function's source or "[object Object]", and no unit "measures" a function.
 */
import { describe, expect, it } from 'vitest';
import { proposeTags, quantityOfUnit, tagProblems } from '../../edge/config/haystack.js';

const PROTOTYPE_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf'];

describe('Haystack tables and Object.prototype names', () => {
  it('reports such tags as unknown markers or bad tag names, in words', () => {
    const problems = tagProblems([...PROTOTYPE_NAMES, 'sensor'], { unit: 'degC' });
    const text = problems.map((p) => p.message).join('\n');
    expect(text).not.toMatch(/native code|\[object Object\]|function /);
    expect(problems.find((p) => p.index === 0)?.message).toBe('unknown marker "constructor"; the known point markers are listed in edge/config/haystack.ts (MARKERS)');
    expect(problems.find((p) => p.index === 1)?.message).toMatch(/^"__proto__" is not a Haystack tag name .*; the known point markers are listed/);
    expect(problems.find((p) => p.index === 2)?.message).toMatch(/^unknown marker "toString"/);
    // One problem per tag, none for the list as a whole (sensor is there).
    expect(problems.map((p) => p.index)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('a unit named like a prototype member measures nothing', () => {
    for (const unit of PROTOTYPE_NAMES) expect(quantityOfUnit(unit), unit).toBeUndefined();
    expect(tagProblems(['temp', 'sensor'], { unit: 'constructor' })).toEqual([]);
    expect(proposeTags({ name: 'supply temperature', unit: 'constructor' }).join(' ')).not.toMatch(/native code|object/);
  });
});
