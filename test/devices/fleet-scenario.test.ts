/**
 * The simulator's fleet-wide causes: a heat-wave fault raises the facility's outdoor temperature
 * (and with it the AHU's mixed air) against a twin facility without it, reaching its offset after
 * the ramp and gone once cleared; the labelled fleet scenario is deterministic for a seed and
 * labels what it claims (one site in the heat wave, every meter in the grid event, the release's
 * gateways only).
 */
import { describe, expect, it } from 'vitest';
import { wirePhysicalFaults } from '../../devices/context.js';
import { FaultRegistry } from '../../devices/faults/registry.js';
import { FacilityModel } from '../../devices/physics/model.js';
import { fleetScenario } from '../../devices/scenarios/fleet-incidents.js';

describe('heat-wave fault', () => {
  it('adds its offset to the outdoor temperature after the ramp, and ends when cleared', () => {
    const twin = new FacilityModel({ seed: 7 });
    const model = new FacilityModel({ seed: 7 });
    const faults = new FaultRegistry({ now: () => model.now(), seed: 7 });
    wirePhysicalFaults(faults, model);
    const id = faults.inject({ kind: 'heat-wave', offsetK: 12, rampMinutes: 60 });
    model.step(30 * 60);
    twin.step(30 * 60);
    expect(model.outdoorC - twin.outdoorC).toBeCloseTo(6, 1);
    model.step(2 * 3600);
    twin.step(2 * 3600);
    expect(model.outdoorC - twin.outdoorC).toBeCloseTo(12, 1);
    expect(model.ahu.mixedAirC).toBeGreaterThan(twin.ahu.mixedAirC);
    faults.clear(id);
    model.step(60);
    twin.step(60);
    expect(model.outdoorC - twin.outdoorC).toBeCloseTo(0, 1);
  });

  it('is refused with the field named when the offset is out of range', () => {
    const faults = new FaultRegistry({ now: () => 0 });
    expect(() => faults.inject({ kind: 'heat-wave', offsetK: 99 })).toThrow(/offsetK/);
  });
});

describe('fleet scenario', () => {
  it('is deterministic for a seed and labels its causes as described', () => {
    const a = fleetScenario({ seed: 3 });
    expect(fleetScenario({ seed: 3 })).toEqual(a);
    expect(fleetScenario({ seed: 4 }).alarms).not.toEqual(a.alarms);
    expect(a.gateways).toHaveLength(30);
    const heat = a.alarms.filter((x) => x.cause === 'heat-wave');
    expect(new Set(heat.map((x) => x.site)).size).toBe(1);
    expect(heat.every((x) => x.point === 'outdoor_air_temp')).toBe(true);
    const grid = a.alarms.filter((x) => x.cause === 'grid-event');
    expect(new Set(grid.map((x) => x.site))).toEqual(new Set(['site-1', 'site-2', 'site-3']));
    expect(grid.every((x) => x.device === 'meter1')).toBe(true);
    const release = a.alarms.filter((x) => x.cause === 'bad-release');
    expect(release.every((x) => a.release.gateways.includes(x.gateway) && x.ts >= a.release.at)).toBe(true);
    const drift = a.alarms.find((x) => x.cause === 'oat-drift');
    expect(drift?.site).not.toBe(heat[0]?.site);
    expect(a.alarms.map((x) => x.ts)).toEqual([...a.alarms.map((x) => x.ts)].sort((x, y) => x - y));
    // Every alarm is on a point the gateway has, with the profile's markers.
    for (const x of a.alarms) {
      const point = a.gateways.find((g) => g.gateway === x.gateway)?.devices.find((d) => d.id === x.device)?.points.find((p) => p.name === x.point);
      expect(point?.tags.length, `${x.gateway}/${x.device}/${x.point}`).toBeGreaterThan(0);
    }
  });
});
