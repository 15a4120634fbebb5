/**
 * BCM pin -> sysfs line number. Newer Raspberry Pi kernels no longer number the SoC GPIOs from
 * 0: since 6.6 the Pi 4 header chip (pinctrl-bcm2711) starts at 512 and the Pi 5 RP1 chip
 * (pinctrl-rp1) at 571, so exporting "17" silently claims a line of another chip or fails with
 * EINVAL. We read <sysfsRoot>/gpiochip*\/{base,label,ngpio} and pick the header chip.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SwarmgateError } from '../../../shared/kit/errors.js';

/** Labels of the chips that drive the 40-pin header, most specific first. */
export const HEADER_CHIP_LABELS = ['pinctrl-rp1', 'pinctrl-bcm2711', 'pinctrl-bcm2835'] as const;

export interface SysfsChipInfo {
  /** Folder name, e.g. gpiochip512. */
  readonly name: string;
  readonly base: number;
  readonly ngpio: number;
  readonly label: string;
}

export interface SysfsBase {
  readonly base: number;
  /** Label of the chosen chip ('' when the base was configured). */
  readonly label: string;
  /** Lines on that chip (undefined when the base was configured). */
  readonly ngpio?: number;
  readonly source: 'override' | 'label' | 'detected';
}

function readTrimmed(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function listSysfsChips(sysfsRoot: string): SysfsChipInfo[] {
  let names: string[];
  try {
    names = readdirSync(sysfsRoot).filter((n) => /^gpiochip\d+$/.test(n));
  } catch {
    return [];
  }
  const chips: SysfsChipInfo[] = [];
  for (const name of names) {
    const base = Number(readTrimmed(join(sysfsRoot, name, 'base')));
    const ngpio = Number(readTrimmed(join(sysfsRoot, name, 'ngpio')));
    const label = readTrimmed(join(sysfsRoot, name, 'label')) ?? '';
    if (Number.isInteger(base) && Number.isInteger(ngpio)) chips.push({ name, base, ngpio, label });
  }
  return chips.sort((a, b) => a.base - b.base);
}

export function resolveSysfsBase(sysfsRoot: string, options: { readonly base?: number; readonly label?: string }): SysfsBase {
  if (options.base !== undefined) return { base: options.base, label: options.label ?? '', source: 'override' };
  const chips = listSysfsChips(sysfsRoot);
  const found = chips.map((c) => `${c.name} (label ${c.label || '?'}, base ${c.base}, ${c.ngpio} lines)`).join(', ') || 'none';
  if (options.label !== undefined) {
    const chip = chips.find((c) => c.label === options.label);
    if (!chip) {
      throw new SwarmgateError('SWG_ERR_GPIO_EXPORT', `no gpiochip labelled "${options.label}" under ${sysfsRoot}; found: ${found}. Set chip.label to one of them or chip.base`, {
        details: { sysfsRoot, label: options.label },
      });
    }
    return { base: chip.base, label: chip.label, ngpio: chip.ngpio, source: 'label' };
  }
  for (const label of HEADER_CHIP_LABELS) {
    const chip = chips.find((c) => c.label === label);
    if (chip) return { base: chip.base, label: chip.label, ngpio: chip.ngpio, source: 'detected' };
  }
  throw new SwarmgateError(
    'SWG_ERR_GPIO_EXPORT',
    `cannot tell which gpiochip under ${sysfsRoot} drives the header (looked for ${HEADER_CHIP_LABELS.join(', ')}); found: ${found}. Set chip.label or chip.base`,
    { details: { sysfsRoot } },
  );
}

/** The sysfs line number of a BCM pin; rejects pins beyond the chip. */
export function sysfsLine(pin: number, base: SysfsBase): number {
  if (base.ngpio !== undefined && pin >= base.ngpio) {
    throw new SwarmgateError('SWG_ERR_GPIO_EXPORT', `BCM pin ${pin} does not exist on ${base.label} (${base.ngpio} lines, base ${base.base})`, {
      details: { pin, base: base.base, label: base.label },
    });
  }
  return base.base + pin;
}
