/**
 * The one place the built-in protocols are registered. A new protocol is one folder under
 * edge/drivers/ with a manifest, and one line here.
 */
import { bacnetManifest } from './bacnet/manifest.js';
import { gpioManifest } from './gpio/manifest.js';
import { modbusRtuManifest, modbusTcpManifest } from './modbus/manifest.js';
import { opcuaManifest } from './opcua/manifest.js';
import { DriverRegistry, type AnyDriverManifest } from './registry.js';

let registry: DriverRegistry | undefined;

export function builtinDrivers(): DriverRegistry {
  registry ??= new DriverRegistry([modbusTcpManifest, modbusRtuManifest, opcuaManifest, gpioManifest, bacnetManifest] as AnyDriverManifest[]);
  return registry;
}
