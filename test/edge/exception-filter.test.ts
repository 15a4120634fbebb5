import { describe, expect, it } from 'vitest';
import type { Reading } from '../../edge/drivers/driver.js';
import { ExceptionFilter, type KeptQuality, type KeptSample } from '../../edge/runtime/exception-filter.js';

/** "device/point" → last reported sample, good unless a quality is given. */
const kept = (...entries: Array<[string, number, KeptQuality?]>): Map<string, KeptSample> => new Map(entries.map(([ref, ts, quality]) => [ref, { ts, quality: quality ?? 'good' }]));
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
    expect(before.reportedTimes()).toEqual(kept(['d/p', 2000]));

    const after = new ExceptionFilter(60_000, { tracked });
    after.restore(before.reportedTimes());
    // The new subscription's first value: the same sample, with the server's original timestamp.
    expect(after.accept(r(6, 2000), 0, 10_000)).toBe(false);
    expect(after.accept(r(6, 2000), 0, 10_100)).toBe(false);
    expect(after.accept(r(5, 1500), 0, 10_200)).toBe(false);
    // The same value sampled again: a new timestamp, reported.
    expect(after.accept(r(6, 2001), 0, 10_300)).toBe(true);
    expect(after.reportedTimes()).toEqual(kept(['d/p', 2001]));
    // From then on the usual rules.
    expect(after.accept(r(6, 2002), 0, 10_400)).toBe(false);
  });

  it('the heartbeat runs from a held-back sample; the deadband from the first newer reading', () => {
    const after = new ExceptionFilter(1000, { tracked });
    after.restore(kept(['d/p', 2000]));
    expect(after.accept(r(6, 2000), 0.5, 10_000)).toBe(false);
    expect(after.due('d', 'p', 10_999)).toBe(false);
    expect(after.due('d', 'p', 11_000)).toBe(true);
    expect(after.accept(r(6.2, 2500), 0.5, 10_500)).toBe(true);
    expect(after.accept(r(6.6, 2600), 0.5, 10_600)).toBe(false);
    expect(after.accept(r(6.8, 2700), 0.5, 10_700)).toBe(true);
  });

  it('keeps timestamps of tracked devices only, and of points not seen since the restart', () => {
    const filter = new ExceptionFilter(60_000, { tracked });
    filter.restore(kept(['d/p', 2000], ['d/q', 3000], ['other/p', 4000]));
    const v = filter.version;
    filter.accept({ ...r(1, 5000), device: 'other' }, 0, 5000);
    expect(filter.version).toBe(v);
    // An untracked device's restored time is ignored: its sample is reported.
    expect(filter.accept({ ...r(1, 100), device: 'other', point: 'q' }, 0, 5000)).toBe(true);
    expect(filter.accept(r(1, 2500), 0, 5000)).toBe(true);
    expect(filter.version).toBe(v + 1);
    expect(filter.reportedTimes()).toEqual(kept(['d/p', 2500], ['d/q', 3000]));
  });
});

/**
 * Only source timestamps of good driver readings are kept and compared across a restart: a
 * heartbeat's or a "not connected" reading's timestamp is the gateway clock, which must not hold
 * back samples stamped by the device's clock (reviewer's repro, gateway-clock vs source-clock).
 */
describe('report-by-exception after a restart: gateway-clock times are never compared with source timestamps', () => {
  const tracked = new Set(['plc']);
  const R = (value: number, ts: number): Reading => ({ device: 'plc', point: 'temp', value, quality: 'good', ts });
  const bad = (ts: number): Reading => ({ device: 'plc', point: 'temp', value: null, quality: 'bad', ts, cause: 'device down (SWG_ERR_DEVICE_NOT_CONNECTED)' });

  it('a heartbeat is not kept as the point reported time: a server clock 2 min behind loses no change after a restart', () => {
    const HB = 15 * 60_000;
    const gwNow = Date.UTC(2026, 11, 7, 12, 0, 0);
    const behind = 2 * 60_000;
    const before = new ExceptionFilter(HB, { tracked });
    expect(before.accept(R(20, gwNow - behind), 0, gwNow)).toBe(true);
    const hbAt = gwNow + HB;
    const v = before.version;
    before.remember(R(20, hbAt), hbAt); // the gateway's heartbeat: ts is the gateway clock
    expect(before.version).toBe(v); // nothing to save again
    expect(before.reportedTimes()).toEqual(kept(['plc/temp', gwNow - behind]));

    const after = new ExceptionFilter(HB, { tracked });
    after.restore(before.reportedTimes());
    const t = hbAt + 10_000;
    expect(after.accept(R(20, gwNow - behind), 0, t)).toBe(false); // the repeated sample: still held back
    const reported: boolean[] = [];
    for (let i = 1; i <= 10; i++) reported.push(after.accept(R(20 + i, t + i * 10_000 - behind), 0, t + i * 10_000));
    expect(reported).toEqual(Array(10).fill(true));
  });

  it('a restored time ahead of the gateway clock (source clock ahead, set right across the restart) is dropped', () => {
    const now = Date.UTC(2026, 11, 7, 12);
    const before = new ExceptionFilter(60_000, { tracked });
    before.accept(R(1, now + 3600_000), 0, now); // PLC an hour ahead
    const after = new ExceptionFilter(60_000, { tracked });
    after.restore(before.reportedTimes());
    let n = 0;
    for (let i = 1; i <= 30; i++) if (after.accept(R(1 + i, now + i * 60_000), 0, now + i * 60_000)) n++;
    expect(n).toBe(30);
    expect(after.reportedTimes()).toEqual(kept(['plc/temp', now + 30 * 60_000]));
  });

  it('a point last reported bad (device down at stop) keeps no time: its unchanged good value is reported after the restart', () => {
    const t0 = Date.UTC(2026, 11, 7, 12);
    const before = new ExceptionFilter(15 * 60_000, { tracked });
    before.accept(R(20, t0), 0, t0);
    const down = t0 + 60_000;
    expect(before.accept(bad(down), 0, down)).toBe(true); // the runner's reading, gateway clock
    expect(before.reportedTimes()).toEqual(kept());
    const after = new ExceptionFilter(15 * 60_000, { tracked });
    after.restore(before.reportedTimes());
    expect(after.accept(R(20, t0), 0, down + 30_000)).toBe(true);
  });

  it('after a restart, a good sample following a bad report is reported even when not newer than the restored time', () => {
    const after = new ExceptionFilter(60_000, { tracked });
    after.restore(kept(['plc/temp', 2000]));
    // Device not reachable at start: the runner reports it bad (gateway clock, not kept).
    expect(after.accept(bad(10_000), 0, 10_000)).toBe(true);
    expect(after.reportedTimes()).toEqual(kept());
    // Reachable again: the subscription repeats the sample of before the restart; the hub shows bad, so it is reported.
    expect(after.accept(R(6, 2000), 0, 10_100)).toBe(true);
    expect(after.reportedTimes()).toEqual(kept(['plc/temp', 2000]));
    // Repeated again (a new subscription after a reconnect): the hub has it now.
    expect(after.accept(R(6, 2000), 0, 10_200)).toBe(false);
  });

  it('a bad heartbeat of a device that is down drops the point time; a good heartbeat does not change it', () => {
    const f = new ExceptionFilter(1000, { tracked });
    f.accept(R(5, 500), 0, 1000);
    f.remember(R(5, 2000), 2000);
    expect(f.reportedTimes()).toEqual(kept(['plc/temp', 500]));
    const v = f.version;
    f.remember(bad(3000), 3000);
    expect(f.version).toBe(v + 1);
    expect(f.reportedTimes()).toEqual(kept());
  });
});

/**
 * An uncertain sample (OPC UA Uncertain status: the server's sourceTimestamp, as a good one) is
 * kept across a restart too, with its quality: before, only good samples' times were kept, and a
 * point last reported uncertain reported its unchanged sample once more after every restart.
 */
describe('report-by-exception after a restart: uncertain samples', () => {
  const tracked = new Set(['plc']);
  const R = (value: number, ts: number, quality: Reading['quality'] = 'good'): Reading => ({ device: 'plc', point: 'temp', value, quality, ts });

  it('holds back the repeated uncertain sample; a newer one, or the same time with another quality, is reported', () => {
    const before = new ExceptionFilter(60_000, { tracked });
    expect(before.accept(R(20, 1000), 0, 1000)).toBe(true);
    expect(before.accept(R(21, 2000, 'uncertain'), 0, 2000)).toBe(true);
    expect(before.reportedTimes()).toEqual(kept(['plc/temp', 2000, 'uncertain']));

    const after = new ExceptionFilter(60_000, { tracked });
    after.restore(before.reportedTimes());
    expect(after.accept(R(21, 2000, 'uncertain'), 0, 10_000)).toBe(false);
    // The server reports the same sample good now (its status cleared): news for the hub.
    expect(after.accept(R(21, 2000), 0, 10_100)).toBe(true);
    expect(after.reportedTimes()).toEqual(kept(['plc/temp', 2000]));

    const again = new ExceptionFilter(60_000, { tracked });
    again.restore(before.reportedTimes());
    expect(again.accept(R(21, 2001, 'uncertain'), 0, 10_000)).toBe(true);
  });

  it('a restored good time does not hold back an uncertain sample of the same time, nor the reverse', () => {
    const a = new ExceptionFilter(60_000, { tracked });
    a.restore(kept(['plc/temp', 2000]));
    expect(a.accept(R(21, 2000, 'uncertain'), 0, 10_000)).toBe(true);
    const b = new ExceptionFilter(60_000, { tracked });
    b.restore(kept(['plc/temp', 2000, 'uncertain']));
    expect(b.accept(R(21, 1500), 0, 10_000)).toBe(true);
    expect(b.reportedTimes()).toEqual(kept(['plc/temp', 1500]));
  });
});
