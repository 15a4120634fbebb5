/**
 * Gap records tell the hub what it will never get (review M2): batches the broker acknowledged and
 * the hub has not receipted yet are not reported lost while undelivered ones can be dropped instead,
 * and when they must go they get a record of their own (reason `…-unconfirmed`); a gap record
 * once handed to the broker is never merged into (and so sent again inside) a later one.
 */
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Outbox, type OutboxOptions } from '../../../edge/federation/outbox.js';
import { messageDigest, type GapRecord } from '../../../shared/wire/index.js';
import { queuedGaps } from './helpers.js';
import type { Reading } from '../../../edge/drivers/driver.js';
import { tempDir } from '../../support/tmp.js';

const dir = tempDir('swg-outbox-gaps-');
const boxes: Outbox[] = [];
let n = 0;
afterEach(() => {
  for (const b of boxes.splice(0)) b.close();
});
afterAll(() => dir.remove());

function make(options: Partial<OutboxOptions>): Outbox {
  const box = new Outbox({ path: join(dir.path, `o${n++}.sqlite`), site: 's', gateway: 'gw-1', maxBytes: 512 * 1024, flushMs: 10_000, batchMax: 50, ...options });
  boxes.push(box);
  return box;
}

const reading = (i: number): Reading => ({ device: 'ahu1', point: `p${i % 20}`, value: i * 1.000001, quality: 'good', ts: 1_700_000_000_000 + i });

const gapsOf = queuedGaps;

/** The publisher's path for a row the broker acknowledged: it now waits for the hub's receipt. */
function deliverToBroker(box: Outbox, limit: number): number[] {
  const { rows } = box.next(0, Number.MAX_SAFE_INTEGER, limit);
  for (const r of rows) {
    box.markSent(r.seq);
    if (r.kind === 'telemetry') box.awaitStored(r.seq, 'telemetry', { bootId: r.bootId, batchSeq: r.batchSeq! });
    else box.awaitStored(r.seq, r.kind, { digest: messageDigest(r.payload) });
  }
  return rows.map((r) => r.batchSeq!);
}

const covers = (gaps: readonly GapRecord[], seq: number): boolean => gaps.some((g) => g.fromSeq <= seq && seq <= g.toSeq);

describe('outbox gap accounting', () => {
  it('keeps batches the broker acknowledged out of the size drop while undelivered ones can go', () => {
    const box = make({ bootId: 'boot-aaaa' });
    for (let i = 0; i < 500; i++) box.addReading(reading(i));
    box.flush();
    const delivered = deliverToBroker(box, 5);
    expect(delivered).toEqual([0, 1, 2, 3, 4]);
    // An outage follows: the outbox fills and the size bound drops the oldest rows.
    for (let i = 500; i < 40_000; i++) box.addReading(reading(i));
    box.flush();
    const gaps = gapsOf(box).map((g) => g.gap);
    expect(gaps.length).toBeGreaterThan(0);
    expect(delivered.filter((s) => covers(gaps, s))).toEqual([]);
    expect(gaps.every((g) => g.reason === 'outbox-size')).toBe(true);
    // They are still queued, waiting for their receipt.
    const kept = new Set(box.all().filter((r) => r.kind === 'telemetry').map((r) => r.batchSeq));
    for (const s of delivered) expect(kept.has(s)).toBe(true);
  });

  it('reports acknowledged-but-unreceipted batches it has to drop in an -unconfirmed gap record of their own', () => {
    const box = make({ bootId: 'boot-cccc' });
    for (let i = 0; i < 4000; i++) box.addReading(reading(i));
    box.flush();
    expect(gapsOf(box)).toEqual([]);
    // The broker acknowledges everything, the hub never receipts (its ingest is stuck): more than
    // half the bound waits for a receipt, so the bound cannot pass over all of it.
    const delivered = deliverToBroker(box, 10_000);
    expect(delivered.length).toBe(80);
    for (let i = 4000; i < 16_000; i++) box.addReading(reading(i));
    box.flush();
    const gaps = gapsOf(box).map((g) => g.gap);
    const unconfirmed = gaps.filter((g) => g.reason === 'outbox-size-unconfirmed');
    const lost = gaps.filter((g) => g.reason === 'outbox-size');
    expect(unconfirmed.length).toBeGreaterThan(0);
    expect(lost.length).toBeGreaterThan(0);
    // Only acknowledged batches in unconfirmed records, only never-delivered ones in the lost ones.
    for (const g of unconfirmed) expect(g.toSeq).toBeLessThanOrEqual(79);
    for (const g of lost) expect(g.fromSeq).toBeGreaterThanOrEqual(80);
    // Batches waiting for their receipt keep at most half the bound: the rest holds fresh data.
    const kept = box.all().filter((r) => r.kind === 'telemetry');
    const waitingBytes = kept.filter((r) => r.batchSeq! < 80).reduce((s, r) => s + r.payload.length, 0);
    expect(waitingBytes).toBeGreaterThan(0);
    expect(waitingBytes).toBeLessThanOrEqual(box.maxBytes / 2);
    expect(kept.filter((r) => r.batchSeq! >= 80).length).toBeGreaterThan(20);
    expect(kept.at(-1)!.batchSeq).toBe(319);
    // Every reading is either queued or counted in exactly one record.
    const queued = kept.reduce((s, r) => s + r.readings, 0);
    expect(queued + gaps.reduce((s, g) => s + g.readingsDropped, 0)).toBe(16_000);
  });

  it('drops a batch whose receipt timed out in age order, as unconfirmed, ahead of newer data', () => {
    const box = make({ bootId: 'boot-ffff' });
    for (let i = 0; i < 500; i++) box.addReading(reading(i));
    box.flush();
    deliverToBroker(box, 5);
    // No receipt within storedTimeoutS: the five wait to be sent again; the broker had them.
    expect(box.expireAwaiting(-1)).toHaveLength(5);
    for (let i = 500; i < 40_000; i++) box.addReading(reading(i));
    box.flush();
    const gaps = gapsOf(box).map((g) => g.gap);
    expect(gaps.filter((g) => g.reason === 'outbox-size-unconfirmed').map((g) => [g.fromSeq, g.toSeq, g.readingsDropped])).toEqual([[0, 4, 250]]);
    expect(Math.min(...gaps.filter((g) => g.reason === 'outbox-size').map((g) => g.fromSeq))).toBe(5);
  });

  it('does not age out a batch waiting for its receipt; once the wait expired it is dropped as unconfirmed', () => {
    let now = 1_700_000_000_000;
    let mono = 0;
    const box = make({ bootId: 'boot-dddd', maxAgeS: 60, clock: () => now, monotonic: () => mono });
    for (let i = 0; i < 100; i++) box.addReading(reading(i));
    box.flush();
    deliverToBroker(box, 1); // batch 0 waits for its receipt
    now += 61_000;
    mono += 61_000;
    box.flush();
    expect(gapsOf(box).map((g) => [g.gap.reason, g.gap.fromSeq, g.gap.toSeq])).toEqual([['outbox-age', 1, 1]]);
    // No receipt within the timeout: eligible to send again, still "the broker had it".
    expect(box.expireAwaiting(30_000)).toHaveLength(1);
    mono += 2000;
    now += 2000;
    box.flush();
    expect(gapsOf(box).map((g) => [g.gap.reason, g.gap.fromSeq, g.gap.toSeq, g.gap.readingsDropped])).toEqual([
      ['outbox-age', 1, 1, 50],
      ['outbox-age-unconfirmed', 0, 0, 50],
    ]);
  });

  it('never merges a gap record already handed to the broker into the next one', () => {
    const box = make({ bootId: 'boot-bbbb' });
    for (let i = 0; i < 20_000; i++) box.addReading(reading(i));
    box.flush();
    const first = gapsOf(box);
    expect(first.length).toBe(1);
    const g1 = first[0]!;
    // The gap record goes out: PUBACK, waiting for its receipt (the hub stores it).
    const row = box.all().find((r) => r.seq === g1.seq)!;
    box.markSent(row.seq);
    box.awaitStored(row.seq, 'gap', { digest: messageDigest(row.payload) });
    // More drops on the same boot, contiguous with the first record.
    for (let i = 20_000; i < 30_000; i++) box.addReading(reading(i));
    box.flush();
    const all = gapsOf(box);
    expect(all[0]).toEqual(g1); // untouched, still waiting for its receipt
    const later = all.slice(1).map((g) => g.gap);
    expect(later.length).toBeGreaterThan(0);
    for (const g of later) expect(g.fromSeq).toBeGreaterThan(g1.gap.toSeq);
    // The hub's sum over the records is what was dropped: nothing counted twice.
    const queued = box.all().filter((r) => r.kind === 'telemetry').reduce((s, r) => s + r.readings, 0);
    expect(queued + all.reduce((s, g) => s + g.gap.readingsDropped, 0)).toBe(30_000);
  });

  it('still merges a trail of drops into one record while that record is unsent, and not after a failed publish', () => {
    const box = make({ bootId: 'boot-eeee' });
    for (let i = 0; i < 20_000; i++) box.addReading(reading(i));
    box.flush();
    for (let i = 20_000; i < 30_000; i++) box.addReading(reading(i));
    box.flush();
    const merged = gapsOf(box);
    expect(merged.length).toBe(1);
    // Handed to the broker, then the publish failed: the broker may still have it.
    box.markSent(merged[0]!.seq);
    box.unmarkSent(merged[0]!.seq);
    for (let i = 30_000; i < 40_000; i++) box.addReading(reading(i));
    box.flush();
    const all = gapsOf(box);
    expect(all.length).toBe(2);
    expect(all[0]).toEqual(merged[0]);
    expect(all[1]!.gap.fromSeq).toBe(merged[0]!.gap.toSeq + 1);
  });

  it('no gap record spans a batch passed over by the drop (still queued): a run of dropped batches ends at it', () => {
    const box = new Outbox({ path: join(dir.path, 'span.sqlite'), site: 's', gateway: 'gw-1', bootId: 'boot-span', maxBytes: 512 * 1024, flushMs: 10_000, batchMax: 50 });
    for (let i = 0; i < 500; i++) box.addReading(reading(i));
    box.flush();
    // Batches 3 and 4 are with the broker, waiting for the hub's receipt: the size bound passes them over.
    for (const r of box.all().filter((row) => row.kind === 'telemetry').slice(3, 5)) {
      box.markSent(r.seq);
      box.awaitStored(r.seq, 'telemetry', { bootId: r.bootId, batchSeq: r.batchSeq! });
    }
    for (let i = 500; i < 40_000; i++) box.addReading(reading(i));
    box.flush();
    const gaps = queuedGaps(box).map((g) => g.gap);
    const kept = new Set(box.all().filter((r) => r.kind === 'telemetry').map((r) => r.batchSeq));
    expect(kept.has(3) && kept.has(4)).toBe(true);
    for (const seq of kept) expect(gaps.filter((g) => g.fromSeq <= seq! && seq! <= g.toSeq)).toEqual([]);
    expect(gaps.some((g) => g.toSeq === 2) && gaps.some((g) => g.fromSeq === 5)).toBe(true);
    box.close();
  });
});
