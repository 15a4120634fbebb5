import { describe, expect, it } from 'vitest';
import type { Reading } from '../../edge/drivers/driver.js';
import { ExceptionFilter } from '../../edge/runtime/exception-filter.js';

const r = (value: Reading['value'], ts: number, quality: Reading['quality'] = 'good'): Reading => ({ device: 'd', point: 'p', value, quality, ts });

describe('report-by-exception', () => {
  it.each([
    { name: 'first reading is always reported', steps: [[r(1, 0), 0.5, true]] },
    { name: 'change within deadband is held back', steps: [[r(1, 0), 0.5, true], [r(1.4, 10), 0.5, false]] },
    { name: 'change beyond deadband is reported', steps: [[r(1, 0), 0.5, true], [r(1.6, 10), 0.5, true]] },
    { name: 'deadband is measured from the last reported value, not the last sample', steps: [[r(1, 0), 0.5, true], [r(1.3, 10), 0.5, false], [r(1.6, 20), 0.5, true]] },
    { name: 'quality change is reported even with the same value', steps: [[r(1, 0), 0.5, true], [r(1, 10, 'bad'), 0.5, true]] },
    { name: 'zero deadband reports any change', steps: [[r(1, 0), 0, true], [r(1.0001, 10), 0, true], [r(1.0001, 20), 0, false]] },
    { name: 'booleans report on change only', steps: [[r(true, 0), 0, true], [r(true, 10), 0, false], [r(false, 20), 0, true]] },
    { name: 'heartbeat reports an unchanged value', steps: [[r(5, 0), 1, true], [r(5, 999), 1, false], [r(5, 1000), 1, true]] },
  ] as { name: string; steps: [Reading, number, boolean][] }[])('$name', ({ steps }) => {
    const filter = new ExceptionFilter(1000);
    for (const [reading, deadband, expected] of steps) expect(filter.accept(reading, deadband, reading.ts)).toBe(expected);
  });

  it('measures the heartbeat on the gateway clock, not on source timestamps that stay put', () => {
    const filter = new ExceptionFilter(1000);
    expect(filter.accept(r(5, 100), 0, 10_000)).toBe(true);
    expect(filter.accept(r(5, 100), 0, 10_999)).toBe(false);
    expect(filter.accept(r(5, 100), 0, 11_000)).toBe(true);
  });

  it('tells which points are due for a heartbeat and when the next one falls due', () => {
    const filter = new ExceptionFilter(1000);
    expect(filter.nextDue()).toBeUndefined();
    expect(filter.due('d', 'p', 5000)).toBe(false);
    filter.accept(r(1, 0), 0, 2000);
    filter.accept({ ...r(1, 0), point: 'q' }, 0, 2500);
    expect(filter.nextDue()).toBe(3000);
    expect(filter.due('d', 'p', 2999)).toBe(false);
    expect(filter.due('d', 'p', 3000)).toBe(true);
    expect(filter.due('d', 'q', 3000)).toBe(false);
    filter.remember(r(1, 3000), 3000);
    expect(filter.due('d', 'p', 3000)).toBe(false);
    expect(filter.nextDue()).toBe(3500);
  });
});
