/**
 * Air-handling unit serving one zone. First-order lags throughout:
 * - the zone gains heat from people/equipment and exchanges heat with outdoors,
 * - when the fan runs, supply air pulls the zone toward the supply temperature in proportion to
 *   airflow (fan speed), so "fan on" lowers a warm zone's return air temperature over minutes,
 * - supply air follows the mixed air (outdoor/return by damper) tempered by a coil of limited
 *   capacity toward the supply setpoint.
 */

export interface AhuState {
  /** Fan command coil (what the BMS asked for). */
  fanCommand: boolean;
  /** Remote-enable relay (GPIO 23), wired in series with the fan command. */
  enableRelay: boolean;
  /** Fan speed setpoint, 0..100 %. */
  fanSpeedPct: number;
  /** Outdoor-air damper position, 0..100 % (0 = full recirculation). */
  damperPct: number;
  /** Supply air temperature setpoint, degC. */
  supplySetpointC: number;
  /** Actual fan speed (ramps toward setpoint when running, toward 0 when stopped). */
  fanActualPct: number;
  supplyAirC: number;
  zoneC: number;
  returnAirC: number;
  mixedAirC: number;
  /** Filter pressure drop, Pa; grows slowly with air moved. */
  filterDpPa: number;
  /** Total fan run time, hours. */
  runHours: number;
  /** Net coil thermal energy, Wh (positive heating, negative cooling). */
  coilEnergyWh: number;
  /** Total air volume moved, m3. */
  airVolumeM3: number;
}

export const AHU_LIMITS = {
  nominalAirflowM3h: 12_000,
  fanRatedKw: 7.5,
  coilCapacityK: 12,
  filterAlarmPa: 250,
  freezeStatC: 3,
} as const;

export function initialAhu(outdoorC: number): AhuState {
  return {
    fanCommand: false,
    enableRelay: true,
    fanSpeedPct: 60,
    damperPct: 20,
    supplySetpointC: 18,
    fanActualPct: 0,
    supplyAirC: 22,
    zoneC: 22,
    returnAirC: 22.3,
    mixedAirC: 0.2 * outdoorC + 0.8 * 22,
    filterDpPa: 120,
    runHours: 87_654.3,
    coilEnergyWh: 0,
    airVolumeM3: 1.234e9,
  };
}

export function fanRunning(s: AhuState): boolean {
  return s.fanCommand && s.enableRelay;
}

export function filterAlarm(s: AhuState): boolean {
  return s.filterDpPa >= AHU_LIMITS.filterAlarmPa;
}

export function freezeStat(s: AhuState): boolean {
  return fanRunning(s) && s.mixedAirC < AHU_LIMITS.freezeStatC;
}

/** Electrical fan power, kW: fan affinity law (power ~ speed^3) plus a small idle draw. */
export function fanPowerKw(s: AhuState): number {
  const f = s.fanActualPct / 100;
  return f > 0.001 ? 0.05 + AHU_LIMITS.fanRatedKw * f * f * f : 0;
}

function lag(value: number, target: number, tauS: number, dtS: number): number {
  return target + (value - target) * Math.exp(-dtS / tauS);
}

/** Advance the AHU by dtS seconds. internalGainK_h = zone warming rate from people and equipment. */
export function stepAhu(s: AhuState, dtS: number, outdoorC: number, internalGainKPerH: number): void {
  const running = fanRunning(s);
  s.fanActualPct = lag(s.fanActualPct, running ? s.fanSpeedPct : 0, 15, dtS);
  const airflow = s.fanActualPct / 100;
  const damper = s.damperPct / 100;

  s.mixedAirC = lag(s.mixedAirC, damper * outdoorC + (1 - damper) * s.returnAirC, 30, dtS);
  // Coil can only move the air so far from the mixed temperature.
  const wanted = s.supplySetpointC - s.mixedAirC;
  const delta = Math.max(-AHU_LIMITS.coilCapacityK, Math.min(AHU_LIMITS.coilCapacityK, wanted));
  const supplyTarget = running ? s.mixedAirC + delta : s.zoneC;
  s.supplyAirC = lag(s.supplyAirC, supplyTarget, running ? 60 : 900, dtS);

  // Zone: envelope (tau 6 h), internal gains, and ventilation (tau 20 min at full airflow).
  const envelope = (outdoorC - s.zoneC) / (6 * 3600);
  const gains = internalGainKPerH / 3600;
  const ventilation = airflow > 0.001 ? ((s.supplyAirC - s.zoneC) * airflow) / 1200 : 0;
  s.zoneC += (envelope + gains + ventilation) * dtS;
  s.returnAirC = lag(s.returnAirC, s.zoneC + 0.3, 120, dtS);

  if (airflow > 0.001) {
    const m3 = (AHU_LIMITS.nominalAirflowM3h * airflow * dtS) / 3600;
    s.airVolumeM3 += m3;
    // ~1.2 kg/m3 air, cp ~ 1.005 kJ/kgK → Wh = m3 * 1.2 * 1.005 * dT / 3.6
    s.coilEnergyWh += (m3 * 1.2 * 1.005 * (s.supplyAirC - s.mixedAirC)) / 3.6;
    s.filterDpPa += m3 * 2e-7;
  }
  if (running) s.runHours += dtS / 3600;
}
