/**
 * Write limits that allow no value are refused by the config check at the field's line: a profile
 * point whose min is above its max, and a site override whose bound lies beyond the profile's
 * other bound (each side narrows, and nothing is left between them). Otherwise every write to
 * the point would pass `edge check` and be refused at run time.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { checkGatewayConfigFile } from '../../edge/config/check-file.js';
import { loadConfig } from '../../edge/config/load.js';
import { builtinDrivers } from '../../edge/drivers/builtin.js';
import { formatProblem } from '../../shared/kit/config-file.js';
import { tempDir } from '../support/tmp.js';

const AHU = fileURLToPath(new URL('../../devices/profiles/ahu-modbus.yaml', import.meta.url));
const registry = builtinDrivers();
const dir = tempDir('swg-config-limits-');
afterAll(() => dir.remove());

function write(name: string, text: string): string {
  const file = join(dir.path, name);
  writeFileSync(file, text);
  return file;
}

const site = (limits: string): string =>
  write('site.yaml', `gateway: { id: gw-1, site: s }\ndevices:\n  - id: ahu1\n    protocol: modbus-tcp\n    profile: ${AHU}\n    connection: { host: h }\n    points:\n      fan_speed_setpoint: { limits: ${limits} }\n`);
const problems = (file: string): string[] => checkGatewayConfigFile(file, registry).problems.map(formatProblem);

describe('config check: write limits that allow no value', () => {
  it('refuses a site min above the profile max and a site max below the profile min, at the field', () => {
    // ahu-modbus: fan_speed_setpoint limits [0, 100].
    const above = site('{ min: 150 }');
    expect(problems(above)).toEqual([`${above}:8:44: devices[0].points.fan_speed_setpoint.limits.min: "fan_speed_setpoint": min 150 is above the profile "ahu-modbus"'s max (limits [0, 100]): no value could be written`]);
    const below = site('{ max: -5 }');
    expect(problems(below)).toEqual([`${below}:8:44: devices[0].points.fan_speed_setpoint.limits.max: "fan_speed_setpoint": max -5 is below the profile "ahu-modbus"'s min (limits [0, 100]): no value could be written`]);
    // One value left is a value: allowed.
    expect(loadConfig(site('{ min: 100 }'), registry).devices[0]!.points.find((p) => p.name === 'fan_speed_setpoint')?.limits).toEqual({ min: 100, max: 100 });
  });

  it('refuses a profile point whose min is above its max, in the profile at the point\'s limits', () => {
    const profile = write('p.yaml', 'profile: p\nprotocol: modbus\npoints:\n  - name: a\n    address: { table: holding, register: 0, type: uint16 }\n    writable: true\n    limits: { min: 100, max: 0 }\n');
    const config = write('gw.yaml', `gateway: { id: gw-1, site: s }\ndevices:\n  - { id: d1, protocol: modbus-tcp, profile: ${profile}, connection: { host: h } }\n`);
    expect(problems(config)).toEqual([`${profile}:7:13: points[0].limits: "a": min 100 is above max 0: no value could be written`]);
  });
});
