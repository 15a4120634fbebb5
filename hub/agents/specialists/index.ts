/**
 * THE list of specialists: what the hub runs (AgentService) and what tests and benches build.
 * A new specialist is one folder here (a class extending Specialist, see specialist.ts) and one
 * entry in SPECIALISTS.
 */
import type { Agent } from '../types.js';
import { ComfortSpecialist } from './comfort/comfort.js';
import { EnergySpecialist } from './energy/energy.js';
import { EquipmentHealthSpecialist } from './equipment-health/equipment-health.js';
import { SafetySpecialist } from './safety/safety.js';

/** Options every built-in specialist takes. */
export interface SpecialistOptions {
  /** Settling window of the specialist's expected effects, ms. */
  readonly settleMs?: number;
}

/** Safety first: the coordinator asks in this order. */
const SPECIALISTS: ReadonlyArray<(options: SpecialistOptions) => Agent> = [
  (o) => new SafetySpecialist(o),
  (o) => new EquipmentHealthSpecialist(o),
  (o) => new EnergySpecialist(o),
  (o) => new ComfortSpecialist(o),
];

/** The built-in specialists, each with `settleMs` when given (else its own default). */
export function createSpecialists(settleMs?: number): Agent[] {
  const options: SpecialistOptions = settleMs === undefined ? {} : { settleMs };
  return SPECIALISTS.map((create) => create(options));
}
