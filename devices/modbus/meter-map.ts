/**
 * Register map of the simulated EM-300 three-phase energy meter (Modbus RTU). Measurements are
 * input registers (float32 big word order); the energy counter is uint32 kWh x 10 whose word
 * order is configurable (default little = low word first, as many real meters do).
 */
import type { FaultRegistry } from '../faults/registry.js';
import type { SensorTarget } from '../faults/types.js';
import type { MeterState } from '../physics/meters.js';
import type { Order } from './codec.js';
import type { RegisterPoint } from './register-map.js';

export interface MeterConfig {
  /** Writable configuration registers kept per meter (not physics). */
  ctRatio: number;
  demandPeriodMin: number;
  pulseOutput: boolean;
}

export function meterPoints(meter: MeterState, unit: number, energyWordOrder: Order, config: MeterConfig, faults?: FaultRegistry): RegisterPoint[] {
  const sensor = <T extends number | boolean>(target: SensorTarget, v: T): T => (faults ? faults.sensor(target, v, unit) : v);
  return [
    { name: 'pulse_output', description: 'Pulse output enable', table: 'coil', register: 0, type: 'bool', get: () => config.pulseOutput, set: (v) => (config.pulseOutput = Boolean(v)) },
    { name: 'phase_loss', description: 'Phase loss alarm', table: 'discrete', register: 0, type: 'bool', get: () => meter.voltageV < 180 },
    { name: 'voltage', description: 'Phase-to-neutral voltage (average)', unit: 'V', table: 'input', register: 0, type: 'float32', deadband: 0.5, get: () => sensor('meter.voltage', meter.voltageV) },
    { name: 'current', description: 'Phase current (average)', unit: 'A', table: 'input', register: 2, type: 'float32', deadband: 0.1, get: () => sensor('meter.current', meter.currentA) },
    { name: 'active_power', description: 'Total active power', unit: 'kW', table: 'input', register: 4, type: 'float32', deadband: 0.05, get: () => sensor('meter.active_power', meter.powerKw) },
    { name: 'power_factor', description: 'Total power factor', table: 'input', register: 6, type: 'int16', scale: 0.001, get: () => meter.powerFactor },
    { name: 'frequency', description: 'Line frequency', unit: 'Hz', table: 'input', register: 7, type: 'uint16', scale: 0.01, get: () => meter.frequencyHz },
    { name: 'energy_total', description: 'Active energy import counter', unit: 'kWh', table: 'input', register: 8, type: 'uint32', wordOrder: energyWordOrder, scale: 0.1, get: () => sensor('meter.energy_total', meter.energyKwh) },
    { name: 'ct_ratio', description: 'Current transformer ratio', table: 'holding', register: 0, type: 'uint16', limits: { min: 1, max: 10000 }, get: () => config.ctRatio, set: (v) => (config.ctRatio = Number(v)) },
    { name: 'demand_period', description: 'Demand integration period', unit: 'min', table: 'holding', register: 1, type: 'uint16', limits: { min: 1, max: 60 }, get: () => config.demandPeriodMin, set: (v) => (config.demandPeriodMin = Number(v)) },
  ];
}
