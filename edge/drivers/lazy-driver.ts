/**
 * A driver whose module (and the protocol library it imports) is loaded on first use, normally
 * initialize(): every gateway imports every manifest, only gateways with a device of that
 * protocol pay for its library. Each call goes to the loaded driver, without an extra await once
 * it is there. A protocol's own lazy driver extends this with what its driver adds (OPC UA's
 * state, BACnet's relinquish and discover).
 */
import type { BrowsableDriver, BrowseOptions, DiscoveredPoint, PointSpec, PointValue, Reading, SubscribableDriver, Subscription } from './driver.js';

export abstract class LazyDriver<D extends SubscribableDriver & BrowsableDriver> implements SubscribableDriver, BrowsableDriver {
  #driver: D | undefined;
  #loading: Promise<D> | undefined;

  /** Imports the driver's module and creates the driver (once). */
  protected abstract load(): Promise<D>;

  /** The driver, once loaded. */
  protected get loaded(): D | undefined {
    return this.#driver;
  }

  #load(): Promise<D> {
    this.#loading ??= this.load().then((d) => (this.#driver = d));
    return this.#loading;
  }

  protected call<T>(use: (driver: D) => Promise<T>): Promise<T> {
    return this.#driver ? use(this.#driver) : this.#load().then(use);
  }

  initialize(): Promise<void> {
    return this.call((d) => d.initialize());
  }

  read(points: readonly PointSpec[]): Promise<Reading[]> {
    // Every poll: no closure once the driver is loaded.
    const driver = this.#driver;
    return driver ? driver.read(points) : this.#load().then((d) => d.read(points));
  }

  subscribe(points: readonly PointSpec[], onReading: (reading: Reading) => void): Promise<Subscription> {
    return this.call((d) => d.subscribe(points, onReading));
  }

  write(point: PointSpec, value: PointValue): Promise<void> {
    return this.call((d) => d.write(point, value));
  }

  browse(options: BrowseOptions): Promise<DiscoveredPoint[]> {
    return this.call((d) => d.browse(options));
  }

  async stop(force = false): Promise<void> {
    // Never loaded: nothing to release (and nothing worth loading the library for).
    if (!this.#loading) return;
    await (await this.#loading).stop(force);
  }
}
