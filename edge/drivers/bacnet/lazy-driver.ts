/**
 * What the bacnet-ip manifest creates: a BacnetDriver imported (with @bacnet-js/client) on its
 * first use (edge/drivers/lazy-driver.ts): only gateways with a BACnet device load the library.
 */
import type { BrowseOptions, DeviceSpec, DriverContext, PointSpec, RelinquishableDriver } from '../driver.js';
import { LazyDriver } from '../lazy-driver.js';
import type { DiscoveredDevice } from './browse.js';
import type { BacnetDriver } from './driver.js';
import { resolveConnection, type BacnetAddress, type BacnetConnection, type ResolvedBacnetConnection } from './settings.js';

export class LazyBacnetDriver extends LazyDriver<BacnetDriver> implements RelinquishableDriver {
  readonly settings: ResolvedBacnetConnection;

  constructor(
    private readonly device: DeviceSpec<BacnetConnection, BacnetAddress>,
    private readonly context: DriverContext,
  ) {
    super();
    this.settings = resolveConnection(device.connection); // connection errors show at create, as before
  }

  protected async load(): Promise<BacnetDriver> {
    const { BacnetDriver } = await import('./driver.js');
    return new BacnetDriver(this.device, this.context);
  }

  /** Whether reads use ReadPropertyMultiple (false before the driver has read). */
  get usesReadPropertyMultiple(): boolean {
    return this.loaded?.usesReadPropertyMultiple ?? false;
  }

  /** Objects with a live COV subscription. */
  get covSubscriptions(): number {
    return this.loaded?.covSubscriptions ?? 0;
  }

  relinquish(point: PointSpec): Promise<void> {
    return this.call((d) => d.relinquish(point));
  }

  /** Who-Is and a description of every device that answered (commissioning; `edge discover`). */
  discover(options: BrowseOptions): Promise<DiscoveredDevice[]> {
    return this.call((d) => d.discover(options));
  }
}
