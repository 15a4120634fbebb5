/**
 * The BACnet/IP driver: one device per instance, on the gateway's shared BACnet/IP port for its
 * bind address. Reads through PointReader (RPM batches, RP fallback), subscribes through CovKeeper
 * (COV with polling fallback), writes present-value at the point's priority and relinquishes it,
 * and browses the network for commissioning.
 */
import { ApplicationTag, PropertyIdentifier, type BACNetAddress, type BACNetAppData } from '@bacnet-js/client';
import type { Logger } from 'pino';
import { SwarmgateError, isSwarmgateError } from '../../../shared/kit/errors.js';
import type {
  BrowsableDriver,
  BrowseOptions,
  DeviceSpec,
  DiscoveredPoint,
  DriverContext,
  PointSpec,
  PointValue,
  Reading,
  RelinquishableDriver,
  SubscribableDriver,
  Subscription,
} from '../driver.js';
import { browseNetwork, browseOptions, type DiscoveredDevice } from './browse.js';
import { CovKeeper } from './cov.js';
import { DeviceLink, describeError } from './device-link.js';
import { acquireNetwork, releaseNetwork, type BacnetClient, type BacnetNetwork } from './network.js';
import { PointReader, type ReadTarget } from './reader.js';
import {
  REFUSED_PRIORITIES,
  objectTypeName,
  propertyName,
  resolveAddress,
  resolveConnection,
  type BacnetAddress,
  type BacnetConnection,
  type ResolvedBacnetAddress,
  type ResolvedBacnetConnection,
} from './settings.js';
import { badReading, presentValueTag, toWriteData } from './values.js';

interface ResolvedPoints {
  readonly targets: ReadTarget[];
  readonly invalidPoints: PointSpec[];
  /** Every point resolved: the reader's readings come in the points' own order. */
  readonly inOrder: boolean;
}

export class BacnetDriver implements SubscribableDriver, BrowsableDriver, RelinquishableDriver {
  readonly settings: ResolvedBacnetConnection;
  readonly #device: DeviceSpec<BacnetConnection, BacnetAddress>;
  readonly #log: Logger;
  #network: BacnetNetwork | undefined;
  #link: DeviceLink | undefined;
  #reader: PointReader | undefined;
  readonly #keepers = new Set<CovKeeper>();

  constructor(device: DeviceSpec<BacnetConnection, BacnetAddress>, context: DriverContext) {
    this.#device = device;
    this.settings = resolveConnection(device.connection);
    this.#log = context.log.child({ protocol: 'bacnet-ip', deviceInstance: this.settings.deviceInstance });
  }

  /** Whether reads use ReadPropertyMultiple (false before the first read, or after the device rejected it). */
  get usesReadPropertyMultiple(): boolean {
    return this.#reader?.usesRpm ?? false;
  }

  /** Objects with a live COV subscription over all subscriptions of this driver. */
  get covSubscriptions(): number {
    return [...this.#keepers].reduce((n, k) => n + k.subscribedObjects, 0);
  }

  async initialize(): Promise<void> {
    const s = this.settings;
    if (!this.#network) {
      const network = acquireNetwork(
        { bindHost: s.bindHost, bindPort: s.bindPort, apduTimeoutMs: s.apduTimeoutMs, ...(s.broadcastAddress ? { broadcastAddress: s.broadcastAddress } : {}), ...(s.bbmd ? { bbmd: s.bbmd } : {}) },
        this.#log,
      );
      try {
        await network.ready();
      } catch (err) {
        releaseNetwork(network);
        throw err;
      }
      this.#network = network;
      this.#link = new DeviceLink(network, s, this.#log);
      this.#reader = new PointReader(this.#link, this.#device.id, s.readPropertyMultiple);
    }
    if (this.#link?.info || this.#device.points.length === 0) return; // discovery drivers have no device of their own
    try {
      await this.#link?.loadInfo();
    } catch (err) {
      // The runtime retries initialize; the port stays ours until stop().
      throw isSwarmgateError(err)
        ? err
        : new SwarmgateError('SWG_ERR_DEVICE_UNREACHABLE', `BACnet device ${s.deviceInstance}: reading its Device object failed: ${describeError(err)}`, { cause: err });
    }
  }

  /** Resolved once per point list: the runtime passes the same list every poll. */
  readonly #resolved = new WeakMap<readonly PointSpec[], ResolvedPoints>();

  #targets(points: readonly PointSpec[]): { targets: ReadTarget[]; invalid: Reading[]; inOrder: boolean } {
    let resolved = this.#resolved.get(points);
    if (!resolved) {
      resolved = this.#resolve(points);
      this.#resolved.set(points, resolved);
    }
    const cause = 'unknown BACnet object type or property name (SWG_ERR_CONFIG_INVALID)';
    return { targets: resolved.targets, invalid: resolved.inOrder ? [] : resolved.invalidPoints.map((p) => badReading(this.#device.id, p.name, cause)), inOrder: resolved.inOrder };
  }

  #resolve(points: readonly PointSpec[]): ResolvedPoints {
    const targets: ReadTarget[] = [];
    const invalidPoints: PointSpec[] = [];
    for (const point of points) {
      const address = resolveAddress(point.address as BacnetAddress);
      if (address) targets.push({ point, address });
      else invalidPoints.push(point);
    }
    return { targets, invalidPoints, inOrder: invalidPoints.length === 0 };
  }

  read(points: readonly PointSpec[]): Promise<Reading[]> {
    const reader = this.#reader;
    if (!reader) return Promise.resolve(points.map((p) => badReading(this.#device.id, p.name, 'driver not initialized (SWG_ERR_DEVICE_NOT_CONNECTED)')));
    const { targets, invalid, inOrder } = this.#targets(points);
    // Every point resolved (the usual case): the reader's readings are already in the points' order.
    if (inOrder) return reader.read(targets);
    return this.#readReordered(reader, points, targets, invalid);
  }

  async #readReordered(reader: PointReader, points: readonly PointSpec[], targets: readonly ReadTarget[], invalid: readonly Reading[]): Promise<Reading[]> {
    const readings = await reader.read(targets);
    const byPoint = new Map([...readings, ...invalid].map((r) => [r.point, r]));
    return points.map((p) => byPoint.get(p.name) ?? badReading(this.#device.id, p.name, 'not read'));
  }

  async subscribe(points: readonly PointSpec[], onReading: (reading: Reading) => void): Promise<Subscription> {
    const network = this.#network;
    const link = this.#link;
    const reader = this.#reader;
    if (!network || !link || !reader) throw new SwarmgateError('SWG_ERR_DEVICE_NOT_CONNECTED', `BACnet device ${this.#device.id}: subscribe before initialize`);
    const { targets, invalid } = this.#targets(points);
    for (const r of invalid) onReading(r);
    const keeper = new CovKeeper(targets, { device: this.#device.id, network, link, reader, lifetimeSeconds: this.settings.covLifetimeSeconds, log: this.#log, onReading });
    this.#keepers.add(keeper);
    await keeper.start();
    return {
      close: async () => {
        this.#keepers.delete(keeper);
        await keeper.close();
      },
    };
  }

  #writeTarget(point: PointSpec): { link: DeviceLink; address: ResolvedBacnetAddress; where: string } {
    const link = this.#link;
    if (!link) throw new SwarmgateError('SWG_ERR_DEVICE_NOT_CONNECTED', `BACnet device ${this.#device.id} is not initialized`);
    const address = resolveAddress(point.address as BacnetAddress);
    if (!address) throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `point ${point.name}: unknown BACnet object type or property name`);
    const refused = REFUSED_PRIORITIES[address.priority];
    if (refused) {
      throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `point ${point.name}: priority ${address.priority} (${refused}) is not for a gateway`, { details: { point: point.name, priority: address.priority } });
    }
    const where = `${objectTypeName(address.objectType)} ${address.instance} ${propertyName(address.property)} of device ${this.settings.deviceInstance}`;
    return { link, address, where };
  }

  async write(point: PointSpec, value: PointValue): Promise<void> {
    const { link, address, where } = this.#writeTarget(point);
    let learned: ApplicationTag | undefined;
    if (address.property !== PropertyIdentifier.PRESENT_VALUE || presentValueTag(address.objectType) === undefined) {
      // The tag of any other property is what the device holds now.
      const current = await this.#request(link, `read of ${where} (for its data type)`, (c, a) =>
        c.readProperty(a, { type: address.objectType, instance: address.instance }, address.property, address.arrayIndex === undefined ? {} : { arrayIndex: address.arrayIndex }),
      );
      learned = current.values[0]?.type;
    }
    await this.#writeData(link, address, where, point, toWriteData(point, address, value, learned));
  }

  async relinquish(point: PointSpec): Promise<void> {
    const { link, address, where } = this.#writeTarget(point);
    if (address.property !== PropertyIdentifier.PRESENT_VALUE) {
      throw new SwarmgateError('SWG_ERR_POINT_RELINQUISH', `point ${point.name}: only present-value has command priorities, not ${propertyName(address.property)}`);
    }
    await this.#writeData(link, address, where, point, { type: ApplicationTag.NULL, value: null });
  }

  async #writeData(link: DeviceLink, address: ResolvedBacnetAddress, where: string, point: PointSpec, data: BACNetAppData): Promise<void> {
    const commandable = address.property === PropertyIdentifier.PRESENT_VALUE;
    await this.#request(link, `WriteProperty of ${where}`, (c, a) =>
      c.writeProperty(a, { type: address.objectType, instance: address.instance }, address.property, [data], {
        ...(commandable ? { priority: address.priority } : {}),
        ...(address.arrayIndex === undefined ? {} : { arrayIndex: address.arrayIndex }),
      }),
    );
    this.#log.debug({ point: point.name, priority: commandable ? address.priority : undefined, relinquish: data.type === ApplicationTag.NULL }, 'BACnet write acknowledged');
  }

  async #request<T>(link: DeviceLink, what: string, run: (client: BacnetClient, address: BACNetAddress) => Promise<T>): Promise<T> {
    try {
      return await link.request(what, run);
    } catch (err) {
      if (isSwarmgateError(err)) throw err;
      throw new SwarmgateError('SWG_ERR_DEVICE_EXCEPTION', `${what} refused: ${describeError(err)}`, { cause: err, details: { deviceInstance: this.settings.deviceInstance } });
    }
  }

  /** Who-Is and a description of every device that answered (commissioning; `edge discover`). */
  async discover(options: BrowseOptions): Promise<DiscoveredDevice[]> {
    const network = this.#network;
    if (!network) throw new SwarmgateError('SWG_ERR_DEVICE_NOT_CONNECTED', 'discover before initialize');
    return browseNetwork(network, this.settings, browseOptions(options), options.log ?? this.#log);
  }

  async browse(options: BrowseOptions): Promise<DiscoveredPoint[]> {
    const found = await this.discover(options);
    return found.flatMap((d) => d.points);
  }

  async stop(force = false): Promise<void> {
    const keepers = [...this.#keepers];
    this.#keepers.clear();
    if (!force) await Promise.all(keepers.map((k) => k.close()));
    else for (const k of keepers) void k.close();
    this.#link?.stop();
    this.#link = undefined;
    this.#reader = undefined;
    if (this.#network) releaseNetwork(this.#network);
    this.#network = undefined;
  }
}
