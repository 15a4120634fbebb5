/**
 * The simulator's fleet-wide causes: a heat-wave fault raises the facility's outdoor temperature
 * (and with it the AHU's mixed air) against a twin facility without it, reaching its offset after
 * the ramp and gone once cleared; the labelled fleet scenario is deterministic for a seed and
 * labels what it claims (one site in the heat wave, reaching return air later, every meter in the
 * grid event, the release's gateways only, an equipment fault on one of the heat wave's AHUs).
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
    expect(new Set(heat.map((x) => x.point))).toEqual(new Set(['outdoor_air_temp', 'mixed_air_temp', 'return_air_temp']));
    // Return air follows through the building's thermal mass, 40 min or more after the heat wave.
    const first = Math.min(...heat.map((x) => x.ts));
    expect(heat.filter((x) => x.point === 'return_air_temp').every((x) => x.ts >= first + 20 * 60_000)).toBe(true); // 40 min after the wave, its first alarm within 20 min of it
    const failing = a.alarms.filter((x) => x.cause === 'hot-site-equipment');
    expect(failing.length).toBeGreaterThan(0);
    expect(new Set(failing.map((x) => `${x.site} ${x.gateway} ${x.point}`)).size).toBe(1);
    expect(failing[0]).toMatchObject({ site: heat[0]?.site, point: 'supply_air_temp' });
    expect(heat.some((x) => x.gateway === failing[0]?.gateway && x.ts < (failing[0]?.ts ?? 0))).toBe(true);
    const grid = a.alarms.filter((x) => x.cause === 'grid-event');
    expect(new Set(grid.map((x) => x.site))).toEqual(new Set(['site-1', 'site-2', 'site-3']));
    expect(grid.every((x) => x.device === 'meter1')).toBe(true);
    const release = a.alarms.filter((x) => x.cause === 'bad-release');
    expect(release.every((x) => a.release.gateways.includes(x.gateway) && x.ts >= a.release.at)).toBe(true);
    const drift = a.alarms.find((x) => x.cause === 'oat-drift');
    expect(drift?.site).not.toBe(heat[0]?.site);
    expect(a.alarms.map((x) => x.ts)).toEqual([...a.alarms.map((x) => x.ts)].sort((x, y) => x - y));
    // The spread variant: each gateway's first heat-wave alarm up to an hour after the wave, every other cause as it was.
    expect(fleetScenario({ seed: 3, heatSpreadMin: 20 })).toEqual(a);
    const spread = fleetScenario({ seed: 3, heatSpreadMin: 60 });
    const others = (s: typeof a) => s.alarms.filter((x) => x.cause !== 'heat-wave' && x.cause !== 'oat-drift');
    expect(others(spread)).toEqual(others(a));
    const firstAt = (s: typeof a) => {
      const first = new Map<string, number>();
      for (const x of s.alarms) if (x.cause === 'heat-wave' && !first.has(x.gateway)) first.set(x.gateway, x.ts);
      return [...first.values()];
    };
    const span = (ts: number[]) => Math.max(...ts) - Math.min(...ts);
    expect(span(firstAt(a))).toBeLessThanOrEqual(30 * 60_000);
    expect(span(firstAt(spread))).toBeGreaterThan(30 * 60_000);
    expect(span(firstAt(spread))).toBeLessThanOrEqual(60 * 60_000);
    // Every alarm is on a point the gateway has, with the profile's markers.
    for (const x of a.alarms) {
      const point = a.gateways.find((g) => g.gateway === x.gateway)?.devices.find((d) => d.id === x.device)?.points.find((p) => p.name === x.point);
      expect(point?.tags.length, `${x.gateway}/${x.device}/${x.point}`).toBeGreaterThan(0);
    }
  });
});
