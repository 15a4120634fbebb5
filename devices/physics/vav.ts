/**
 * A cooling-only VAV box and the zone it serves. First-order lags, as in ahu.ts:
 * - the damper actuator follows its command (tau 20 s), airflow follows the damper (tau 10 s),
 * - the zone gains heat from people/sun/equipment and through the envelope, and is cooled in
 *   proportion to airflow and to how much colder the supply air is than the zone,
 * - the box's own controller (PI on zone temperature minus setpoint) asks for a damper position;
 *   unoccupied, it sets the setpoint back by UNOCCUPIED_SETBACK_K and lets the damper close.
 */

export const VAV_IDS = ['VAV-1', 'VAV-2'] as const;
export type VavId = (typeof VAV_IDS)[number];

export interface VavSpec {
  /** Design (maximum) airflow at 100 % damper, L/s. */
  readonly maxAirflowLs: number;
  /** Zone warming from people, sun and equipment while occupied, K/h (a tenth of it unoccupied). */
  readonly occupiedGainKPerH: number;
  /** Envelope time constant toward outdoor temperature, h. */
  readonly envelopeTauH: number;
}

export const VAV_SPECS: Readonly<Record<VavId, VavSpec>> = {
  'VAV-1': { maxAirflowLs: 450, occupiedGainKPerH: 3.0, envelopeTauH: 12 },
  'VAV-2': { maxAirflowLs: 300, occupiedGainKPerH: 2.2, envelopeTauH: 16 },
};

export const VAV_CONTROL = {
  /** Minimum damper position while occupied (ventilation), %. */
  minOccupiedPct: 5,
  /** Proportional gain, % per K above setpoint. */
  kpPctPerK: 40,
  /** Integral gain, % per K per second. */
  kiPctPerKs: 40 / 600,
  /** Cooling setpoint raised this much while unoccupied. */
  unoccupiedSetbackK: 4,
  /** Time for full airflow to pull the zone 1/e of the way to the supply temperature, s. */
  fullFlowTauS: 1800,
} as const;

export interface VavState {
  zoneC: number;
  /** Actual damper position, % (follows the command in effect). */
  damperPct: number;
  airflowLs: number;
  /** PI integral term, %. */
  integralPct: number;
  /** OU noise on the internal gains (people come and go), K/h. */
  gainNoiseKPerH: number;
}

export function initialVav(zoneC = 22): VavState {
  return { zoneC, damperPct: 20, airflowLs: 0, integralPct: 0, gainNoiseKPerH: 0 };
}

/** The box's own damper demand, %: PI on (zone - cooling setpoint), with anti-windup. */
export function vavDamperDemand(s: VavState, zoneSetpointC: number, occupied: boolean, dtS: number): number {
  const setpoint = zoneSetpointC + (occupied ? 0 : VAV_CONTROL.unoccupiedSetbackK);
  const min = occupied ? VAV_CONTROL.minOccupiedPct : 0;
  const error = s.zoneC - setpoint;
  const p = VAV_CONTROL.kpPctPerK * error;
  const next = s.integralPct + VAV_CONTROL.kiPctPerKs * error * dtS;
  // Anti-windup: the integral alone never asks for more than the full range.
  s.integralPct = Math.max(-min, Math.min(100 - min, next));
  return Math.max(min, Math.min(100, min + p + s.integralPct));
}

export interface VavInputs {
  readonly damperCommandPct: number;
  readonly occupied: boolean;
  readonly outdoorC: number;
  readonly supplyAirC: number;
  /** Standard normal draw for the gain noise. */
  readonly noise: number;
}

function lag(value: number, target: number, tauS: number, dtS: number): number {
  return target + (value - target) * Math.exp(-dtS / tauS);
}

export function stepVav(s: VavState, spec: VavSpec, dtS: number, input: VavInputs): void {
  s.damperPct = lag(s.damperPct, Math.max(0, Math.min(100, input.damperCommandPct)), 20, dtS);
  s.airflowLs = lag(s.airflowLs, (s.damperPct / 100) * spec.maxAirflowLs, 10, dtS);
  // Gain noise: OU process, tau 30 min, sd ~0.4 K/h.
  const tau = 1800;
  s.gainNoiseKPerH += (-s.gainNoiseKPerH / tau) * dtS + 0.4 * Math.sqrt((2 * dtS) / tau) * input.noise;
  const gainKPerH = (input.occupied ? spec.occupiedGainKPerH : spec.occupiedGainKPerH / 10) + s.gainNoiseKPerH;
  const envelope = (input.outdoorC - s.zoneC) / (spec.envelopeTauH * 3600);
  const cooling = ((input.supplyAirC - s.zoneC) * (s.airflowLs / spec.maxAirflowLs)) / VAV_CONTROL.fullFlowTauS;
  s.zoneC += (envelope + gainKPerH / 3600 + cooling) * dtS;
}

/** Sensible cooling the box delivers to its zone, kW (air: 1.2 kg/m3, cp 1.005 kJ/kgK). */
export function vavCoolingKw(s: VavState, supplyAirC: number): number {
  return Math.max(0, (s.airflowLs / 1000) * 1.2 * 1.005 * (s.zoneC - supplyAirC));
}
