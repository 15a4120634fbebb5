export { gpioManifest, validateGpioDevice } from './manifest.js';
export { GpioDriver, toLevel, toLogical } from './driver.js';
export type { EdgeEvent, GpioChip, Level, LineConfig, LinkListener } from './chip.js';
export { openChip } from './open-chip.js';
export { SimChip } from './sim-chip.js';
export { SysfsChip, exportError, loadOnoff } from './sysfs-chip.js';
export { HEADER_CHIP_LABELS, listSysfsChips, resolveSysfsBase, sysfsLine, type SysfsBase, type SysfsChipInfo } from './sysfs-base.js';
export {
  DEFAULT_SYSFS_ROOT,
  GpioAddressSchema,
  GpioConnectionSchema,
  type GpioAddress,
  type GpioChipSettings,
  type GpioConnection,
  type GpioSimChipSettings,
  type GpioSysfsChipSettings,
} from './settings.js';
