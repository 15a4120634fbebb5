/**
 * Reads points of one device: ReadPropertyMultiple in batches that fit the device's max APDU
 * (times a few segments when it can send segmented replies), halved when the device aborts a batch
 * as too long; ReadProperty per point when the device has no RPM (per its services-supported, a
 * reject, or the connection setting). Alongside a present-value it reads status-flags and
 * reliability, which give the reading's quality. Never rejects: failures become bad readings.
 *
 * The runtime reads the same point list every poll, so everything that depends only on the list
 * (objects, their property references, the batches and their request specifications) is planned once
 * per list and budget; a read then costs one request per batch and one reading per point.
 */
import { PropertyIdentifier, Segmentation, ServicesSupported, type BACNetAppData, type BACNetReadAccessSpecification } from '@bacnet-js/client';
import { isSwarmgateError } from '../../../shared/kit/errors.js';
import type { PointSpec, Reading } from '../driver.js';
import { classifyError, describeError, errorCodeName, type DeviceLink } from './device-link.js';
import type { ResolvedBacnetAddress } from './settings.js';
import { badReading, qualityFrom, readingOf, toReading, type ObjectStatus } from './values.js';

const ALL = 0xffffffff;
const ERROR_TAG = 105;
/** Segments a batch may take when the device sends segmented replies (the library reassembles them). */
const SEGMENTS_USED = 4;
// The library's enums are getters on its exports: read once.
const PRESENT_VALUE = PropertyIdentifier.PRESENT_VALUE;
const STATUS_FLAGS = PropertyIdentifier.STATUS_FLAGS;
const RELIABILITY = PropertyIdentifier.RELIABILITY;
const PRIORITY_ARRAY = PropertyIdentifier.PRIORITY_ARRAY;
const RPM_SERVICE = ServicesSupported.READ_PROPERTY_MULTIPLE;
const SEGMENTED_BOTH = Segmentation.SEGMENTED_BOTH;
const SEGMENTED_TRANSMIT = Segmentation.SEGMENTED_TRANSMIT;
const NOT_SEGMENTED = Object.freeze({ maxSegments: 0 });
const SEGMENTED = Object.freeze({});

export interface ReadTarget {
  readonly point: PointSpec;
  readonly address: ResolvedBacnetAddress;
}

interface ObjectRead {
  readonly objectType: number;
  readonly instance: number;
  readonly targets: ReadTarget[];
  /** Where each target's reading goes in the read's result (its position in the point list). */
  readonly slots: number[];
  /** Distinct property references of the object (the points' properties, then status ones). */
  readonly properties: { id: number; index: number }[];
  /** Estimated reply size (see replyBytes). */
  readonly bytes: number;
}

interface Batch {
  readonly objects: readonly ObjectRead[];
  readonly specs: readonly BACNetReadAccessSpecification[];
}

interface Plan {
  readonly objects: ObjectRead[];
  /** The batches for `budget` (planned again only when the budget changes). */
  batches?: { readonly budget: number; readonly list: readonly Batch[] };
}

/** A generous guess of a property's size in a reply: tags, opening/closing, value. */
function replyBytes(property: { id: number; index: number }): number {
  if (property.id === PRIORITY_ARRAY && property.index === ALL) return 100;
  if (property.id === STATUS_FLAGS || property.id === RELIABILITY) return 8;
  if (property.id === PRESENT_VALUE) return 16;
  return 48;
}

function batchOf(objects: readonly ObjectRead[]): Batch {
  return { objects, specs: objects.map((o) => ({ objectId: { type: o.objectType, instance: o.instance }, properties: o.properties })) };
}

function statusFrom(values: Map<number, readonly BACNetAppData[]>): ObjectStatus {
  const flags = values.get(STATUS_FLAGS)?.[0]?.value as { value?: number[] } | undefined;
  const reliability = values.get(RELIABILITY)?.[0]?.value;
  return {
    ...(flags?.value ? { statusFlags: flags.value } : {}),
    ...(typeof reliability === 'number' ? { reliability } : {}),
  };
}

type PropertyResult = { readonly id: number; readonly index: number; readonly value: readonly BACNetAppData[] };

export class PointReader {
  readonly #link: DeviceLink;
  readonly #device: string;
  readonly #useRpm: boolean;
  /** Set once the device rejected RPM. */
  #rpmRejected = false;
  readonly #plans = new WeakMap<readonly ReadTarget[], Plan>();
  /** The last learned batch budget in bytes (shrinks when the device aborts a batch as too long). */
  #budget: number | undefined;

  constructor(link: DeviceLink, device: string, useRpm: boolean) {
    this.#link = link;
    this.#device = device;
    this.#useRpm = useRpm;
  }

  /** Whether reads go through RPM (for logs and tests). */
  get usesRpm(): boolean {
    return this.#useRpm && !this.#rpmRejected && this.#link.supports(RPM_SERVICE) !== false;
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
    let plan = this.#plans.get(targets);
    if (!plan) {
      plan = { objects: this.#group(targets) };
      this.#plans.set(targets, plan);
    }
    const out = new Array<Reading | undefined>(targets.length);
    if (this.usesRpm) {
      const rejected = await this.#readMultiple(plan, out);
      if (rejected) {
        this.#rpmRejected = true;
        await this.#readSingly(plan.objects, out);
      }
    } else {
      await this.#readSingly(plan.objects, out);
    }
    const readings = out as Reading[];
    for (let i = 0; i < targets.length; i++) {
      if (readings[i] === undefined) readings[i] = badReading(this.#device, (targets[i] as ReadTarget).point.name, 'not read');
    }
    return readings;
  }

  #group(targets: readonly ReadTarget[]): ObjectRead[] {
    const byObject = new Map<string, Omit<ObjectRead, 'bytes'>>();
    targets.forEach((t, slot) => {
      const key = `${t.address.objectType}:${t.address.instance}`;
      let o = byObject.get(key);
      if (!o) {
        o = { objectType: t.address.objectType, instance: t.address.instance, targets: [], slots: [], properties: [] };
        byObject.set(key, o);
      }
      o.targets.push(t);
      o.slots.push(slot);
      const ref = { id: t.address.property, index: t.address.arrayIndex ?? ALL };
      if (!o.properties.some((p) => p.id === ref.id && p.index === ref.index)) o.properties.push(ref);
    });
    const objects: ObjectRead[] = [];
    for (const o of byObject.values()) {
      if (o.targets.some((t) => t.address.property === PRESENT_VALUE)) {
        for (const id of [STATUS_FLAGS, RELIABILITY]) {
          if (!o.properties.some((p) => p.id === id)) o.properties.push({ id, index: ALL });
        }
      }
      objects.push({ ...o, bytes: 8 + o.properties.reduce((sum, p) => sum + replyBytes(p), 0) });
    }
    return objects;
  }

  #maxBudget(): number {
    const info = this.#link.info;
    const apdu = Math.min(info?.maxApdu ?? 480, 1476);
    const segmented = info?.segmentation === SEGMENTED_BOTH || info?.segmentation === SEGMENTED_TRANSMIT;
    return (segmented ? apdu * SEGMENTS_USED : apdu) - 16;
  }

  #batches(plan: Plan): readonly Batch[] {
    const budget = this.#budget ?? this.#maxBudget();
    if (plan.batches?.budget === budget) return plan.batches.list;
    const list: Batch[] = [];
    let current: ObjectRead[] = [];
    let size = 0;
    for (const o of plan.objects) {
      if (current.length > 0 && size + o.bytes > budget) {
        list.push(batchOf(current));
        current = [];
        size = 0;
      }
      current.push(o);
      size += o.bytes;
    }
    if (current.length > 0) list.push(batchOf(current));
    plan.batches = { budget, list };
    return list;
  }

  /** Returns true when the device rejected RPM itself (then the caller reads singly). */
  async #readMultiple(plan: Plan, out: (Reading | undefined)[]): Promise<boolean> {
    const batches = this.#batches(plan);
    const segmented = this.#maxBudget() > Math.min(this.#link.info?.maxApdu ?? 480, 1476);
    if (batches.length === 1) return (await this.#readBatch(batches[0] as Batch, segmented, out)) === 'rejected';
    return (await Promise.all(batches.map((batch) => this.#readBatch(batch, segmented, out)))).includes('rejected');
  }

  async #readBatch(batch: Batch, segmented: boolean, out: (Reading | undefined)[]): Promise<'ok' | 'rejected'> {
    const ts = Date.now();
    try {
      const ack = await this.#link.request('ReadPropertyMultiple', (c, a) => c.readPropertyMultiple(a, batch.specs as BACNetReadAccessSpecification[], segmented ? SEGMENTED : NOT_SEGMENTED));
      const objects = batch.objects;
      const n = Math.min(ack.values.length, objects.length);
      for (let i = 0; i < n; i++) this.#fromResult(objects[i] as ObjectRead, (ack.values[i] as { values: PropertyResult[] }).values, ts, out);
      return 'ok';
    } catch (err) {
      const kind = classifyError(err);
      const objects = batch.objects;
      if (kind === 'too-big' && objects.length > 1) {
        this.#budget = Math.max(64, Math.floor(objects.reduce((s, o) => s + o.bytes, 0) / 2));
        const half = Math.ceil(objects.length / 2);
        const parts = await Promise.all([this.#readBatch(batchOf(objects.slice(0, half)), segmented, out), this.#readBatch(batchOf(objects.slice(half)), segmented, out)]);
        return parts.includes('rejected') ? 'rejected' : 'ok';
      }
      if (kind === 'unsupported' && !isSwarmgateError(err)) return 'rejected';
      if (kind === 'error' && objects.length > 1) {
        // One unknown object can fail a whole RPM on some devices: read the objects one by one.
        const parts = await Promise.all(objects.map((o) => this.#readBatch(batchOf([o]), segmented, out)));
        return parts.includes('rejected') ? 'rejected' : 'ok';
      }
      const cause = isSwarmgateError(err) ? `${err.code}: ${err.message}` : describeError(err);
      for (const o of objects) o.targets.forEach((t, j) => (out[o.slots[j] as number] = badReading(this.#device, t.point.name, cause, ts)));
      return 'ok';
    }
  }

  /** The readings of one object's points from its part of an RPM reply. */
  #fromResult(o: ObjectRead, results: readonly PropertyResult[], ts: number, out: (Reading | undefined)[]): void {
    // status-flags and reliability, once per object: the quality all its points share
    let flags = 0;
    let reliability: number | undefined;
    for (const p of results) {
      if (p.id !== STATUS_FLAGS && p.id !== RELIABILITY) continue;
      const first = p.value[0];
      if (!first || first.type === ERROR_TAG) continue;
      if (p.id === STATUS_FLAGS) flags = (first.value as { value?: number[] } | undefined)?.value?.[0] ?? 0;
      else if (typeof first.value === 'number') reliability = first.value;
    }
    const quality = qualityFrom(flags, reliability);
    const targets = o.targets;
    for (let j = 0; j < targets.length; j++) {
      const t = targets[j] as ReadTarget;
      const property = t.address.property;
      const index = t.address.arrayIndex ?? ALL;
      let found: PropertyResult | undefined;
      for (const p of results) {
        if (p.id !== property) continue;
        found = p;
        if (p.index === index) break; // an exact array index wins over the same property at another one
      }
      const first = found?.value[0];
      out[o.slots[j] as number] =
        found === undefined
          ? badReading(this.#device, t.point.name, 'not in the reply', ts)
          : first?.type === ERROR_TAG
            ? badReading(this.#device, t.point.name, errorCodeName((first.value as { errorCode: number }).errorCode), ts)
            : readingOf(this.#device, t.point, t.address, found.value, quality, ts);
    }
  }

  async #readSingly(objects: readonly ObjectRead[], out: (Reading | undefined)[]): Promise<void> {
    await Promise.all(
      objects.flatMap((o) =>
        o.targets.map(async (t, j) => {
          const slot = o.slots[j] as number;
          const objectId = { type: o.objectType, instance: o.instance };
          const ts = Date.now();
          try {
            const ack = await this.#link.request('ReadProperty', (c, a) =>
              c.readProperty(a, objectId, t.address.property, t.address.arrayIndex === undefined ? {} : { arrayIndex: t.address.arrayIndex }),
            );
            const values = new Map<number, readonly BACNetAppData[]>();
            if (t.address.property === PRESENT_VALUE) {
              await this.#readStatusSingly(objectId, values);
            }
            out[slot] = toReading(this.#device, t.point, t.address, ack.values, statusFrom(values), ts);
          } catch (err) {
            out[slot] = badReading(this.#device, t.point.name, isSwarmgateError(err) ? `${err.code}: ${err.message}` : describeError(err), ts);
          }
        }),
      ),
    );
  }

  /** status-flags, and reliability only when status-flags says fault (one more request on the slow path). */
  async #readStatusSingly(objectId: { type: number; instance: number }, values: Map<number, readonly BACNetAppData[]>): Promise<void> {
    try {
      const flags = await this.#link.request('ReadProperty status-flags', (c, a) => c.readProperty(a, objectId, STATUS_FLAGS));
      values.set(STATUS_FLAGS, flags.values);
      const bits = (flags.values[0]?.value as { value?: number[] } | undefined)?.value;
      if (bits && ((bits[0] ?? 0) & 0b10) !== 0) {
        const rel = await this.#link.request('ReadProperty reliability', (c, a) => c.readProperty(a, objectId, RELIABILITY));
        values.set(RELIABILITY, rel.values);
      }
    } catch (err) {
      if (isSwarmgateError(err)) throw err;
      // objects without status-flags (a Device object's properties): the value stands alone
    }
  }
}
