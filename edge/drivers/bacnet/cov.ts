/**
 * Change of value for one device: SubscribeCOV per object (confirmed when any of its points asks for
 * it), renewed at half the lifetime so a subscription never lapses, and made again at once when the
 * device announces itself (I-Am after a restart) or answers again after an outage. A device that
 * restarted silently loses its subscriptions; the next renewal restores them, so COV is back within
 * one renewal period at worst.
 *
 * Every point not covered by a live subscription is polled at its poll interval: points on other
 * properties than present-value, objects without COV (the device refused), objects whose
 * subscription is waiting to be made again.
 */
import { ObjectType, PropertyIdentifier, type BACNetAppData } from '@bacnet-js/client';
import type { Logger } from 'pino';
import { errorMessage, isSwarmgateError } from '../../../shared/kit/errors.js';
import type { Reading, Subscription } from '../driver.js';
import { classifyError, describeError, type DeviceLink } from './device-link.js';
import type { BacnetNetwork, CovNotification } from './network.js';
import type { PointReader, ReadTarget } from './reader.js';
import { badReading, toReading } from './values.js';

/** After a failed subscribe (timeout, device busy): try again this soon, and poll meanwhile. */
const RETRY_MS = 10_000;
/** Cause of the readings of subscribed points when their device stops answering. */
export const OFFLINE_CAUSE = 'device not answering (SWG_ERR_DEVICE_TIMEOUT); COV suspended, polling until it answers';
/** Least time between two resubscriptions caused by I-Am. */
const ANNOUNCED_GAP_MS = 30_000;
/** How long close() waits for the device to confirm cancelled subscriptions. */
const CANCEL_WAIT_MS = 1000;

interface CovObject {
  readonly key: string;
  readonly objectType: number;
  readonly instance: number;
  readonly targets: ReadTarget[];
  confirmed: boolean;
  state: 'pending' | 'subscribed' | 'unsupported';
  /** Renewal or retry timer. */
  timer?: NodeJS.Timeout;
}

export interface CovOptions {
  readonly device: string;
  readonly network: BacnetNetwork;
  readonly link: DeviceLink;
  readonly reader: PointReader;
  readonly lifetimeSeconds: number;
  readonly log: Logger;
  readonly onReading: (reading: Reading) => void;
}

export class CovKeeper implements Subscription {
  readonly #o: CovOptions;
  readonly #objects = new Map<string, CovObject>();
  readonly #polled: ReadTarget[] = [];
  readonly #pollTimers = new Set<NodeJS.Timeout>();
  readonly #processId: number;
  readonly #releaseListener: () => void;
  readonly #unlisten: (() => void)[] = [];
  #closed = false;
  /** Last notification or answer from the device. */
  #lastHeard = Date.now();

  constructor(targets: readonly ReadTarget[], options: CovOptions) {
    this.#o = options;
    for (const t of targets) {
      if (t.address.cov === 'off' || t.address.property !== PropertyIdentifier.PRESENT_VALUE) {
        this.#polled.push(t);
        continue;
      }
      const key = `${t.address.objectType}:${t.address.instance}`;
      let o = this.#objects.get(key);
      if (!o) {
        o = { key, objectType: t.address.objectType, instance: t.address.instance, targets: [], confirmed: false, state: 'pending' };
        this.#objects.set(key, o);
      }
      o.targets.push(t);
      if (t.address.cov === 'confirmed') o.confirmed = true;
    }
    const registration = options.network.registerCovListener((n) => this.#onNotification(n));
    this.#processId = registration.processId;
    this.#releaseListener = registration.release;
    const resubscribeAll = (why: string) => () => {
      if (this.#closed) return;
      options.log.info({ why }, 'making COV subscriptions again');
      for (const o of this.#objects.values()) if (o.state !== 'unsupported') void this.#subscribe(o);
    };
    // Front ends on site send Who-Is often and every controller answers with I-Am: resubscribe on
    // an I-Am at most once per ANNOUNCED_GAP_MS, the renewal covers the rest.
    const announcedNow = resubscribeAll('device announced itself (I-Am)');
    let lastAnnounced = 0;
    const announced = (): void => {
      if (Date.now() - lastAnnounced < ANNOUNCED_GAP_MS) return;
      lastAnnounced = Date.now();
      announcedNow();
    };
    const online = resubscribeAll('device answers again');
    const offline = () => {
      // Subscribed points hear nothing from a dead device: say so now; polls take them over meanwhile.
      const ts = Date.now();
      for (const o of this.#objects.values()) {
        if (o.state !== 'subscribed') continue;
        o.state = 'pending';
        for (const t of o.targets) options.onReading(badReading(options.device, t.point.name, OFFLINE_CAUSE, ts));
      }
    };
    options.link.on('announced', announced);
    options.link.on('online', online);
    options.link.on('offline', offline);
    this.#unlisten.push(
      () => options.link.off('announced', announced),
      () => options.link.off('online', online),
      () => options.link.off('offline', offline),
    );
  }

  /** Subscribes every object and starts polling the rest. */
  async start(): Promise<void> {
    await Promise.all([...this.#objects.values()].map((o) => this.#subscribe(o)));
    const groups = new Map<number, ReadTarget[]>();
    const all = [...this.#polled, ...[...this.#objects.values()].flatMap((o) => o.targets)];
    for (const t of all) groups.set(t.point.pollIntervalMs, [...(groups.get(t.point.pollIntervalMs) ?? []), t]);
    for (const [interval, targets] of groups) this.#poll(interval, targets);
    if (this.#objects.size > 0) this.#watch(Math.min(30_000, Math.max(1000, 3 * Math.min(...all.map((t) => t.point.pollIntervalMs)))));
  }

  /**
   * COV is silent while nothing changes, and as silent when the device is dead: when nothing was
   * heard for probeMs, a cheap ReadProperty tells which (the link marks the device offline after
   * repeated timeouts, and online again on the first answer).
   */
  #watch(probeMs: number): void {
    const tick = async (): Promise<void> => {
      if (this.#closed) return;
      if (Date.now() - this.#lastHeard >= probeMs && this.subscribedObjects > 0) {
        try {
          await this.#o.link.request('liveness probe', (c, a) => c.readProperty(a, { type: ObjectType.DEVICE, instance: this.#o.link.instance }, PropertyIdentifier.SYSTEM_STATUS));
          this.#lastHeard = Date.now();
        } catch {
          // the link counts timeouts and raises 'offline'; an error reply is an answer
        }
      }
      if (this.#closed) return;
      const timer = setTimeout(() => {
        this.#pollTimers.delete(timer);
        void tick();
      }, probeMs);
      this.#pollTimers.add(timer);
    };
    const first = setTimeout(() => {
      this.#pollTimers.delete(first);
      void tick();
    }, probeMs);
    this.#pollTimers.add(first);
  }

  /** Objects with a live subscription (for health and tests). */
  get subscribedObjects(): number {
    return [...this.#objects.values()].filter((o) => o.state === 'subscribed').length;
  }

  #isPolled(t: ReadTarget): boolean {
    const o = this.#objects.get(`${t.address.objectType}:${t.address.instance}`);
    return !o || o.targets.indexOf(t) < 0 || o.state !== 'subscribed';
  }

  #poll(intervalMs: number, targets: readonly ReadTarget[]): void {
    const tick = async (): Promise<void> => {
      if (this.#closed) return;
      const due = targets.filter((t) => this.#isPolled(t));
      if (due.length > 0) {
        try {
          for (const r of await this.#o.reader.read(due)) if (!this.#closed) this.#o.onReading(r);
        } catch (err) {
          this.#o.log.error({ err: errorMessage(err) }, 'BACnet poll failed');
        }
      }
      if (this.#closed) return;
      const timer = setTimeout(() => {
        this.#pollTimers.delete(timer);
        void tick();
      }, intervalMs);
      this.#pollTimers.add(timer);
    };
    void tick();
  }

  async #subscribe(o: CovObject): Promise<void> {
    clearTimeout(o.timer);
    const lifetime = this.#o.lifetimeSeconds;
    try {
      await this.#o.link.request('SubscribeCOV', (c, a) =>
        c.subscribeCov(a, { type: o.objectType, instance: o.instance }, this.#processId, false, o.confirmed, lifetime),
      );
      if (this.#closed) return;
      this.#lastHeard = Date.now();
      if (o.state !== 'subscribed') this.#o.log.debug({ object: o.key, confirmed: o.confirmed, lifetime }, 'COV subscribed');
      o.state = 'subscribed';
      this.#schedule(o, (lifetime * 1000) / 2);
    } catch (err) {
      if (this.#closed) return;
      const kind = classifyError(err);
      if (!isSwarmgateError(err) && (kind === 'unsupported' || kind === 'error')) {
        // The device has no COV for this object: polled for good.
        o.state = 'unsupported';
        this.#o.log.info({ object: o.key, reason: describeError(err) }, 'no COV for this object; polling it');
        return;
      }
      o.state = 'pending';
      this.#schedule(o, Math.min(RETRY_MS, (lifetime * 1000) / 2));
    }
  }

  #schedule(o: CovObject, ms: number): void {
    clearTimeout(o.timer);
    o.timer = setTimeout(() => void this.#subscribe(o), ms);
  }

  #onNotification(n: CovNotification): void {
    if (this.#closed || n.initiatingDevice !== this.#o.link.instance) return;
    const o = this.#objects.get(`${n.object.type}:${n.object.instance}`);
    if (!o) return;
    this.#lastHeard = Date.now();
    const values = new Map<number, readonly BACNetAppData[]>(n.values.map((v) => [v.property.id, v.value]));
    const pv = values.get(PropertyIdentifier.PRESENT_VALUE);
    if (!pv) return;
    const flags = values.get(PropertyIdentifier.STATUS_FLAGS)?.[0]?.value as { value?: number[] } | undefined;
    const ts = Date.now();
    for (const t of o.targets) {
      this.#o.onReading(toReading(this.#o.device, t.point, t.address, pv, flags?.value ? { statusFlags: flags.value } : {}, ts));
    }
    // A notification proves the subscription is alive on the device (it may have been made by an earlier renewal).
    if (o.state === 'pending') {
      o.state = 'subscribed';
      this.#schedule(o, (this.#o.lifetimeSeconds * 1000) / 2);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const stop of this.#unlisten) stop();
    for (const timer of this.#pollTimers) clearTimeout(timer);
    this.#pollTimers.clear();
    const subscribed = [...this.#objects.values()].filter((o) => o.state === 'subscribed');
    for (const o of this.#objects.values()) clearTimeout(o.timer);
    // Cancel on the device so it stops sending; best effort (a dead device cannot be told).
    const cancelled = Promise.all(
      subscribed.map((o) =>
        this.#o.link
          .request('SubscribeCOV cancel', (c, a) => c.subscribeCov(a, { type: o.objectType, instance: o.instance }, this.#processId, true, false, 0))
          .catch(() => undefined),
      ),
    ).then(() => undefined);
    await Promise.race([cancelled, new Promise((resolve) => setTimeout(resolve, CANCEL_WAIT_MS).unref())]);
    this.#releaseListener();
  }
}
