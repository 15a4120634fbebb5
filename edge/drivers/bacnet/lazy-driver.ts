/**
 * What the bacnet-ip manifest creates: a BacnetDriver that is imported (with @bacnet-js/client)
 * on its first use, normally initialize(). Every gateway imports the manifest; only gateways with
 * a BACnet device load the driver and the library. Each call goes to the loaded driver, without an
 * extra await once it is there.
 */
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
import type { DiscoveredDevice } from './browse.js';
import type { BacnetDriver } from './driver.js';
import { resolveConnection, type BacnetAddress, type BacnetConnection, type ResolvedBacnetConnection } from './settings.js';

export class LazyBacnetDriver implements SubscribableDriver, BrowsableDriver, RelinquishableDriver {
  readonly settings: ResolvedBacnetConnection;
  readonly #device: DeviceSpec<BacnetConnection, BacnetAddress>;
  readonly #context: DriverContext;
  #driver: BacnetDriver | undefined;
  #loading: Promise<BacnetDriver> | undefined;

  constructor(device: DeviceSpec<BacnetConnection, BacnetAddress>, context: DriverContext) {
    this.#device = device;
    this.#context = context;
    this.settings = resolveConnection(device.connection); // connection errors show at create, as before
  }

  async #load(): Promise<BacnetDriver> {
    this.#loading ??= import('./driver.js').then(({ BacnetDriver }) => (this.#driver = new BacnetDriver(this.#device, this.#context)));
    return this.#loading;
  }

  #call<T>(use: (driver: BacnetDriver) => Promise<T>): Promise<T> {
    return this.#driver ? use(this.#driver) : this.#load().then(use);
  }

  /** Whether reads use ReadPropertyMultiple (false before the driver has read). */
  get usesReadPropertyMultiple(): boolean {
    return this.#driver?.usesReadPropertyMultiple ?? false;
  }

  /** Objects with a live COV subscription. */
  get covSubscriptions(): number {
    return this.#driver?.covSubscriptions ?? 0;
  }

  initialize(): Promise<void> {
    return this.#call((d) => d.initialize());
  }

  read(points: readonly PointSpec[]): Promise<Reading[]> {
    // Every poll: no closure once the driver is loaded.
    const driver = this.#driver;
    return driver ? driver.read(points) : this.#load().then((d) => d.read(points));
  }

  subscribe(points: readonly PointSpec[], onReading: (reading: Reading) => void): Promise<Subscription> {
    return this.#call((d) => d.subscribe(points, onReading));
  }

  write(point: PointSpec, value: PointValue): Promise<void> {
    return this.#call((d) => d.write(point, value));
  }

  relinquish(point: PointSpec): Promise<void> {
    return this.#call((d) => d.relinquish(point));
  }

  /** Who-Is and a description of every device that answered (commissioning; `edge discover`). */
  discover(options: BrowseOptions): Promise<DiscoveredDevice[]> {
    return this.#call((d) => d.discover(options));
  }

  browse(options: BrowseOptions): Promise<DiscoveredPoint[]> {
    return this.#call((d) => d.browse(options));
  }

  async stop(force = false): Promise<void> {
    // Never loaded: nothing to release (and nothing worth loading the library for).
    if (!this.#loading) return;
    await (await this.#loading).stop(force);
  }
}
