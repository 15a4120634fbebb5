/**
 * Sanity of the VAV zones and the chilled-water plant (devices/physics/vav.ts, chiller-plant.ts,
 * hvac-plant.ts): the zone follows the damper and the setpoint, the plant follows its enable and
 * setpoint, and a seed gives the same run whatever the step size.
 */
import { describe, expect, it } from 'vitest';
import { HvacPlant, HVAC_DEFAULTS, type CommandArbiter, type HvacCommandKey } from '../../devices/physics/hvac-plant.js';
import { DEFAULT_START_TIME } from '../../devices/physics/model.js';

const HOUR = 3_600_000;
/** Monday 08:00 UTC. */
const MONDAY_8 = DEFAULT_START_TIME + 8 * HOUR;
const OCCUPIED = { outdoorC: 12, occupied: true };

/** An arbiter with fixed overrides (as if commanded at priority 8) over the controllers' own values. */
function overrides(values: Partial<Record<HvacCommandKey, number>>): CommandArbiter {
  return { resolve: (key, auto) => values[key] ?? auto ?? HVAC_DEFAULTS[key] };
}

function run(arbiter: CommandArbiter, hours: number, env = OCCUPIED, seed = 7): HvacPlant {
  const plant = new HvacPlant({ seed, startTime: MONDAY_8, outdoorC: env.outdoorC });
  plant.setArbiter(arbiter);
  plant.advanceTo(MONDAY_8 + hours * HOUR, env);
  return plant;
}

describe('HVAC physics', () => {
  it('the zone follows the damper: wide open it cools toward the supply air, shut it warms', () => {
    const open = run(overrides({ 'VAV-1.damper': 100 }), 2);
    const shut = run(overrides({ 'VAV-1.damper': 0 }), 2);
    const auto = run(overrides({}), 2);
    expect(open.vavs['VAV-1'].zoneC).toBeLessThan(auto.vavs['VAV-1'].zoneC - 1);
    expect(shut.vavs['VAV-1'].zoneC).toBeGreaterThan(auto.vavs['VAV-1'].zoneC + 1);
    expect(open.vavs['VAV-1'].airflowLs).toBeGreaterThan(440);
    expect(shut.vavs['VAV-1'].airflowLs).toBeLessThan(1);
    // The other box is not affected by VAV-1's override.
    expect(Math.abs(open.vavs['VAV-2'].zoneC - auto.vavs['VAV-2'].zoneC)).toBeLessThan(0.5);
  });

  it('the zone follows the setpoint: the box controller holds it within half a kelvin', () => {
    for (const setpoint of [20, 24]) {
      const plant = run(overrides({ 'VAV-1.setpoint': setpoint, 'VAV-2.setpoint': setpoint }), 4);
      expect(Math.abs(plant.vavs['VAV-1'].zoneC - setpoint)).toBeLessThan(0.5);
      expect(Math.abs(plant.vavs['VAV-2'].zoneC - setpoint)).toBeLessThan(0.5);
    }
    const cool = run(overrides({ 'VAV-1.setpoint': 20 }), 4);
    const warm = run(overrides({ 'VAV-1.setpoint': 24 }), 4);
    expect(cool.vavs['VAV-1'].damperPct).toBeGreaterThan(warm.vavs['VAV-1'].damperPct);
  });

  it('the chiller holds its setpoint while enabled and the water warms when disabled', () => {
    const on = run(overrides({ 'plant.chwSetpoint': 6 }), 2);
    expect(on.plant.pumpRunning).toBe(true);
    expect(on.plant.chwSupplyC).toBeCloseTo(6, 0);
    expect(on.plant.chwReturnC).toBeGreaterThan(on.plant.chwSupplyC);
    expect(on.plant.loadKw).toBeGreaterThan(1.5);
    expect(on.plant.alarm).toBe(false);
    const off = run(overrides({ 'plant.chillerEnable': 0 }), 2);
    expect(off.plant.pumpRunning).toBe(false);
    expect(off.plant.chwSupplyC).toBeGreaterThan(on.plant.chwSupplyC + 3);
    // Warmer supply air: the boxes need more air to hold their setpoints with the chiller off.
    expect(off.plant.supplyAirC).toBeGreaterThan(on.plant.supplyAirC + 3);
    expect(off.vavs['VAV-1'].damperPct).toBeGreaterThan(on.vavs['VAV-1'].damperPct);
  });

  it('unoccupied, the controllers set back: dampers close and the chiller is off', () => {
    const plant = run(overrides({}), 3, { outdoorC: 8, occupied: false });
    const snap = plant.snapshot();
    expect(snap.vavs['VAV-1'].occupied).toBe(false);
    expect(snap.vavs['VAV-1'].damperCommandPct).toBe(0);
    expect(snap.plant.enabled).toBe(false);
  });

  it('is deterministic for a seed, whether an hour is advanced at once or in 10 s steps', () => {
    const a = run(overrides({}), 1);
    const b = new HvacPlant({ seed: 7, startTime: MONDAY_8, outdoorC: OCCUPIED.outdoorC });
    for (let t = 10; t <= 3600; t += 10) b.advanceTo(MONDAY_8 + t * 1000, OCCUPIED);
    expect(b.vavs['VAV-1'].zoneC).toBeCloseTo(a.vavs['VAV-1'].zoneC, 9);
    const other = run(overrides({}), 1, OCCUPIED, 8);
    expect(other.vavs['VAV-1'].zoneC).not.toBe(a.vavs['VAV-1'].zoneC);
  });
});
