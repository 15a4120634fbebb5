/**
 * Reads points of one device: ReadPropertyMultiple in batches that fit the device's max APDU
 * (times a few segments when it can send segmented replies), halved when the device aborts a batch
 * as too long; ReadProperty per point when the device has no RPM (per its services-supported, a
 * reject, or the connection setting). Alongside a present-value it reads status-flags and
 * reliability, which give the reading's quality. Never rejects: failures become bad readings.
 */
import { PropertyIdentifier, Segmentation, ServicesSupported, type BACNetAppData, type BACNetReadAccessSpecification } from '@bacnet-js/client';
import { isSwarmgateError } from '../../../shared/kit/errors.js';
import type { PointSpec, Reading } from '../driver.js';
import { classifyError, describeError, type DeviceLink } from './device-link.js';
import type { ResolvedBacnetAddress } from './settings.js';
import { badReading, toReading, type ObjectStatus } from './values.js';

const ALL = 0xffffffff;
const ERROR_TAG = 105;
/** Segments a batch may take when the device sends segmented replies (the library reassembles them). */
const SEGMENTS_USED = 4;

export interface ReadTarget {
  readonly point: PointSpec;
  readonly address: ResolvedBacnetAddress;
}

interface ObjectRead {
  readonly key: string;
  readonly objectType: number;
  readonly instance: number;
  readonly targets: ReadTarget[];
  /** Distinct property references of the object (the points' properties, then status ones). */
  readonly properties: { id: number; index: number }[];
}

function objectKey(a: ResolvedBacnetAddress): string {
  return `${a.objectType}:${a.instance}`;
}

/** A generous guess of a property's size in a reply: tags, opening/closing, value. */
function replyBytes(property: { id: number; index: number }): number {
  if (property.id === PropertyIdentifier.PRIORITY_ARRAY && property.index === ALL) return 100;
  if (property.id === PropertyIdentifier.STATUS_FLAGS || property.id === PropertyIdentifier.RELIABILITY) return 8;
  if (property.id === PropertyIdentifier.PRESENT_VALUE) return 16;
  return 48;
}

function objectBytes(o: ObjectRead): number {
  return 8 + o.properties.reduce((sum, p) => sum + replyBytes(p), 0);
}

function statusFrom(values: Map<number, readonly BACNetAppData[]>): ObjectStatus {
  const flags = values.get(PropertyIdentifier.STATUS_FLAGS)?.[0]?.value as { value?: number[] } | undefined;
  const reliability = values.get(PropertyIdentifier.RELIABILITY)?.[0]?.value;
  return {
    ...(flags?.value ? { statusFlags: flags.value } : {}),
    ...(typeof reliability === 'number' ? { reliability } : {}),
  };
}

export class PointReader {
  readonly #link: DeviceLink;
  readonly #device: string;
  readonly #useRpm: boolean;
  /** Set once the device rejected RPM. */
  #rpmRejected = false;
  /** The last learned batch budget in bytes (shrinks when the device aborts a batch as too long). */
  #budget: number | undefined;

  constructor(link: DeviceLink, device: string, useRpm: boolean) {
    this.#link = link;
    this.#device = device;
    this.#useRpm = useRpm;
  }

  /** Whether reads go through RPM (for logs and tests). */
  get usesRpm(): boolean {
    return this.#useRpm && !this.#rpmRejected && this.#link.supports(ServicesSupported.READ_PROPERTY_MULTIPLE) !== false;
  }

  async read(targets: readonly ReadTarget[]): Promise<Reading[]> {
    if (targets.length === 0) return [];
    if (!this.#link.info) {
      try {
        await this.#link.loadInfo();
      } catch (err) {
        const cause = isSwarmgateError(err) ? `${err.code}: ${err.message}` : describeError(err);
        return targets.map((t) => badReading(this.#device, t.point.name, cause));
      }
    }
    const objects = this.#group(targets);
    const out = new Map<ReadTarget, Reading>();
    if (this.usesRpm) {
      const rejected = await this.#readMultiple(objects, out);
      if (rejected) {
        this.#rpmRejected = true;
        await this.#readSingly(objects, out);
      }
    } else {
      await this.#readSingly(objects, out);
    }
    return targets.map((t) => out.get(t) ?? badReading(this.#device, t.point.name, 'not read'));
  }

  #group(targets: readonly ReadTarget[]): ObjectRead[] {
    const byObject = new Map<string, ObjectRead>();
    for (const t of targets) {
      const key = objectKey(t.address);
      let o = byObject.get(key);
      if (!o) {
        o = { key, objectType: t.address.objectType, instance: t.address.instance, targets: [], properties: [] };
        byObject.set(key, o);
      }
      o.targets.push(t);
      const ref = { id: t.address.property, index: t.address.arrayIndex ?? ALL };
      if (!o.properties.some((p) => p.id === ref.id && p.index === ref.index)) o.properties.push(ref);
    }
    for (const o of byObject.values()) {
      if (!o.targets.some((t) => t.address.property === PropertyIdentifier.PRESENT_VALUE)) continue;
      for (const id of [PropertyIdentifier.STATUS_FLAGS, PropertyIdentifier.RELIABILITY]) {
        if (!o.properties.some((p) => p.id === id)) o.properties.push({ id, index: ALL });
      }
    }
    return [...byObject.values()];
  }

  #maxBudget(): number {
    const info = this.#link.info;
    const apdu = Math.min(info?.maxApdu ?? 480, 1476);
    const segmented = info?.segmentation === Segmentation.SEGMENTED_BOTH || info?.segmentation === Segmentation.SEGMENTED_TRANSMIT;
    return (segmented ? apdu * SEGMENTS_USED : apdu) - 16;
  }

  #batches(objects: readonly ObjectRead[]): ObjectRead[][] {
    const budget = this.#budget ?? this.#maxBudget();
    const batches: ObjectRead[][] = [];
    let current: ObjectRead[] = [];
    let size = 0;
    for (const o of objects) {
      const bytes = objectBytes(o);
      if (current.length > 0 && size + bytes > budget) {
        batches.push(current);
        current = [];
        size = 0;
      }
      current.push(o);
      size += bytes;
    }
    if (current.length > 0) batches.push(current);
    return batches;
  }

  /** Returns true when the device rejected RPM itself (then the caller reads singly). */
  async #readMultiple(objects: readonly ObjectRead[], out: Map<ReadTarget, Reading>): Promise<boolean> {
    const results = await Promise.all(this.#batches(objects).map((batch) => this.#readBatch(batch, out)));
    return results.some((r) => r === 'rejected');
  }

  async #readBatch(batch: readonly ObjectRead[], out: Map<ReadTarget, Reading>): Promise<'ok' | 'rejected'> {
    const specs: BACNetReadAccessSpecification[] = batch.map((o) => ({ objectId: { type: o.objectType, instance: o.instance }, properties: o.properties }));
    const segmented = this.#maxBudget() > Math.min(this.#link.info?.maxApdu ?? 480, 1476);
    const ts = Date.now();
    try {
      const ack = await this.#link.request('ReadPropertyMultiple', (c, a) => c.readPropertyMultiple(a, specs, segmented ? {} : { maxSegments: 0 }));
      ack.values.forEach((result, i) => {
        const o = batch[i];
        if (!o) return;
        const values = new Map<number, readonly BACNetAppData[]>();
        const errors = new Map<number, string>();
        for (const p of result.values) {
          const first = p.value[0] as (BACNetAppData & { value: unknown }) | undefined;
          if (first?.type === ERROR_TAG) {
            const e = first.value as { errorClass: number; errorCode: number };
            errors.set(p.id, describeError(`Class:${e.errorClass} - Code:${e.errorCode}`));
          } else values.set(p.id, p.value);
        }
        const status = statusFrom(values);
        for (const t of o.targets) {
          const data = values.get(t.address.property);
          out.set(t, data ? toReading(this.#device, t.point, t.address, data, status, ts) : badReading(this.#device, t.point.name, errors.get(t.address.property) ?? 'not in the reply', ts));
        }
      });
      return 'ok';
    } catch (err) {
      const kind = classifyError(err);
      if (kind === 'too-big' && batch.length > 1) {
        this.#budget = Math.max(64, Math.floor(batch.reduce((s, o) => s + objectBytes(o), 0) / 2));
        const half = Math.ceil(batch.length / 2);
        const parts = await Promise.all([this.#readBatch(batch.slice(0, half), out), this.#readBatch(batch.slice(half), out)]);
        return parts.includes('rejected') ? 'rejected' : 'ok';
      }
      if (kind === 'unsupported' && !isSwarmgateError(err)) return 'rejected';
      if (kind === 'error' && batch.length > 1) {
        // One unknown object can fail a whole RPM on some devices: read the objects one by one.
        const parts = await Promise.all(batch.map((o) => this.#readBatch([o], out)));
        return parts.includes('rejected') ? 'rejected' : 'ok';
      }
      const cause = isSwarmgateError(err) ? `${err.code}: ${err.message}` : describeError(err);
      for (const o of batch) for (const t of o.targets) out.set(t, badReading(this.#device, t.point.name, cause, ts));
      return 'ok';
    }
  }

  async #readSingly(objects: readonly ObjectRead[], out: Map<ReadTarget, Reading>): Promise<void> {
    await Promise.all(
      objects.flatMap((o) =>
        o.targets.map(async (t) => {
          const objectId = { type: o.objectType, instance: o.instance };
          const ts = Date.now();
          try {
            const ack = await this.#link.request('ReadProperty', (c, a) =>
              c.readProperty(a, objectId, t.address.property, t.address.arrayIndex === undefined ? {} : { arrayIndex: t.address.arrayIndex }),
            );
            const values = new Map<number, readonly BACNetAppData[]>();
            if (t.address.property === PropertyIdentifier.PRESENT_VALUE) {
              await this.#readStatusSingly(objectId, values);
            }
            out.set(t, toReading(this.#device, t.point, t.address, ack.values, statusFrom(values), ts));
          } catch (err) {
            out.set(t, badReading(this.#device, t.point.name, isSwarmgateError(err) ? `${err.code}: ${err.message}` : describeError(err), ts));
          }
        }),
      ),
    );
  }

  /** status-flags, and reliability only when status-flags says fault (one more request on the slow path). */
  async #readStatusSingly(objectId: { type: number; instance: number }, values: Map<number, readonly BACNetAppData[]>): Promise<void> {
    try {
      const flags = await this.#link.request('ReadProperty status-flags', (c, a) => c.readProperty(a, objectId, PropertyIdentifier.STATUS_FLAGS));
      values.set(PropertyIdentifier.STATUS_FLAGS, flags.values);
      const bits = (flags.values[0]?.value as { value?: number[] } | undefined)?.value;
      if (bits && ((bits[0] ?? 0) & 0b10) !== 0) {
        const rel = await this.#link.request('ReadProperty reliability', (c, a) => c.readProperty(a, objectId, PropertyIdentifier.RELIABILITY));
        values.set(PropertyIdentifier.RELIABILITY, rel.values);
      }
    } catch (err) {
      if (isSwarmgateError(err)) throw err;
      // objects without status-flags (a Device object's properties): the value stands alone
    }
  }
}
