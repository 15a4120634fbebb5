/**
 * A failing disk (an SD card gone read-only, I/O errors) makes every outbox commit fail (review
 * L2): addReading must not throw to the drivers, and the batches kept in memory for the next
 * attempt stay bounded; the oldest beyond the bound are dropped into an outbox-write-failed gap
 * record that is written once the disk takes writes again, so every reading is accounted for.
 * Other messages (a command's ack, an event) wait in memory too, in order, and are the last thing
 * the bound drops.
 */
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FederationMetrics } from '../../../edge/federation/metrics.js';
import { Outbox } from '../../../edge/federation/outbox.js';
import type { GapRecord } from '../../../shared/wire/index.js';
import { failOutboxWrites, queuedGaps } from './helpers.js';
import { tempDir } from '../../support/tmp.js';

const dir = tempDir('swg-outbox-failing-disk-');
const boxes: Outbox[] = [];
afterEach(() => {
  for (const b of boxes.splice(0)) b.close();
});
afterAll(() => dir.remove());

const gapsOf = (box: Outbox): GapRecord[] => queuedGaps(box).map((g) => g.gap);

describe('outbox while commits fail', () => {
  it('keeps memory bounded, never throws from addReading, and accounts for every reading once the disk is back', async () => {
    const path = join(dir.path, 'bounded.sqlite');
    let mono = 0;
    const metrics = new FederationMetrics(new Registry());
    const box = new Outbox({ path, site: 's', gateway: 'gw-1', bootId: 'boot-mem1', maxBytes: 1024 * 1024, flushMs: 200, batchMax: 500, monotonic: () => mono, metrics });
    boxes.push(box);
    const cure = failOutboxWrites(path);
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
    const cure = failOutboxWrites(path);
    for (let i = 1; i <= 250; i++) expect(() => box.addReading({ device: 'ahu1', point: 'p', value: i, quality: 'good', ts: 1_700_000_000_000 + i })).not.toThrow();
    expect(durable).toBe(1);
    cure();
    mono += 60_000;
    box.flush();
    const queued = box.all().filter((r) => r.kind === 'telemetry').reduce((s, r) => s + r.readings, 0);
    expect(queued).toBe(251);
    expect(durable).toBe(251);
  });

  it('keeps acks and events queued in memory, in order, while commits fail, and never throws from enqueue or flush', async () => {
    const path = join(dir.path, 'control.sqlite');
    let mono = 0;
    const metrics = new FederationMetrics(new Registry());
    const box = new Outbox({ path, site: 's', gateway: 'gw-1', bootId: 'boot-mem3', maxBytes: 1024 * 1024, maxUnwrittenBytes: 64 * 1024, flushMs: 200, batchMax: 100, monotonic: () => mono, metrics });
    boxes.push(box);
    const cure = failOutboxWrites(path);
    const ack = (id: string) => Buffer.from(JSON.stringify({ v: 1, id, ts: 1, status: 'applied' }));
    // A command applied while the disk refuses writes: its ack must still reach the hub, after the readings before it.
    for (let i = 0; i < 50; i++) box.addReading({ device: 'ahu1', point: 'p', value: i, quality: 'good', ts: 1_700_000_000_000 + i });
    expect(() => box.enqueue('swarmgate/v1/s/gw-1/commands/ack', 'ack', ack('cmd-1'))).not.toThrow();
    expect(() => box.flush()).not.toThrow();
    // Far more readings than the memory bound holds, then an event: the bound drops readings, not the ack.
    for (let i = 50; i < 40_000; i++) {
      box.addReading({ device: 'ahu1', point: `p${i % 10}`, value: i, quality: 'good', ts: 1_700_000_000_000 + i });
      if (i % 2000 === 0) mono += 5000;
    }
    expect(() => box.enqueue('swarmgate/v1/s/gw-1/events', 'event', Buffer.from('{"v":1,"id":"ev-1"}'))).not.toThrow();
    expect(box.stats().messages).toBe(0);
    const dropped = (await metrics.droppedReadings.get()).values.find((v) => v.labels.reason === 'outbox-write-failed')?.value ?? 0;
    expect(dropped).toBeGreaterThan(0);
    cure();
    mono += 60_000;
    box.flush();
    const rows = box.all();
    const kinds = rows.map((r) => r.kind);
    expect(kinds.filter((k) => k === 'ack')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'event')).toHaveLength(1);
    expect(JSON.parse(rows.find((r) => r.kind === 'ack')!.payload.toString()).id).toBe('cmd-1');
    // The event was queued after every reading kept: it comes last.
    expect(kinds.at(-1)).toBe('event');
    // No control message was dropped.
    expect((await metrics.dropped.get()).values.filter((v) => v.labels.kind !== 'telemetry')).toEqual([]);
    // Every reading is queued or counted in a gap record.
    const counted = rows.filter((r) => r.kind === 'telemetry').reduce((s, r) => s + r.readings, 0) + gapsOf(box).reduce((s, g) => s + g.readingsDropped, 0);
    expect(counted).toBe(40_000);
  }, 60_000);
});
