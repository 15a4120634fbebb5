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

describe('report-by-exception after a restart (last reported timestamps restored)', () => {
  const tracked = new Set(['d']);

  it('holds back samples not newer than the last one reported before the restart; a newer timestamp is reported even with an equal value', () => {
    const before = new ExceptionFilter(60_000, { tracked });
    expect(before.accept(r(5, 1000), 0, 1000)).toBe(true);
    expect(before.accept(r(6, 2000), 0, 2000)).toBe(true);
    expect(before.reportedTimes()).toEqual(new Map([['d/p', 2000]]));

    const after = new ExceptionFilter(60_000, { tracked });
    after.restore(before.reportedTimes());
    // The new subscription's first value: the same sample, with the server's original timestamp.
    expect(after.accept(r(6, 2000), 0, 10_000)).toBe(false);
    expect(after.accept(r(6, 2000), 0, 10_100)).toBe(false);
    expect(after.accept(r(5, 1500), 0, 10_200)).toBe(false);
    // The same value sampled again: a new timestamp, reported.
    expect(after.accept(r(6, 2001), 0, 10_300)).toBe(true);
    expect(after.reportedTimes()).toEqual(new Map([['d/p', 2001]]));
    // From then on the usual rules.
    expect(after.accept(r(6, 2002), 0, 10_400)).toBe(false);
  });

  it('the heartbeat runs from a held-back sample; the deadband from the first newer reading', () => {
    const after = new ExceptionFilter(1000, { tracked });
    after.restore(new Map([['d/p', 2000]]));
    expect(after.accept(r(6, 2000), 0.5, 10_000)).toBe(false);
    expect(after.due('d', 'p', 10_999)).toBe(false);
    expect(after.due('d', 'p', 11_000)).toBe(true);
    expect(after.accept(r(6.2, 2500), 0.5, 10_500)).toBe(true);
    expect(after.accept(r(6.6, 2600), 0.5, 10_600)).toBe(false);
    expect(after.accept(r(6.8, 2700), 0.5, 10_700)).toBe(true);
  });

  it('keeps timestamps of tracked devices only, and of points not seen since the restart', () => {
    const filter = new ExceptionFilter(60_000, { tracked });
    filter.restore(new Map([['d/p', 2000], ['d/q', 3000], ['other/p', 4000]]));
    const v = filter.version;
    filter.accept({ ...r(1, 5000), device: 'other' }, 0, 5000);
    expect(filter.version).toBe(v);
    // An untracked device's restored time is ignored: its sample is reported.
    expect(filter.accept({ ...r(1, 100), device: 'other', point: 'q' }, 0, 5000)).toBe(true);
    expect(filter.accept(r(1, 2500), 0, 5000)).toBe(true);
    expect(filter.version).toBe(v + 1);
    expect(filter.reportedTimes()).toEqual(new Map([['d/p', 2500], ['d/q', 3000]]));
  });
});
