import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isSwarmgateError, type SwarmgateError } from '../../../shared/kit/errors.js';
import { exportError, listSysfsChips, resolveSysfsBase, sysfsLine } from '../../../edge/drivers/gpio/index.js';
import { tempDir } from '../../support/tmp.js';

const tmp = tempDir('swarmgate-sysfs-');
afterAll(() => tmp.remove());

/** A fake /sys/class/gpio with the given gpiochip folders. */
function fakeSysfs(name: string, chips: readonly { base: number; label: string; ngpio: number }[]): string {
  const root = join(tmp.path, name);
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'export'), '');
  writeFileSync(join(root, 'unexport'), '');
  for (const c of chips) {
    const dir = join(root, `gpiochip${c.base}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'base'), `${c.base}\n`);
    writeFileSync(join(dir, 'label'), `${c.label}\n`);
    writeFileSync(join(dir, 'ngpio'), `${c.ngpio}\n`);
  }
  return root;
}

const PI4 = fakeSysfs('pi4', [
  { base: 512, label: 'pinctrl-bcm2711', ngpio: 58 },
  { base: 570, label: 'raspberrypi-exp-gpio', ngpio: 8 },
]);
const PI5 = fakeSysfs('pi5', [
  { base: 512, label: 'gpio-brcmstb@107d508500', ngpio: 32 },
  { base: 544, label: 'gpio-brcmstb@107d517c00', ngpio: 15 },
  { base: 571, label: 'pinctrl-rp1', ngpio: 54 },
]);
const OLD = fakeSysfs('old-kernel', [
  { base: 0, label: 'pinctrl-bcm2835', ngpio: 54 },
  { base: 504, label: 'raspberrypi-exp-gpio', ngpio: 8 },
]);
const OTHER = fakeSysfs('other-board', [{ base: 0, label: 'gpio-mockup-A', ngpio: 8 }]);
const EMPTY = fakeSysfs('empty', []);

function thrown(fn: () => unknown): SwarmgateError {
  try {
    fn();
  } catch (err) {
    if (isSwarmgateError(err)) return err;
    throw err;
  }
  throw new Error('expected a SwarmgateError');
}

describe('sysfs GPIO base detection (fake sysfs trees)', () => {
  it.each([
    ['Pi 4, kernel >= 6.6', PI4, {}, 512, 'pinctrl-bcm2711', 17, 529],
    ['Pi 5 (RP1)', PI5, {}, 571, 'pinctrl-rp1', 17, 588],
    ['older kernel numbering from 0', OLD, {}, 0, 'pinctrl-bcm2835', 17, 17],
    ['base override wins over detection', PI4, { base: 100 }, 100, '', 17, 117],
    ['configured label', PI4, { label: 'raspberrypi-exp-gpio' }, 570, 'raspberrypi-exp-gpio', 3, 573],
    ['configured label on a non-Pi board', OTHER, { label: 'gpio-mockup-A' }, 0, 'gpio-mockup-A', 5, 5],
  ] as const)('%s', (_name, root, options, base, label, pin, line) => {
    const found = resolveSysfsBase(root, options);
    expect(found.base).toBe(base);
    expect(found.label).toBe(label);
    expect(sysfsLine(pin, found)).toBe(line);
  });

  it('lists chips sorted by base', () => {
    expect(listSysfsChips(PI5).map((c) => c.base)).toEqual([512, 544, 571]);
    expect(listSysfsChips(join(tmp.path, 'missing'))).toEqual([]);
  });

  it('no header chip: a clear error naming what was found and what to set', () => {
    const err = thrown(() => resolveSysfsBase(OTHER, {}));
    expect(err.code).toBe('SWG_ERR_GPIO_EXPORT');
    expect(err.message).toContain('gpio-mockup-A');
    expect(err.message).toMatch(/chip\.label or chip\.base/);
    expect(thrown(() => resolveSysfsBase(EMPTY, {})).message).toContain('found: none');
    expect(thrown(() => resolveSysfsBase(PI4, { label: 'pinctrl-rp1' })).message).toContain('no gpiochip labelled "pinctrl-rp1"');
  });

  it('pins beyond the chip are refused with the base in the message', () => {
    const err = thrown(() => sysfsLine(58, resolveSysfsBase(PI4, {})));
    expect(err.code).toBe('SWG_ERR_GPIO_EXPORT');
    expect(err.message).toContain('base 512');
  });

  it.each([
    ['EBUSY', /in use/],
    ['EACCES', /gpio group/],
    ['EINVAL', /base is probably wrong/],
  ])('export failure %s names pin, sysfs line and base', (code, hint) => {
    const base = resolveSysfsBase(PI4, {});
    const err = exportError(17, sysfsLine(17, base), base, Object.assign(new Error('boom'), { code }));
    expect(err.code).toBe('SWG_ERR_GPIO_EXPORT');
    expect(err.message).toContain('BCM pin 17');
    expect(err.message).toContain('gpio529');
    expect(err.message).toContain('base 512');
    expect(err.message).toContain(code);
    expect(err.message).toMatch(hint);
    expect(err.details).toMatchObject({ pin: 17, line: 529, base: 512, errno: code });
  });
});
