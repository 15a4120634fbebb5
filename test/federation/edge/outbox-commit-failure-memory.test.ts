/**
 * A failing disk (an SD card gone read-only, I/O errors) makes every outbox commit fail (review
 * L2): addReading must not throw to the drivers, and the batches kept in memory for the next
 * attempt stay bounded; the oldest beyond the bound are dropped into an outbox-write-failed gap
 * record that is written once the disk takes writes again, so every reading is accounted for.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FederationMetrics } from '../../../edge/federation/metrics.js';
import { Outbox } from '../../../edge/federation/outbox.js';
import type { GapRecord } from '../../../shared/wire/index.js';
import { queuedGaps } from './helpers.js';
import { tempDir } from '../../support/tmp.js';

const dir = tempDir('swg-outbox-failing-disk-');
const boxes: Outbox[] = [];
afterEach(() => {
  for (const b of boxes.splice(0)) b.close();
});
afterAll(() => dir.remove());

/** Makes every write to the outbox's tables fail, as a read-only or failing disk does; returns the cure. */
function breakDisk(path: string): () => void {
  const side = new Database(path);
  side.exec("CREATE TRIGGER fail_outbox BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'disk I/O error (simulated)'); END");
  side.exec("CREATE TRIGGER fail_staging BEFORE INSERT ON staging BEGIN SELECT RAISE(ABORT, 'disk I/O error (simulated)'); END");
  side.close();
  return () => {
    const s = new Database(path);
    s.exec('DROP TRIGGER fail_outbox; DROP TRIGGER fail_staging');
    s.close();
  };
}

const gapsOf = (box: Outbox): GapRecord[] => queuedGaps(box).map((g) => g.gap);

describe('outbox while commits fail', () => {
  it('keeps memory bounded, never throws from addReading, and accounts for every reading once the disk is back', async () => {
    const path = join(dir.path, 'bounded.sqlite');
    let mono = 0;
    const metrics = new FederationMetrics(new Registry());
    const box = new Outbox({ path, site: 's', gateway: 'gw-1', bootId: 'boot-mem1', maxBytes: 1024 * 1024, flushMs: 200, batchMax: 500, monotonic: () => mono, metrics });
    boxes.push(box);
    const cure = breakDisk(path);
    let thrown = 0;
    let maxBuffered = 0;
    const total = 720_000; // two hours of 100 points at 1 Hz, on a 1 MB outbox
    for (let i = 0; i < total; i++) {
      try {
        box.addReading({ device: 'ahu1', point: `p${i % 100}`, value: i, quality: 'good', ts: 1_700_000_000_000 + i * 10 });
      } catch {
        thrown++;
      }
      if (i % 5000 === 0) mono += 5000; // time passes: the commit retries come due now and then
      if (i % 250 === 0) maxBuffered = Math.max(maxBuffered, box.stats().buffered);
    }
    expect(thrown).toBe(0);
    // Bounded by maxUnwrittenBytes (here the outbox's own bound, under 1 MB): some 20k readings, not 720k.
    expect(maxBuffered).toBeLessThan(40_000);
    expect(box.stats().messages).toBe(0);
    // Retried with a backoff, not on every batch: a few dozen attempts, each counted.
    const failures = (await metrics.commitFailures.get()).values[0]?.value ?? 0;
    expect(failures).toBeGreaterThan(0);
    expect(failures).toBeLessThan(100);
    const droppedReadings = (await metrics.droppedReadings.get()).values.find((v) => v.labels.reason === 'outbox-write-failed')?.value ?? 0;
    expect(droppedReadings).toBeGreaterThan(total / 2);
    // The disk takes writes again.
    cure();
    mono += 60_000;
    box.flush();
    expect(box.stats().buffered).toBe(0);
    const gaps = gapsOf(box);
    const writeFailed = gaps.filter((g) => g.reason === 'outbox-write-failed');
    expect(writeFailed.length).toBe(1);
    expect(writeFailed[0]!.fromSeq).toBe(0);
    const queued = box.all().filter((r) => r.kind === 'telemetry');
    expect(queued.length).toBeGreaterThan(0);
    // The batches kept are the newest, right after the dropped ones; every reading is queued or counted once.
    expect(Math.max(...queued.map((r) => r.batchSeq!))).toBe(total / 500 - 1);
    const counted = queued.reduce((s, r) => s + r.readings, 0) + gaps.reduce((s, g) => s + g.readingsDropped, 0);
    expect(counted).toBe(total);
  }, 120_000);

  it('strict mode (flushMs 0) does not throw when staging fails and reports no reading durable that is not', () => {
    const path = join(dir.path, 'strict.sqlite');
    let mono = 0;
    const box = new Outbox({ path, site: 's', gateway: 'gw-1', bootId: 'boot-mem2', flushMs: 0, batchMs: 50, batchMax: 100, monotonic: () => mono });
    boxes.push(box);
    let durable = 0;
    box.onCommit((c) => (durable += c.readings));
    box.addReading({ device: 'ahu1', point: 'p', value: 0, quality: 'good', ts: 1_700_000_000_000 });
    expect(durable).toBe(1);
    const cure = breakDisk(path);
    for (let i = 1; i <= 250; i++) expect(() => box.addReading({ device: 'ahu1', point: 'p', value: i, quality: 'good', ts: 1_700_000_000_000 + i })).not.toThrow();
    expect(durable).toBe(1);
    cure();
    mono += 60_000;
    box.flush();
    const queued = box.all().filter((r) => r.kind === 'telemetry').reduce((s, r) => s + r.readings, 0);
    expect(queued).toBe(251);
    expect(durable).toBe(251);
  });
});
