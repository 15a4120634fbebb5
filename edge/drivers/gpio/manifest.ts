/**
 * The GPIO driver manifest: schemas, input/output option checks, the lines a device claims (one
 * point of one device per line: claims.ts, checked across the config), factory.
 */
import type { DeviceSpec, DriverManifest, ValidationProblem } from '../driver.js';
import { gpioClaims } from './claims.js';
import { GpioDriver } from './driver.js';
import { GpioAddressSchema, GpioConnectionSchema, type GpioAddress, type GpioConnection } from './settings.js';

export function validateGpioDevice(device: DeviceSpec<GpioConnection, GpioAddress>): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  device.points.forEach((point, i) => {
    const a = point.address;
    const at = `/points/${i}/address`;
    if (a.direction === 'out') {
      if (a.edge !== undefined && a.edge !== 'none') problems.push({ path: `${at}/edge`, message: 'edge applies to inputs only' });
      if (a.debounceMs !== undefined && a.debounceMs > 0) problems.push({ path: `${at}/debounceMs`, message: 'debounceMs applies to inputs only' });
    } else {
      if (a.initial !== undefined) problems.push({ path: `${at}/initial`, message: 'initial applies to outputs only' });
      if (point.writable) problems.push({ path: `/points/${i}/writable`, message: `BCM pin ${a.pin} is an input and cannot be written` });
    }
  });
  return problems;
}

export const gpioManifest: DriverManifest<typeof GpioConnectionSchema, typeof GpioAddressSchema> = {
  protocol: 'gpio',
  profileProtocol: 'gpio',
  description: 'GPIO lines (sysfs via onoff, or the simulated chip): inputs with edge interrupts and debounce, outputs, active-low',
  connectionSchema: GpioConnectionSchema,
  addressSchema: GpioAddressSchema,
  capabilities: { subscribe: true, browse: false },
  pathFields: [['chip', 'sysfsRoot']],
  validate: validateGpioDevice,
  claims: gpioClaims,
  valueType: () => 'boolean',
  create: (device, context) => new GpioDriver(device, context),
};
