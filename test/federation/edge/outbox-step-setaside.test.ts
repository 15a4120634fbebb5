/**
 * A wall-clock step followed by a set-aside (an RTC-less Pi: NTP steps the clock and the first
 * connection sets a refused message aside): the set-aside's gap record was written with the
 * stepped time, then shifted again with the queued rows, ending a step in the future; at the next
 * start the outbox took the clock to be behind its rows, re-stamped them a step earlier, and aged
 * every queued batch out (1 of 11 left after a +30-day step).
 */
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { Outbox } from '../../../edge/federation/outbox.js';
import { tempDir } from '../../support/tmp.js';
import { queuedGaps } from './helpers.js';

const dir = tempDir('swg-outbox-step-');
afterAll(() => dir.remove());
const DAY = 86_400_000;

it('after a clock step and a set-aside, a restart keeps every queued batch and the gap record keeps its time', () => {
  let wall = Date.UTC(2026, 10, 1);
  let mono = 1000;
  const path = join(dir.path, 'outbox.sqlite');
  const options = { path, site: 's', gateway: 'gw-1', bootId: 'boot-step', flushMs: 10_000, batchMax: 50, maxAgeS: 7 * 24 * 3600, clock: () => wall, monotonic: () => mono };
  const box = new Outbox(options);
  for (let i = 0; i < 500; i++) {
    wall += 100;
    mono += 100;
    box.addReading({ device: 'a', point: 'p', value: i, quality: 'good', ts: wall });
  }
  box.flush();
  const telemetry = (b: Outbox): number => b.all().filter((r) => r.kind === 'telemetry').length;
  expect(telemetry(box)).toBe(10);

  wall += 30 * DAY; // NTP steps the clock
  mono += 50;
  box.setAside(box.all()[0]!.seq); // the broker refused it
  mono += 200;
  wall += 200;
  box.addReading({ device: 'a', point: 'p', value: 1, quality: 'good', ts: wall });
  box.flush();
  // No row, the gap record included, is dated after now.
  for (const r of box.all()) expect(r.createdAt).toBeLessThanOrEqual(wall);
  box.close();

  wall += 60_000; // restarted a minute later
  mono = 5000;
  const again = new Outbox({ ...options, bootId: 'boot-step2', monotonic: () => mono });
  again.addReading({ device: 'a', point: 'p', value: 2, quality: 'good', ts: wall });
  again.flush();
  expect(telemetry(again)).toBe(10 - 1 + 1 + 1);
  expect(queuedGaps(again).map((g) => g.gap.reason)).toEqual(['refused']);
  again.close();
});
