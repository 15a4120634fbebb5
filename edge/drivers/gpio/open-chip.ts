/**
 * Picks the GpioChip implementation for a connection: sim over TCP, sysfs through onoff, or
 * auto (sysfs when accessible, else a clear error asking for kind: sim).
 */
import type { Logger } from 'pino';
import type { GpioChip } from './chip.js';
import type { GpioChipSettings } from './settings.js';
import { SimChip } from './sim-chip.js';
import { SysfsChip, loadOnoff, unavailable } from './sysfs-chip.js';

export async function openChip(settings: GpioChipSettings, log: Logger): Promise<GpioChip> {
  switch (settings.kind) {
    case 'sim':
      return SimChip.open(settings, log);
    case 'sysfs':
      return SysfsChip.open(settings);
    case 'auto': {
      let accessible = false;
      try {
        accessible = (await loadOnoff()).accessible;
      } catch (err) {
        throw unavailable(err);
      }
      if (!accessible) throw unavailable();
      return SysfsChip.open({});
    }
  }
}
