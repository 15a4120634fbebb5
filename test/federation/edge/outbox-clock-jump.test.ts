/**
 * Wall-clock steps on the gateway (review M3): ages (maxAgeS) and receipt waits count on a
 * monotonic clock within a run, so an NTP step (an RTC-less Pi whose fake-hwclock time is weeks
 * old) neither ages queued rows out nor holds back or hurries a resend. Across a restart the wall
 * clock is all there is: rows are as old as it says, but never younger than zero.
 */
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Outbox, type OutboxOptions } from '../../../edge/federation/outbox.js';
import type { Reading } from '../../../edge/drivers/driver.js';
import { tempDir } from '../../support/tmp.js';

const dir = tempDir('swg-outbox-clock-');
const boxes: Outbox[] = [];
afterEach(() => {
  for (const b of boxes.splice(0)) b.close();
});
afterAll(() => dir.remove());

const DAY = 86_400_000;

/** A wall clock and a monotonic one; `pass` moves both (time passes), `step` the wall clock alone. */
function clocks(wall: number): { wall: () => number; mono: () => number; pass(ms: number): void; step(ms: number): void } {
  let w = wall;
  let m = 1000;
  return { wall: () => w, mono: () => m, pass: (ms) => ((w += ms), (m += ms)), step: (ms) => (w += ms) };
}

function make(name: string, c: ReturnType<typeof clocks>, options: Partial<OutboxOptions> = {}): Outbox {
  const box = new Outbox({ path: join(dir.path, `${name}.sqlite`), site: 's', gateway: 'gw-1', flushMs: 10_000, batchMax: 50, clock: c.wall, monotonic: c.mono, ...options });
  boxes.push(box);
  return box;
}

const reading = (i: number, ts: number): Reading => ({ device: 'ahu1', point: 'temp', value: i, quality: 'good', ts });
const telemetry = (box: Outbox): number => box.all().filter((r) => r.kind === 'telemetry').length;

/** Puts the first queued row with the broker, waiting for its receipt; its seq. */
function awaitReceipt(box: Outbox): number {
  const [row] = box.next(0, Number.MAX_SAFE_INTEGER, 1).rows;
  box.markSent(row!.seq);
  box.awaitStored(row!.seq, 'telemetry', { bootId: row!.bootId, batchSeq: row!.batchSeq! });
  return row!.seq;
}

describe('outbox under wall-clock steps', () => {
  it('a step forward past maxAgeS drops no row that waited only seconds; real age still counts after it', () => {
    const c = clocks(Date.UTC(2026, 10, 1)); // the time fake-hwclock restored at boot
    const box = make('fwd', c, { maxAgeS: 7 * 24 * 3600, bootId: 'boot-clk1' });
    for (let i = 0; i < 500; i++) {
      c.pass(100); // 50 s of polling before the network (and NTP) comes up
      box.addReading(reading(i, c.wall()));
    }
    box.flush();
    expect(telemetry(box)).toBe(10);
    c.step(30 * DAY); // NTP steps the clock to the real date
    box.addReading(reading(500, c.wall()));
    box.flush();
    expect(box.all().map((r) => r.kind)).toEqual(Array(11).fill('telemetry'));
    // Rows were written 5 to 50 s into the run; the bound still works on their real age.
    c.pass(7 * DAY - 60_000);
    box.flush();
    expect(telemetry(box)).toBe(11);
    c.pass(70_000);
    box.flush();
    expect(box.all().map((r) => r.kind)).toEqual(['gap']);
  });

  it('a step backwards does not hold back the resend of unreceipted batches', () => {
    const c = clocks(Date.UTC(2026, 10, 1, 12));
    const box = make('back', c, { bootId: 'boot-clk2' });
    for (let i = 0; i < 50; i++) box.addReading(reading(i, c.wall()));
    box.flush();
    const seq = awaitReceipt(box);
    c.step(-3_600_000); // NTP steps back an hour
    c.pass(30_000);
    expect(box.expireAwaiting(60_000)).toEqual([]);
    c.pass(90_000); // two minutes after the PUBACK: storedTimeoutS (60 s here) long past
    expect(box.expireAwaiting(60_000)).toEqual([seq]);
  });

  it('a step forward does not resend a batch whose receipt is not late yet', () => {
    const c = clocks(Date.UTC(2026, 10, 1, 12));
    const box = make('fwd-resend', c, { bootId: 'boot-clk3' });
    for (let i = 0; i < 50; i++) box.addReading(reading(i, c.wall()));
    box.flush();
    const seq = awaitReceipt(box);
    c.step(3_600_000);
    c.pass(1000);
    expect(box.expireAwaiting(60_000)).toEqual([]);
    c.pass(60_000);
    expect(box.expireAwaiting(60_000)).toEqual([seq]);
  });

  it('across a restart with the clock behind the rows, ages start from now (a later correction drops nothing)', () => {
    const path = join(dir.path, 'restart-behind.sqlite');
    const c1 = clocks(Date.UTC(2026, 10, 20));
    const first = make('restart-behind', c1, { path, maxAgeS: 3600, bootId: 'boot-clk4' });
    for (let i = 0; i < 100; i++) first.addReading(reading(i, c1.wall()));
    first.close();
    // Off for a while; boots with the fake-hwclock time of an older shutdown, 10 days behind.
    const c2 = clocks(Date.UTC(2026, 10, 10));
    const second = make('restart-behind', c2, { path, maxAgeS: 3600, bootId: 'boot-clk5' });
    second.flush();
    c2.pass(60_000);
    c2.step(10 * DAY + 3 * 3_600_000); // NTP: the real date, a few hours after the last shutdown
    second.flush();
    expect(telemetry(second)).toBe(2);
    c2.pass(3_600_000 + 1000); // an hour of real waiting: now they are too old
    second.flush();
    expect(second.all().map((r) => r.kind)).toEqual(['gap']);
  });

  it('across a restart with the clock ahead, rows are as old as the wall clock says', () => {
    const path = join(dir.path, 'restart-ahead.sqlite');
    const c1 = clocks(Date.UTC(2026, 10, 1));
    const first = make('restart-ahead', c1, { path, maxAgeS: 7 * 24 * 3600, bootId: 'boot-clk6' });
    for (let i = 0; i < 100; i++) first.addReading(reading(i, c1.wall()));
    first.close();
    // Off for three weeks (the clock was right when it stopped and is right now).
    const c2 = clocks(Date.UTC(2026, 10, 22));
    const second = make('restart-ahead', c2, { path, maxAgeS: 7 * 24 * 3600, bootId: 'boot-clk7' });
    second.flush();
    expect(second.all().map((r) => r.kind)).toEqual(['gap']);
  });
});
