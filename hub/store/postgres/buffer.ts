/**
 * Journaled telemetry not yet written to PostgreSQL, in arrival order, with its keys (dedupe
 * before the journal append) and per-point columns (reads see it at once). A flush takes the
 * whole buffer as one generation while new batches go into the next.
 */
import { SampleColumns, type ChunkSample } from '../chunk.js';
import { seriesKey, type SeriesName } from './series-ids.js';
import type { PendingBatch } from './writer.js';

export interface BufferedSeries extends SeriesName {
  readonly samples: SampleColumns;
}

export const batchKey = (gateway: string, bootId: string, seq: number): string => `${gateway}\u0000${bootId}\u0000${seq}`;

export class Generation {
  readonly entries: PendingBatch[] = [];
  readonly keys = new Map<string, string>();
  readonly series = new Map<string, BufferedSeries>();
  readings = 0;

  add(entry: PendingBatch): void {
    const b = entry.batch;
    for (const r of b.readings) {
      const k = seriesKey(b.gateway, r.d, r.p);
      let s = this.series.get(k);
      if (!s) this.series.set(k, (s = { gateway: b.gateway, device: r.d, point: r.p, samples: new SampleColumns() }));
      s.samples.push(r);
    }
    this.keys.set(batchKey(b.gateway, b.bootId, b.seq), entry.hash);
    this.entries.push(entry);
    this.readings += b.readings.length;
  }

  /** This point's samples with from <= ts <= to, in arrival order. */
  samplesIn(gateway: string, device: string, point: string, from: number, to: number): ChunkSample[] {
    const cols = this.series.get(seriesKey(gateway, device, point))?.samples;
    const out: ChunkSample[] = [];
    if (cols) for (let i = 0; i < cols.length; i++) if (cols.ts[i]! >= from && cols.ts[i]! <= to) out.push(cols.sample(i));
    return out;
  }
}

/** The generation being flushed (if any) and the one filling; older first. */
export class TelemetryBuffer {
  private flushing: Generation | undefined;
  private filling = new Generation();
  private flushEpoch = 0;
  private waiting: (() => void)[] = [];

  /**
   * Counts flushes' starts and ends: odd while a flush is writing (its commit may become visible
   * to a read before done() drops its generation), and changed once a flush started or ended.
   * Reads (reads.ts) pair a SELECT with the generations buffered when it began only if no flush
   * was writing then and the epoch did not change meanwhile.
   */
  get epoch(): number {
    return this.flushEpoch;
  }

  /** Resolves once no flush is writing. */
  settled(): Promise<void> {
    if (!this.flushing) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private settle(): void {
    this.flushing = undefined;
    this.flushEpoch++;
    for (const resolve of this.waiting.splice(0)) resolve();
  }

  get readings(): number {
    return (this.flushing?.readings ?? 0) + this.filling.readings;
  }

  get generations(): Generation[] {
    return this.flushing ? [this.flushing, this.filling] : [this.filling];
  }

  add(entry: PendingBatch): void {
    this.filling.add(entry);
  }

  /** The content hash a key was buffered with, undefined when not buffered. */
  hashOf(key: string): string | undefined {
    return this.flushing?.keys.get(key) ?? this.filling.keys.get(key);
  }

  /** Starts a flush: what is buffered now, or undefined when nothing is (or a flush is running). */
  take(): Generation | undefined {
    if (this.flushing || this.filling.entries.length === 0) return undefined;
    this.flushing = this.filling;
    this.filling = new Generation();
    this.flushEpoch++;
    return this.flushing;
  }

  /** The flush committed: its generation is dropped. */
  done(): void {
    if (this.flushing) this.settle();
  }

  /** The flush failed: its batches go back ahead of those that arrived meanwhile. */
  failed(): void {
    const back = this.flushing;
    if (!back) return;
    const merged = new Generation();
    for (const e of back.entries) merged.add(e);
    for (const e of this.filling.entries) merged.add(e);
    this.filling = merged;
    this.settle();
  }
}
