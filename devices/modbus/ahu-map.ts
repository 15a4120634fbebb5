/**
 * Register map of the simulated AHU-100 (Modbus TCP). Exercises every data type: float32 temps,
 * scaled uint16/int16 setpoints, uint32 run hours, int32 coil energy, float64 air volume, a
 * status word read bit by bit, and a string serial number.
 */
import type { FaultRegistry } from '../faults/registry.js';
import type { SensorTarget } from '../faults/types.js';
import type { FacilityModel } from '../physics/model.js';
import { fanRunning, filterAlarm, freezeStat } from '../physics/ahu.js';
import type { RegisterPoint } from './register-map.js';

export const AHU_SERIAL_NUMBER = 'AHU100-SIM-00042';

export function ahuPoints(model: FacilityModel, faults?: FaultRegistry): RegisterPoint[] {
  const a = model.ahu;
  const sensor = <T extends number | boolean>(target: SensorTarget, v: T): T => (faults ? faults.sensor(target, v) : v);
  return [
    // Coils
    { name: 'fan_command', description: 'Supply fan start/stop command', table: 'coil', register: 0, type: 'bool', get: () => a.fanCommand, set: (v) => model.setFanCommand(Boolean(v)) },
    // Discrete inputs
    { name: 'filter_alarm', description: 'Filter differential pressure high (filter dirty)', table: 'discrete', register: 0, type: 'bool', get: () => sensor('ahu.filter_alarm', filterAlarm(a)) },
    { name: 'freeze_stat', description: 'Freeze protection thermostat tripped (mixed air too cold)', table: 'discrete', register: 1, type: 'bool', get: () => sensor('ahu.freeze_stat', freezeStat(a)) },
    { name: 'fan_running', description: 'Supply fan running (command and enable relay)', table: 'discrete', register: 2, type: 'bool', get: () => fanRunning(a) },
    // Input registers
    { name: 'supply_air_temp', description: 'Supply air temperature', unit: 'degC', table: 'input', register: 0, type: 'float32', deadband: 0.05, get: () => sensor('ahu.supply_air_temp', a.supplyAirC) },
    { name: 'return_air_temp', description: 'Return air temperature', unit: 'degC', table: 'input', register: 2, type: 'float32', deadband: 0.05, get: () => sensor('ahu.return_air_temp', a.returnAirC) },
    { name: 'outdoor_air_temp', description: 'Outdoor air temperature', unit: 'degC', table: 'input', register: 4, type: 'float32', deadband: 0.1, get: () => sensor('ahu.outdoor_air_temp', model.outdoorC) },
    { name: 'mixed_air_temp', description: 'Mixed air temperature (after dampers, before coil)', unit: 'degC', table: 'input', register: 6, type: 'float32', deadband: 0.05, get: () => sensor('ahu.mixed_air_temp', a.mixedAirC) },
    { name: 'filter_dp', description: 'Filter differential pressure', unit: 'Pa', table: 'input', register: 8, type: 'uint16', get: () => sensor('ahu.filter_dp', a.filterDpPa) },
    { name: 'fan_speed_feedback', description: 'Actual fan speed', unit: '%', table: 'input', register: 9, type: 'uint16', scale: 0.1, get: () => a.fanActualPct },
    { name: 'run_hours', description: 'Fan run hours counter', unit: 'h', table: 'input', register: 10, type: 'uint32', scale: 0.1, get: () => a.runHours },
    { name: 'coil_energy', description: 'Net coil thermal energy (negative = cooling)', unit: 'Wh', table: 'input', register: 12, type: 'int32', get: () => a.coilEnergyWh },
    { name: 'air_volume_total', description: 'Total air volume moved', unit: 'm3', table: 'input', register: 14, type: 'float64', get: () => a.airVolumeM3 },
    { name: 'status_fan_running', description: 'Status word bit 0: fan running', table: 'input', register: 18, type: 'bool', bit: 0, get: () => fanRunning(a) },
    { name: 'status_filter_alarm', description: 'Status word bit 1: filter alarm', table: 'input', register: 18, type: 'bool', bit: 1, get: () => sensor('ahu.filter_alarm', filterAlarm(a)) },
    { name: 'status_freeze_stat', description: 'Status word bit 2: freeze-stat', table: 'input', register: 18, type: 'bool', bit: 2, get: () => sensor('ahu.freeze_stat', freezeStat(a)) },
    { name: 'status_enabled', description: 'Status word bit 3: remote enable relay closed', table: 'input', register: 18, type: 'bool', bit: 3, get: () => a.enableRelay },
    { name: 'serial_number', description: 'Unit serial number', table: 'input', register: 20, type: 'string', length: 8, get: () => AHU_SERIAL_NUMBER },
    // Holding registers (writable)
    { name: 'fan_speed_setpoint', description: 'Fan speed setpoint', unit: '%', table: 'holding', register: 0, type: 'uint16', scale: 0.1, limits: { min: 0, max: 100 }, get: () => a.fanSpeedPct, set: (v) => model.setFanSpeed(Number(v)) },
    { name: 'damper_position', description: 'Outdoor air damper position command (0 = full recirculation)', unit: '%', table: 'holding', register: 1, type: 'uint16', scale: 0.1, limits: { min: 0, max: 100 }, get: () => a.damperPct, set: (v) => model.setDamper(Number(v)) },
    { name: 'supply_temp_setpoint', description: 'Supply air temperature setpoint', unit: 'degC', table: 'holding', register: 2, type: 'int16', scale: 0.1, limits: { min: 5, max: 35 }, get: () => a.supplySetpointC, set: (v) => model.setSupplySetpoint(Number(v)) },
  ];
}
