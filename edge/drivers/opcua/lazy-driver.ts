/**
 * What the opcua manifest creates: an OpcuaDriver imported (with node-opcua-client) on its first
 * use (edge/drivers/lazy-driver.ts): only gateways with an OPC UA device load the library.
 */
import type { DeviceSpec, DriverContext } from '../driver.js';
import { LazyDriver } from '../lazy-driver.js';
import type { OpcuaDriver } from './driver.js';
import type { OpcuaAddress, OpcuaConnection } from './settings.js';

export class LazyOpcuaDriver extends LazyDriver<OpcuaDriver> {
  constructor(
    private readonly device: DeviceSpec<OpcuaConnection, OpcuaAddress>,
    private readonly context: DriverContext,
  ) {
    super();
  }

  protected async load(): Promise<OpcuaDriver> {
    const { OpcuaDriver } = await import('./driver.js');
    return new OpcuaDriver(this.device, this.context);
  }

  /** The connection's state (for health reporting); 'idle' until the driver is loaded. */
  get state(): OpcuaDriver['state'] {
    return this.loaded?.state ?? 'idle';
  }
}
