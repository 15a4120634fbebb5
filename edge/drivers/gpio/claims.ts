/**
 * The GPIO lines a device claims, for the config check across devices: a line (a BCM pin of one
 * chip) belongs to one point of one device. Two points on one pin would fight over it: two outputs
 * drive it against each other, and a second export of a sysfs line fails at start.
 */
import type { DeviceClaim, DeviceSpec } from '../driver.js';
import { DEFAULT_SYSFS_ROOT, type GpioAddress, type GpioChipSettings, type GpioConnection } from './settings.js';

/**
 * Which chip a connection opens, as a key and in words. A simulated chip is its host and port; a
 * sysfs chip its folder and the base or label that picks it, and without either the header chip
 * (what `auto` opens too).
 */
export function gpioChipIdentity(chip: GpioChipSettings): { key: string; label: string } {
  if (chip.kind === 'sim') {
    const host = chip.host.toLowerCase() === 'localhost' ? '127.0.0.1' : chip.host.toLowerCase();
    return { key: `sim ${host}:${chip.port}`, label: `the simulated chip at ${chip.host}:${chip.port}` };
  }
  const root = chip.kind === 'sysfs' ? (chip.sysfsRoot ?? DEFAULT_SYSFS_ROOT) : DEFAULT_SYSFS_ROOT;
  const which = chip.kind === 'sysfs' && chip.base !== undefined ? `base ${chip.base}` : chip.kind === 'sysfs' && chip.label !== undefined ? `label ${chip.label}` : 'header';
  const named = which === 'header' ? 'the header chip' : `the chip with ${which}`;
  return { key: `sysfs ${root} ${which}`, label: root === DEFAULT_SYSFS_ROOT ? named : `${named} under ${root}` };
}

export function gpioClaims(device: DeviceSpec<GpioConnection, GpioAddress>): DeviceClaim[] {
  const chip = gpioChipIdentity(device.connection.chip);
  return device.points.map((point, i) => ({
    resource: `gpio ${chip.key} pin ${point.address.pin}`,
    label: `BCM pin ${point.address.pin} of ${chip.label}`,
    kind: 'exclusive',
    rule: 'a GPIO line belongs to one point of one device',
    path: `/points/${i}/address/pin`,
    connectionPath: '/connection/chip',
    point: point.name,
  }));
}
