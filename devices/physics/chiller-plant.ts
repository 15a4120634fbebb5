/**
 * A chilled-water plant (one chiller, one pump) serving the air handler whose cooled air feeds
 * the VAV boxes. First-order lags:
 * - the pump runs while the chiller is enabled; the chiller pulls the supply water toward its
 *   setpoint as far as its capacity allows,
 * - return water is supply plus the load carried by the water flow,
 * - the supply air for the VAVs follows the chilled water (coil approach) while the plant runs,
 *   and drifts toward a mix of outdoor and zone air when it does not,
 * - the chiller alarm rises when supply water stays 3 K above setpoint for 10 minutes while
 *   running (capacity exceeded), and clears when it recovers.
 * The plant controller enables the chiller while any zone is occupied or too warm, and resets the
 * chilled-water setpoint between 7 degC (dampers wide open) and 10 degC (dampers nearly closed).
 */

export const CHILLER = {
  capacityKw: 60,
  /** Chilled-water flow with the pump on, kg/s. */
  flowKgS: 2.5,
  cpWater: 4.186,
  /** Supply air is this much warmer than the chilled water while the plant runs. */
  coilApproachK: 5.5,
  /** Plant room temperature that idle water settles toward, degC. */
  plantRoomC: 18,
  alarmExcessK: 3,
  alarmAfterS: 600,
  baseLoadKw: 1.5,
} as const;

export interface ChillerPlantState {
  pumpRunning: boolean;
  chillerRunning: boolean;
  chwSupplyC: number;
  chwReturnC: number;
  /** Cooling load carried by the water, kW. */
  loadKw: number;
  supplyAirC: number;
  alarm: boolean;
  /** Seconds the supply water has been above setpoint + alarmExcessK while running. */
  highSupplyS: number;
}

export function initialChillerPlant(outdoorC: number): ChillerPlantState {
  return {
    pumpRunning: false,
    chillerRunning: false,
    chwSupplyC: CHILLER.plantRoomC,
    chwReturnC: CHILLER.plantRoomC,
    loadKw: 0,
    supplyAirC: 0.3 * outdoorC + 0.7 * 22,
    alarm: false,
    highSupplyS: 0,
  };
}

/** The plant controller's own chiller-enable demand. */
export function chillerEnableDemand(anyOccupied: boolean, warmestZoneC: number): boolean {
  return anyOccupied || warmestZoneC > 26;
}

/** The plant controller's chilled-water setpoint reset, degC: 7 at >= 80 % damper, 10 at <= 30 %. */
export function chwSetpointDemand(widestDamperPct: number): number {
  const f = Math.max(0, Math.min(1, (widestDamperPct - 30) / 50));
  return 10 - 3 * f;
}

export interface ChillerInputs {
  readonly enable: boolean;
  readonly chwSetpointC: number;
  /** Cooling the VAVs take from the supply air, kW. */
  readonly airSideLoadKw: number;
  readonly outdoorC: number;
  readonly meanZoneC: number;
}

function lag(value: number, target: number, tauS: number, dtS: number): number {
  return target + (value - target) * Math.exp(-dtS / tauS);
}

export function stepChillerPlant(s: ChillerPlantState, dtS: number, input: ChillerInputs): void {
  s.pumpRunning = input.enable;
  s.chillerRunning = input.enable && s.pumpRunning;
  const mcp = CHILLER.flowKgS * CHILLER.cpWater;
  s.loadKw = lag(s.loadKw, s.pumpRunning ? input.airSideLoadKw + CHILLER.baseLoadKw : 0, 60, dtS);
  if (s.chillerRunning) {
    const reachable = s.chwReturnC - CHILLER.capacityKw / mcp;
    s.chwSupplyC = lag(s.chwSupplyC, Math.max(input.chwSetpointC, reachable), 120, dtS);
    s.chwReturnC = lag(s.chwReturnC, s.chwSupplyC + s.loadKw / mcp, 60, dtS);
    s.supplyAirC = lag(s.supplyAirC, s.chwSupplyC + CHILLER.coilApproachK, 180, dtS);
  } else {
    s.chwSupplyC = lag(s.chwSupplyC, CHILLER.plantRoomC, 1800, dtS);
    s.chwReturnC = lag(s.chwReturnC, CHILLER.plantRoomC, 1800, dtS);
    s.supplyAirC = lag(s.supplyAirC, 0.3 * input.outdoorC + 0.7 * input.meanZoneC, 600, dtS);
  }
  const high = s.chillerRunning && s.chwSupplyC > input.chwSetpointC + CHILLER.alarmExcessK;
  s.highSupplyS = high ? s.highSupplyS + dtS : 0;
  s.alarm = s.highSupplyS >= CHILLER.alarmAfterS;
}
