/** The four built-in specialists, ready to register. */
import { ComfortSpecialist } from './comfort/comfort.js';
import { EnergySpecialist } from './energy/energy.js';
import { EquipmentHealthSpecialist } from './equipment-health/equipment-health.js';
import { SafetySpecialist } from './safety/safety.js';
import type { Agent } from './types.js';

export function createSpecialists(): Agent[] {
  return [new SafetySpecialist(), new EquipmentHealthSpecialist(), new EnergySpecialist(), new ComfortSpecialist()];
}
