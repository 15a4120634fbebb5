/**
 * What the opcua manifest creates: an OpcuaDriver that is imported (with node-opcua-client) on its
 * first use, normally initialize(). Every gateway imports the manifest; only gateways with an OPC UA
 * device load the driver and the library. Each call goes to the loaded driver, without an extra
 * await once it is there.
 */
import type { BrowsableDriver, BrowseOptions, DeviceSpec, DiscoveredPoint, DriverContext, PointSpec, PointValue, Reading, SubscribableDriver, Subscription } from '../driver.js';
import type { OpcuaDriver } from './driver.js';
import type { OpcuaAddress, OpcuaConnection } from './settings.js';

export class LazyOpcuaDriver implements SubscribableDriver, BrowsableDriver {
  readonly #device: DeviceSpec<OpcuaConnection, OpcuaAddress>;
  readonly #context: DriverContext;
  #driver: OpcuaDriver | undefined;
  #loading: Promise<OpcuaDriver> | undefined;

  constructor(device: DeviceSpec<OpcuaConnection, OpcuaAddress>, context: DriverContext) {
    this.#device = device;
    this.#context = context;
  }

  async #load(): Promise<OpcuaDriver> {
    this.#loading ??= import('./driver.js').then(({ OpcuaDriver }) => (this.#driver = new OpcuaDriver(this.#device, this.#context)));
    return this.#loading;
  }

  #call<T>(use: (driver: OpcuaDriver) => Promise<T>): Promise<T> {
    return this.#driver ? use(this.#driver) : this.#load().then(use);
  }

  /** The connection's state (for health reporting); 'idle' until the driver is loaded. */
  get state(): OpcuaDriver['state'] {
    return this.#driver?.state ?? 'idle';
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

  browse(options: BrowseOptions): Promise<DiscoveredPoint[]> {
    return this.#call((d) => d.browse(options));
  }

  async stop(force = false): Promise<void> {
    // Never loaded: nothing to release (and nothing worth loading the library for).
    if (!this.#loading) return;
    await (await this.#loading).stop(force);
  }
}
