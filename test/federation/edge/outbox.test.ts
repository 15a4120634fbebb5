import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TelemetryBatchSchema, decode, type GapRecord} from '../../../shared/wire/index.js';
import { queuedBatches, queuedGaps } from './helpers.js';
import { Outbox, type OutboxOptions } from '../../../edge/federation/outbox.js';
import { retagBatch } from '../../../edge/federation/telemetry.js';
import type { Reading } from '../../../edge/drivers/driver.js';
import { tempDir } from '../../support/tmp.js';

const dirs: { remove(): void }[] = [];
const boxes: Outbox[] = [];

function make(options: Partial<OutboxOptions> = {}): Outbox {
  let path = options.path;
  if (!path) {
    const dir = tempDir('swg-outbox-');
    dirs.push(dir);
    path = join(dir.path, 'outbox.sqlite');
  }
  const box = new Outbox({ site: 'site-a', gateway: 'gw-1', ...options, path });
  boxes.push(box);
  return box;
}

function reading(i: number, extra: Partial<Reading> = {}): Reading {
  return { device: 'ahu1', point: 'supply_air_temp', value: i, quality: 'good', ts: 1_700_000_000_000 + i, ...extra };
}

const batches = queuedBatches;

const gaps = (box: Outbox): GapRecord[] => queuedGaps(box).map((g) => g.gap);

afterEach(() => {
  for (const b of boxes.splice(0)) b.close();
  for (const d of dirs.splice(0)) d.remove();
});

describe('outbox', () => {
  it('batches readings into valid telemetry messages with per-boot seqs', () => {
    const box = make({ flushMs: 10_000, batchMax: 500, bootId: 'boot-test-1' });
    for (let i = 0; i < 1200; i++) box.addReading(reading(i));
    expect(box.stats().messages).toBe(2); // two full batches flushed on reaching batchMax
    box.flush();
    const got = batches(box);
    expect(got.map((b) => [b.seq, b.readings.length, b.bootId, b.historical])).toEqual([
      [0, 500, 'boot-test-1', false],
      [1, 500, 'boot-test-1', false],
      [2, 200, 'boot-test-1', false],
    ]);
    expect(got.flatMap((b) => b.readings.map((r) => r.v))).toEqual(Array.from({ length: 1200 }, (_, i) => i));
    expect(box.all()[0]?.topic).toBe('swarmgate/v1/site-a/gw-1/telemetry');
  });

  it('commits the buffered readings after flushMs in one transaction', async () => {
    const box = make({ flushMs: 30 });
    const commits: number[] = [];
    box.onCommit((c) => commits.push(c.readings));
    for (let i = 0; i < 7; i++) box.addReading(reading(i));
    expect(box.stats().messages).toBe(0);
    await new Promise((r) => setTimeout(r, 80));
    expect(commits).toEqual([7]);
    expect(box.stats().messages).toBe(1);
  });

  it('sanitises readings for the wire and drops ones that cannot fit', () => {
    const box = make({ flushMs: 10_000 });
    box.addReading(reading(0, { value: Number.NaN, quality: 'bad', cause: 'x'.repeat(2000) }));
    box.addReading(reading(1, { value: 'y'.repeat(5000) }));
    box.addReading(reading(2, { device: 'bad device id' }));
    box.flush();
    const [b] = batches(box);
    expect(b?.readings.length).toBe(2);
    expect(b?.readings[0]?.v).toBeNull();
    expect(b?.readings[0]?.c?.length).toBe(512);
    expect((b?.readings[1]?.v as string).length).toBe(1024);
  });

  it('re-tags a stored batch as historical without touching seq or readings', () => {
    const box = make({ flushMs: 10_000 });
    for (let i = 0; i < 3; i++) box.addReading(reading(i));
    box.flush();
    const row = box.all()[0]!;
    const retagged = retagBatch(row.payload, { gateway: 'gw-1', bootId: row.bootId, seq: row.batchSeq!, sentAt: 42, historical: true });
    const d = decode(TelemetryBatchSchema, row.topic, retagged);
    expect(d.ok && d.value).toMatchObject({ seq: 0, sentAt: 42, historical: true, readings: [{ v: 0 }, { v: 1 }, { v: 2 }] });
  });

  it('hands rows out in order, skips in-flight ones and deletes acknowledged ones', () => {
    const box = make({ flushMs: 10_000, batchMax: 1 });
    for (let i = 0; i < 5; i++) box.addReading(reading(i));
    box.enqueue('swarmgate/v1/site-a/gw-1/events', 'event', Buffer.from('{}'));
    const first = box.next(0, Number.MAX_SAFE_INTEGER, 3);
    expect(first.rows.map((r) => r.batchSeq)).toEqual([0, 1, 2]);
    for (const r of first.rows) box.markSent(r.seq);
    box.ack(first.rows[0]!.seq);
    box.unmarkSent(first.rows[2]!.seq);
    const again = box.next(0, Number.MAX_SAFE_INTEGER, 10);
    expect(again.rows.map((r) => r.batchSeq)).toEqual([2, 3, 4, null]);
    box.flush();
    expect(box.stats().messages).toBe(5);
  });

  it('compaction gives the space of delivered messages back to the file system and keeps the rest', () => {
    const box = make({ flushMs: 10_000, batchMax: 50, bootId: 'boot-compact-1' });
    for (let i = 0; i < 4000; i++) box.addReading(reading(i, { value: `v${i}-${'x'.repeat(280)}` }));
    box.flush();
    const rows = box.next(0, Number.MAX_SAFE_INTEGER, 1000).rows;
    const delivered = rows.slice(0, rows.length - 5);
    for (const r of delivered) {
      box.markSent(r.seq);
      box.ack(r.seq);
    }
    box.flush();
    const before = box.fileBytes();
    const freed = box.compact();
    expect(freed).toBeGreaterThan(before / 2);
    expect(box.fileBytes()).toBe(before - freed);
    expect(batches(box).map((b) => b.seq)).toEqual(rows.slice(-5).map((r) => r.batchSeq));
    expect(batches(box).every((b) => b.readings.length === 50)).toBe(true);
  });

  it('keeps rows and seq numbering across a reopen; a new boot restarts batch seqs', () => {
    const dir = tempDir('swg-outbox-');
    dirs.push(dir);
    const path = join(dir.path, 'o.sqlite');
    const a = make({ path, flushMs: 10_000, bootId: 'boot-a-0001' });
    for (let i = 0; i < 3; i++) a.addReading(reading(i));
    a.close();
    const b = make({ path, flushMs: 10_000, bootId: 'boot-b-0001' });
    expect(b.lastSeq).toBe(1);
    b.addReading(reading(9));
    b.flush();
    expect(batches(b).map((x) => [x.bootId, x.seq])).toEqual([
      ['boot-a-0001', 0],
      ['boot-b-0001', 0],
    ]);
  });

  it('drops the oldest messages when over the size bound, leaves a gap record and stays within the bound on disk', () => {
    const maxBytes = 512 * 1024;
    const box = make({ maxBytes, flushMs: 10_000, batchMax: 50, bootId: 'boot-size-1' });
    const total = 6000;
    let maxFile = 0;
    for (let i = 0; i < total; i++) {
      // ~300 bytes per reading: 6000 readings are ~3.5x the bound
      box.addReading(reading(i, { value: `v${i}-${'x'.repeat(280)}` }));
      if (i % 500 === 0) maxFile = Math.max(maxFile, box.fileBytes());
    }
    box.flush();
    maxFile = Math.max(maxFile, box.fileBytes());
    const kept = batches(box);
    const holes = gaps(box);
    expect(holes.length).toBe(1); // successive drops of one outage merge into one record
    expect(holes.every((g) => g.reason === 'outbox-size' && g.bootId === 'boot-size-1')).toBe(true);
    // every batch is either still there or inside exactly one gap, and the reading counts add up
    const seqs = new Set(kept.map((b) => b.seq));
    for (const g of holes) for (let s = g.fromSeq; s <= g.toSeq; s++) {
      expect(seqs.has(s)).toBe(false);
      seqs.add(s);
    }
    expect([...seqs].sort((x, y) => x - y)).toEqual(Array.from({ length: total / 50 }, (_, i) => i));
    const keptReadings = kept.reduce((n, b) => n + b.readings.length, 0);
    const dropped = holes.reduce((n, g) => n + g.readingsDropped, 0);
    expect(keptReadings + dropped).toBe(total);
    // the oldest went: the kept batches are the newest ones
    expect(Math.min(...kept.map((b) => b.seq))).toBeGreaterThan(Math.max(...holes.map((g) => g.toSeq)));
    expect(holes[0]?.fromTs).toBe(1_700_000_000_000);
    expect(maxFile).toBeLessThanOrEqual(maxBytes);
    console.info(`outbox size bound ${maxBytes} B: largest file ${maxFile} B, kept ${keptReadings} readings, dropped ${dropped} in ${holes.length} gap records`);
  });

  it('over the size bound, drops telemetry before the older events and review requests it holds', () => {
    const box = make({ maxBytes: 256 * 1024, flushMs: 10_000, batchMax: 50, bootId: 'boot-size-2' });
    // An alarm and a review request queued while offline, before hours of telemetry.
    box.enqueue('swarmgate/v1/site-a/gw-1/events', 'event', Buffer.from('{"alarm":"cold room warm"}'));
    box.enqueue('swarmgate/v1/site-a/gw-1/reviews', 'review', Buffer.from('{"request":"backup on"}'));
    for (let i = 0; i < 3000; i++) box.addReading(reading(i, { value: `v${i}-${'x'.repeat(280)}` }));
    box.flush();
    const kinds = box.all().map((r) => r.kind);
    expect(kinds.filter((k) => k === 'event' || k === 'review')).toEqual(['event', 'review']);
    expect(gaps(box)[0]?.readingsDropped).toBeGreaterThan(0);
    expect(box.fileBytes()).toBeLessThanOrEqual(256 * 1024);
  });

  it('drops messages older than maxAgeS with an outbox-age gap record', () => {
    let now = 1_700_000_000_000;
    let mono = 0;
    const box = make({ maxAgeS: 60, flushMs: 10_000, batchMax: 10, clock: () => now, monotonic: () => mono, bootId: 'boot-age-01' });
    for (let i = 0; i < 30; i++) box.addReading(reading(i));
    box.enqueue('swarmgate/v1/site-a/gw-1/events', 'event', Buffer.from('{}'));
    // Time passes on both clocks (a wall clock moving alone is a step, not age).
    now += 61_000;
    mono += 61_000;
    box.addReading(reading(100));
    box.flush();
    const holes = gaps(box);
    expect(holes).toEqual([
      { v: 1, gateway: 'gw-1', bootId: 'boot-age-01', fromSeq: 0, toSeq: 2, readingsDropped: 30, fromTs: 1_700_000_000_000, toTs: 1_700_000_000_029, reason: 'outbox-age', ts: now },
    ]);
    expect(batches(box).map((b) => b.seq)).toEqual([3]);
    expect(box.all().filter((r) => r.kind === 'event')).toEqual([]);
  });

  it('strict mode (flushMs 0) commits each reading on arrival and batches them later', async () => {
    const box = make({ flushMs: 0, batchMs: 30, batchMax: 100 });
    let committed = 0;
    box.onCommit((c) => (committed += c.readings));
    for (let i = 0; i < 5; i++) {
      box.addReading(reading(i));
      expect(committed).toBe(i + 1);
    }
    await new Promise((r) => setTimeout(r, 80));
    expect(batches(box).map((b) => b.readings.length)).toEqual([5]);
  });
});
