/**
 * The VAV zones and the chilled-water plant as one model that follows the facility's clock and
 * weather (FacilityModel): advanceTo(model.now()) integrates in steps of at most 2 s, so stepping
 * an hour in one call or in many gives the same controller behaviour. Deterministic for a seed
 * (its own mulberry32 stream, so the rest of the facility draws the same numbers as before).
 *
 * The controllers' outputs go through a CommandArbiter every step: the arbiter records them as the
 * controller's own (lowest-priority) command and answers with the value in effect, which may be an
 * operator's or a gateway's command at a higher priority. Without an arbiter the controllers' own
 * values are in effect.
 */
import { chillerEnableDemand, chwSetpointDemand, initialChillerPlant, stepChillerPlant, type ChillerPlantState } from './chiller-plant.js';
import { createPrng, type Prng } from './prng.js';
import { initialVav, stepVav, vavCoolingKw, vavDamperDemand, VAV_IDS, VAV_SPECS, type VavId, type VavState } from './vav.js';

export type HvacCommandKey = `${VavId}.damper` | `${VavId}.setpoint` | `${VavId}.occupancy` | 'plant.chillerEnable' | 'plant.chwSetpoint';

/** Values in effect when nobody commands anything (booleans as 0/1). */
export const HVAC_DEFAULTS: Readonly<Record<HvacCommandKey, number>> = {
  'VAV-1.damper': 0,
  'VAV-1.setpoint': 22,
  'VAV-1.occupancy': 0,
  'VAV-2.damper': 0,
  'VAV-2.setpoint': 22,
  'VAV-2.occupancy': 0,
  'plant.chillerEnable': 0,
  'plant.chwSetpoint': 7,
};

export interface CommandArbiter {
  /**
   * Records `auto` as the controller's own command for key (undefined: the controller does not
   * command it) and returns the value in effect.
   */
  resolve(key: HvacCommandKey, auto: number | undefined): number;
}

const OWN_VALUES: CommandArbiter = { resolve: (key, auto) => auto ?? HVAC_DEFAULTS[key] };

export interface HvacEnvironment {
  readonly outdoorC: number;
  readonly occupied: boolean;
}

export interface HvacSnapshot {
  readonly time: number;
  readonly vavs: Readonly<Record<VavId, VavState & { readonly setpointC: number; readonly occupied: boolean; readonly damperCommandPct: number }>>;
  readonly plant: ChillerPlantState & { readonly enabled: boolean; readonly chwSetpointC: number };
}

export class HvacPlant {
  readonly vavs: Record<VavId, VavState>;
  readonly plant: ChillerPlantState;
  private readonly prng: Prng;
  private simTime: number;
  private arbiter: CommandArbiter = OWN_VALUES;
  private readonly maxStep: number;
  /** Last values in effect, for snapshots. */
  private readonly inEffect: Record<HvacCommandKey, number> = { ...HVAC_DEFAULTS };

  constructor(options: { readonly seed?: number; readonly startTime: number; readonly outdoorC: number; readonly maxStepS?: number }) {
    this.prng = createPrng(((options.seed ?? 1) ^ 0xbac0) >>> 0);
    this.simTime = options.startTime;
    this.maxStep = options.maxStepS ?? 2;
    this.vavs = { 'VAV-1': initialVav(22.5), 'VAV-2': initialVav(21.5) };
    this.plant = initialChillerPlant(options.outdoorC);
  }

  now(): number {
    return this.simTime;
  }

  /** Where controller outputs go and effective commands come from (the BACnet objects). */
  setArbiter(arbiter: CommandArbiter): void {
    this.arbiter = arbiter;
  }

  /** Integrates up to simMs (no-op if already there). */
  advanceTo(simMs: number, env: HvacEnvironment): void {
    while (simMs - this.simTime > 1e-6) {
      const dt = Math.min(this.maxStep, (simMs - this.simTime) / 1000);
      this.integrate(dt, env);
      this.simTime += dt * 1000;
    }
  }

  /** Runs the controllers once without moving time (so commands are in place before any step). */
  settle(env: HvacEnvironment): void {
    this.control(0, env);
  }

  snapshot(): HvacSnapshot {
    const vav = (id: VavId) => ({
      ...this.vavs[id],
      setpointC: this.inEffect[`${id}.setpoint`],
      occupied: this.inEffect[`${id}.occupancy`] !== 0,
      damperCommandPct: this.inEffect[`${id}.damper`],
    });
    return {
      time: this.simTime,
      vavs: { 'VAV-1': vav('VAV-1'), 'VAV-2': vav('VAV-2') },
      plant: { ...this.plant, enabled: this.inEffect['plant.chillerEnable'] !== 0, chwSetpointC: this.inEffect['plant.chwSetpoint'] },
    };
  }

  private command(key: HvacCommandKey, auto: number | undefined): number {
    const value = this.arbiter.resolve(key, auto);
    this.inEffect[key] = value;
    return value;
  }

  /** The controllers: occupancy from the schedule, damper PI, chiller enable and CHW reset. */
  private control(dt: number, env: HvacEnvironment): { damper: Record<VavId, number>; occupied: Record<VavId, boolean> } {
    const damper = {} as Record<VavId, number>;
    const occupied = {} as Record<VavId, boolean>;
    for (const id of VAV_IDS) {
      occupied[id] = this.command(`${id}.occupancy`, env.occupied ? 1 : 0) !== 0;
      const setpoint = this.command(`${id}.setpoint`, undefined);
      damper[id] = this.command(`${id}.damper`, vavDamperDemand(this.vavs[id], setpoint, occupied[id], dt));
    }
    const warmest = Math.max(...VAV_IDS.map((id) => this.vavs[id].zoneC));
    const widest = Math.max(...VAV_IDS.map((id) => this.vavs[id].damperPct));
    this.command('plant.chillerEnable', chillerEnableDemand(VAV_IDS.some((id) => occupied[id]), warmest) ? 1 : 0);
    this.command('plant.chwSetpoint', chwSetpointDemand(widest));
    return { damper, occupied };
  }

  private integrate(dt: number, env: HvacEnvironment): void {
    const { damper, occupied } = this.control(dt, env);
    const supplyAirC = this.plant.supplyAirC;
    let airSideLoadKw = 0;
    for (const id of VAV_IDS) {
      stepVav(this.vavs[id], VAV_SPECS[id], dt, { damperCommandPct: damper[id], occupied: occupied[id], outdoorC: env.outdoorC, supplyAirC, noise: this.prng.gaussian() });
      airSideLoadKw += vavCoolingKw(this.vavs[id], supplyAirC);
    }
    const meanZoneC = VAV_IDS.reduce((sum, id) => sum + this.vavs[id].zoneC, 0) / VAV_IDS.length;
    stepChillerPlant(this.plant, dt, {
      enable: this.inEffect['plant.chillerEnable'] !== 0,
      chwSetpointC: this.inEffect['plant.chwSetpoint'],
      airSideLoadKw,
      outdoorC: env.outdoorC,
      meanZoneC,
    });
  }
}
