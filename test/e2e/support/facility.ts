/**
 * The simulated building, run busy: sim time at 60x and the AHU fan on, so counters, coil energy
 * and temperatures move on most polls and report-by-exception lets a steady stream through
 * (at 1x with the fan off nearly every point only heartbeats).
 */
import { startFacility, type Facility } from '../../../devices/facility.js';

export async function startBusyFacility(seed: number): Promise<Facility> {
  const facility = await startFacility({ seed, speed: 60 });
  facility.model.setAhuEnable(true);
  facility.model.setFanCommand(true);
  facility.model.setFanSpeed(60);
  return facility;
}
