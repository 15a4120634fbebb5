/** What was ingested and not yet flushed: readings per series, and the batches' keys and hashes. */
import type { TelemetryBatch } from '../../../../shared/wire/messages.js';
import { SampleColumns, type ChunkSample } from '../../chunk.js';
import { seriesKey, type SeriesName } from './series-ids.js';

export interface PendingSeries extends SeriesName {
  readonly samples: SampleColumns;
}

export interface PendingBatch {
  readonly gateway: string;
  readonly bootId: string;
  readonly seq: number;
  readonly receivedAt: number;
  readonly readings: number;
  readonly historical: boolean;
  readonly hash: string;
}

export const batchKey = (gateway: string, bootId: string, seq: number): string => `${gateway}\u0000${bootId}\u0000${seq}`;

/** The newest sample (the last to arrive among equal timestamps), as the latest table keeps it. */
export function newest(samples: SampleColumns): ChunkSample {
  return samples.sample(samples.newest());
}

export class SeriesBuffer {
  private pendingSeries = new Map<string, PendingSeries>();
  /**
   * The same series by gateway, device, point: add() finds a reading's series without building
   * its key string (the names are the decoder's strings, hashed once; a key is a new string to
   * hash for every reading).
   */
  private byName = new Map<string, Map<string, Map<string, PendingSeries>>>();
  /** Batch key -> content hash of the batches buffered. */
  private keys = new Map<string, string>();
  private pendingBatches: PendingBatch[] = [];
  private pendingReadings = 0;

  /** Series key (seriesKey) -> its buffered samples. */
  get series(): ReadonlyMap<string, PendingSeries> {
    return this.pendingSeries;
  }

  get batches(): readonly PendingBatch[] {
    return this.pendingBatches;
  }

  get readings(): number {
    return this.pendingReadings;
  }

  /** The content hash a batch key was buffered with, undefined when not buffered. */
  hashOf(key: string): string | undefined {
    return this.keys.get(key);
  }

  add(batch: TelemetryBatch, receivedAt: number, key: string, hash: string): void {
    const gateway = batch.gateway;
    let devices = this.byName.get(gateway);
    if (!devices) this.byName.set(gateway, (devices = new Map()));
    let device: string | undefined;
    let points: Map<string, PendingSeries> | undefined;
    for (const r of batch.readings) {
      if (r.d !== device || !points) {
        device = r.d;
        points = devices.get(device);
        if (!points) devices.set(device, (points = new Map()));
      }
      let p = points.get(r.p);
      if (!p) {
        p = { gateway, device: r.d, point: r.p, samples: new SampleColumns() };
        points.set(r.p, p);
        this.pendingSeries.set(seriesKey(gateway, r.d, r.p), p);
      }
      p.samples.push(r);
    }
    this.keys.set(key, hash);
    this.pendingBatches.push({ gateway: batch.gateway, bootId: batch.bootId, seq: batch.seq, receivedAt, readings: batch.readings.length, historical: batch.historical, hash });
    this.pendingReadings += batch.readings.length;
  }

  reset(): void {
    this.pendingSeries = new Map();
    this.byName = new Map();
    this.keys = new Map();
    this.pendingBatches = [];
    this.pendingReadings = 0;
  }

  /** The buffered samples of one series with from <= ts <= to, in arrival order. */
  samplesIn(gateway: string, device: string, point: string, from: number, to: number): ChunkSample[] {
    const cols = this.pendingSeries.get(seriesKey(gateway, device, point))?.samples;
    const out: ChunkSample[] = [];
    if (cols) for (let i = 0; i < cols.length; i++) if (cols.ts[i]! >= from && cols.ts[i]! <= to) out.push(cols.sample(i));
    return out;
  }
}
