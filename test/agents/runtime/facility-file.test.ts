/**
 * The facility model file, read like the gateway and hub configs: every problem at once, each
 * naming file, line, column and field in words (the kinds a zone takes, what a time looks like),
 * duplicate ids with where the id was first used, and comfort bands whose minimum is not below
 * their maximum refused (the comfort agent would otherwise propose a change on every evaluation).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FacilityIndex } from '../../../hub/agents/facility.js';
import { loadFacilityModel } from '../../../hub/agents/runtime/index.js';
import { isSwarmgateError } from '../../../shared/kit/errors.js';
import { tempDir } from '../../support/tmp.js';

const dir = tempDir('swarmgate-facility-file-');
afterAll(() => dir.remove());

function write(name: string, text: string): string {
  const file = join(dir.path, name);
  writeFileSync(file, text);
  return file;
}

/** The message loadFacilityModel throws (SWG_ERR_CONFIG_INVALID). */
function refusal(file: string): string {
  try {
    loadFacilityModel(file);
  } catch (err) {
    expect(isSwarmgateError(err, 'SWG_ERR_CONFIG_INVALID'), String(err)).toBe(true);
    return (err as Error).message;
  }
  throw new Error(`${file} loaded`);
}

const zone = (extra = '', id = 'z1'): string => `      - id: ${id}
        kind: office
        schedule: { occupied: [ { days: [1,2,3,4,5], from: "07:00", to: "18:00" } ] }
        gateways:
          - id: gw-${id}
            points:
              - { device: ahu1, point: t, role: zone_temp }
${extra}`;

describe('loadFacilityModel: problems with file, line and field, in words', () => {
  it('names a wrong kind with the kinds there are, and a time that is not HH:MM, both at once', () => {
    const file = write(
      'words.yaml',
      `v: 1
sites:
  - id: s1
    zones:
      - id: z1
        kind: Office
        schedule: { occupied: [ { days: [1,2,3,4,5], from: 7:00, to: "18:00" } ] }
        gateways: []
`,
    );
    const message = refusal(file);
    expect(message).toContain(`2 problem(s) in ${file}`);
    expect(message).toContain(`${file}:6:15: sites[0].zones[0].kind: expected one of "office", "retail", "warehouse", "cold-room", "plant", "other", got "Office"`);
    expect(message).toContain(`${file}:7:60: sites[0].zones[0].schedule.occupied[0].from: expected a local time HH:MM with two-digit hours from 00:00 to 23:59, e.g. "07:00", got "7:00"`);
    expect(message).not.toMatch(/Expected union value|Expected string to match|\^\(/);
  });

  it('reports every problem, not the first five', () => {
    const points = Array.from({ length: 8 }, (_, i) => `              - { device: ahu1, point: p${i}, role: other, writable: yes }`).join('\n');
    const file = write('many.yaml', `v: 1\nsites:\n  - id: s1\n    zones:\n      - id: z1\n        kind: office\n        gateways:\n          - id: gw-1\n            points:\n${points}\n`);
    const message = refusal(file);
    expect(message).toContain(`8 problem(s) in ${file}`);
    for (let i = 0; i < 8; i++) expect(message).toContain(`${file}:${10 + i}:`);
  });

  it('refuses a comfort band whose minimum is not below its maximum, and a duplicate zone id with both lines', () => {
    const file = write(
      'bands.yaml',
      `v: 1
sites:
  - id: s1
    zones:
${zone(`        comfort:
          occupied: { tempMin: 24, tempMax: 20 }
          unoccupied: { tempMin: 15, tempMax: 29, humidityMin: 60, humidityMax: 60 }
`)}${zone('', 'z1')}`,
    );
    const message = refusal(file);
    expect(message).toContain(`${file}:13:32: sites[0].zones[0].comfort.occupied.tempMin: zone "z1", occupied comfort band: tempMin 24 is not below tempMax 20`);
    expect(message).toContain(`${file}:14:64: `);
    expect(message).toContain('sites[0].zones[0].comfort.unoccupied.humidityMin: zone "z1", unoccupied comfort band: humidityMin 60 is not below humidityMax 60');
    expect(message).toContain(`${file}:15:13: sites[0].zones[1].id: zone id "z1" appears twice in the facility model; ids must be unique (first at line 5, sites[0].zones[0].id)`);
    expect(message).toContain(`${file}:19:17: sites[0].zones[1].gateways[0].id: gateway id "gw-z1" appears twice`);
  });

  it('loads a sound model; a model built in code gets the same checks', () => {
    const file = write('ok.yaml', `v: 1\nsites:\n  - id: s1\n    zones:\n${zone('        comfort: { occupied: { tempMin: 20, tempMax: 24 }, unoccupied: { tempMin: 15, tempMax: 29 } }\n')}`);
    expect(loadFacilityModel(file).zone('z1')?.zone.comfort?.occupied.tempMin).toBe(20);
    const inverted = {
      v: 1,
      sites: [{ id: 's1', zones: [{ id: 'z1', kind: 'office', gateways: [], comfort: { occupied: { tempMin: 24, tempMax: 20 }, unoccupied: { tempMin: 15, tempMax: 29 } } }] }],
    };
    expect(() => new FacilityIndex(inverted)).toThrow('/sites/0/zones/0/comfort/occupied/tempMin: zone "z1", occupied comfort band: tempMin 24 is not below tempMax 20');
  });
});
