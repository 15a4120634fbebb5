/**
 * Occupied periods that run past midnight (night shifts): a period from 22:00 to 06:00 belongs to
 * the day it starts; a period from a time to the same time is refused at load.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { EnergySpecialist, FacilityIndex, buildSnapshot, scheduledOccupied, type FacilityModel } from '../../hub/agents/index.js';
import { loadFacilityModel } from '../../hub/agents/runtime/index.js';
import { isSwarmgateError } from '../../shared/kit/errors.js';
import { tempDir } from '../support/tmp.js';

type Period = { days: number[]; from: string; to: string };

function model(occupied: Period[], utcOffsetMin = 0): FacilityModel {
  return {
    v: 1,
    sites: [
      {
        id: 's1',
        utcOffsetMin,
        serviceIntervalH: 2000,
        maxStartsPerHour: 6,
        interlocks: [],
        zones: [
          {
            id: 'packing',
            kind: 'warehouse',
            schedule: { occupied },
            gateways: [
              {
                id: 'gw1',
                capabilities: ['hvac'],
                points: [
                  { device: 'ahu', point: 'heat_sp', role: 'setpoint_heat', unit: 'degC', writable: true },
                  { device: 'ahu', point: 'cool_sp', role: 'setpoint_cool', unit: 'degC', writable: true },
                ],
              },
            ],
          },
        ],
      },
    ],
  };
}

/** 2025-01-06 is a Monday. */
const at = (day: number, hh: number, mm = 0): number => Date.UTC(2025, 0, 5 + day, hh, mm);

function occupiedAt(f: FacilityIndex, ts: number): boolean {
  const site = f.site('s1');
  const zone = site?.zones[0];
  if (!site || !zone) throw new Error('fixture');
  return scheduledOccupied(site, zone, ts);
}

describe('overnight occupied periods', () => {
  it('a 22:00-06:00 shift every day is occupied through the night, not at noon', () => {
    const f = new FacilityIndex(model([{ days: [0, 1, 2, 3, 4, 5, 6], from: '22:00', to: '06:00' }]));
    for (const h of [22, 23, 0, 2, 5]) expect(occupiedAt(f, at(2, h)), `${h}:00`).toBe(true);
    expect(occupiedAt(f, at(2, 5, 59))).toBe(true);
    for (const h of [6, 12, 21]) expect(occupiedAt(f, at(2, h)), `${h}:00`).toBe(false);
  });

  it('the period belongs to the day it starts: Monday 22:00-06:00 covers Monday night to Tuesday 06:00', () => {
    const f = new FacilityIndex(model([{ days: [1], from: '22:00', to: '06:00' }]));
    expect(occupiedAt(f, at(1, 23))).toBe(true); // Monday 23:00
    expect(occupiedAt(f, at(2, 3))).toBe(true); // Tuesday 03:00
    expect(occupiedAt(f, at(1, 3))).toBe(false); // Monday 03:00: Sunday night is not listed
    expect(occupiedAt(f, at(2, 23))).toBe(false); // Tuesday 23:00
    // Saturday night runs into Sunday (day 6 -> day 0).
    const weekend = new FacilityIndex(model([{ days: [6], from: '20:00', to: '02:00' }]));
    expect(occupiedAt(weekend, at(7, 1))).toBe(true);
    expect(occupiedAt(weekend, at(7, 2))).toBe(false); // Sunday 02:00: over
    expect(occupiedAt(weekend, at(6, 1))).toBe(false); // Saturday 01:00: Friday night is not listed
  });

  it('in site-local time', () => {
    // UTC+2: 22:00-06:00 local is 20:00-04:00 UTC.
    const f = new FacilityIndex(model([{ days: [1], from: '22:00', to: '06:00' }], 120));
    expect(occupiedAt(f, at(1, 20, 30))).toBe(true);
    expect(occupiedAt(f, at(2, 3, 59))).toBe(true);
    expect(occupiedAt(f, at(2, 4))).toBe(false);
  });

  it('energy proposes no setback during the night shift, and does after it', () => {
    const f = new FacilityIndex(model([{ days: [0, 1, 2, 3, 4, 5, 6], from: '22:00', to: '06:00' }]));
    const readings = [
      { gateway: 'gw1', device: 'ahu', point: 'heat_sp', value: 21 },
      { gateway: 'gw1', device: 'ahu', point: 'cool_sp', value: 24 },
    ];
    const energy = new EnergySpecialist();
    expect(energy.propose(buildSnapshot({ ts: at(2, 2), site: 's1', facility: f, readings }))).toEqual([]);
    expect(energy.propose(buildSnapshot({ ts: at(2, 12), site: 's1', facility: f, readings })).map((d) => d.kind)).toEqual(['setback', 'setback']);
  });

  it('a period from a time to the same time is refused at load, naming the zone and the period', () => {
    const periods = [
      { days: [1, 2, 3, 4, 5], from: '07:00', to: '19:00' },
      { days: [1], from: '06:00', to: '06:00' },
    ];
    try {
      new FacilityIndex(model(periods));
      expect.unreachable();
    } catch (err) {
      expect(isSwarmgateError(err, 'SWG_ERR_CONFIG_INVALID')).toBe(true);
      expect((err as Error).message).toMatch(/^\/sites\/0\/zones\/0\/schedule\/occupied\/1: zone "packing", occupied period 1 runs from 06:00 to 06:00/);
    }
    const dir = tempDir('swarmgate-facility-schedule-');
    try {
      const file = join(dir.path, 'facility.yaml');
      writeFileSync(file, stringify(model(periods)));
      // Named with its file, line and field (runtime/facility-file.ts).
      expect(() => loadFacilityModel(file)).toThrow(/:\d+:\d+: sites\[0\]\.zones\[0\]\.schedule\.occupied\[1\]: zone "packing", occupied period 1/);
      expect(() => loadFacilityModel(file)).toThrow(`${file}:`);
    } finally {
      dir.remove();
    }
  });
});
