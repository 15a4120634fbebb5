/**
 * Three-phase energy meters on the building's RS-485 bus:
 * - main: the incomer (base load + lighting when occupied + AHU fan + refrigeration),
 * - refrigeration: sub-meter on the cold-room compressors,
 * - hvac: sub-meter on the AHU fan.
 * Energy counters integrate power; they start at large values so 32-bit word order matters.
 */

export type MeterKind = 'main' | 'refrigeration' | 'hvac';
export const METER_KINDS: readonly MeterKind[] = ['main', 'refrigeration', 'hvac'];

export interface MeterState {
  readonly kind: MeterKind;
  /** Active power, kW. */
  powerKw: number;
  /** Phase-to-neutral voltage, V. */
  voltageV: number;
  /** Phase current, A. */
  currentA: number;
  powerFactor: number;
  frequencyHz: number;
  /** Active energy import, kWh. */
  energyKwh: number;
}

const START_ENERGY: Record<MeterKind, number> = { main: 1_234_567.8, refrigeration: 456_789.1, hvac: 98_765.4 };

export function initialMeter(kind: MeterKind): MeterState {
  return { kind, powerKw: 0, voltageV: 230, currentA: 0, powerFactor: 0.95, frequencyHz: 50, energyKwh: START_ENERGY[kind] };
}

export interface LoadInputs {
  readonly occupied: boolean;
  readonly fanKw: number;
  readonly compressorKw: number;
  /** Standard-normal noise samples for this step. */
  readonly noise: readonly [number, number, number];
}

export function meterPowerKw(kind: MeterKind, load: LoadInputs): number {
  switch (kind) {
    case 'main':
      return 4 + (load.occupied ? 6 : 0.5) + load.fanKw + load.compressorKw + 0.15 * load.noise[0];
    case 'refrigeration':
      return load.compressorKw > 0 ? load.compressorKw + 0.05 * load.noise[0] : 0.02;
    case 'hvac':
      return load.fanKw > 0 ? load.fanKw + 0.02 * load.noise[0] : 0.01;
  }
}

export function stepMeter(m: MeterState, dtS: number, load: LoadInputs): void {
  m.powerKw = Math.max(0, meterPowerKw(m.kind, load));
  m.voltageV = 230 + 1.5 * load.noise[1];
  m.frequencyHz = 50 + 0.02 * load.noise[2];
  m.powerFactor = m.kind === 'main' ? 0.93 : m.powerKw > 0.1 ? 0.85 : 0.5;
  m.currentA = (m.powerKw * 1000) / (3 * m.voltageV * m.powerFactor);
  m.energyKwh += (m.powerKw * dtS) / 3600;
}
