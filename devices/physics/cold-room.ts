/**
 * Freezer cold room at about -18 degC. Heat leaks in through the envelope (slow) and the door
 * (fast while open); the main compressor cycles on a thermostat with hysteresis; the backup
 * compressor (relay on GPIO 22) cools whenever its relay is on. The controller raises a compressor
 * fault alarm when it calls for cooling and the main compressor does not run. Cooling is modelled as a pull
 * toward the evaporator temperature, so it weakens as the room gets colder.
 */

export interface ColdRoomState {
  temperatureC: number;
  setpointC: number;
  /** Thermostat switches on above setpoint + hysteresis, off below setpoint - hysteresis. */
  hysteresisK: number;
  doorOpen: boolean;
  /** The thermostat calls for cooling (on above setpoint + hysteresis, off below setpoint - hysteresis). */
  coolingDemand: boolean;
  compressorRunning: boolean;
  backupCompressor: boolean;
  /** Fault: the main compressor does not start (room warms steadily). */
  compressorFailed: boolean;
  /**
   * The controller's compressor alarm: cooling was called for and the compressor is not running
   * (it tripped while running, or failed to start). Latched until the compressor works again.
   */
  compressorFault: boolean;
  /** Compressor starts counted since start, for believability in snapshots. */
  compressorStarts: number;
}

export const COLD_ROOM = {
  ambientC: 20,
  evaporatorC: -32,
  envelopeTauH: 12,
  doorTauH: 1,
  compressorTauH: 2,
  backupTauH: 3,
} as const;

export function initialColdRoom(): ColdRoomState {
  return {
    temperatureC: -18,
    setpointC: -18,
    hysteresisK: 1,
    doorOpen: false,
    coolingDemand: false,
    compressorRunning: false,
    backupCompressor: false,
    compressorFailed: false,
    compressorFault: false,
    compressorStarts: 0,
  };
}

export function compressorKw(s: ColdRoomState): number {
  return (s.compressorRunning ? 3.5 : 0) + (s.backupCompressor ? 2.5 : 0);
}

export function stepColdRoom(s: ColdRoomState, dtS: number): void {
  const t = s.temperatureC;
  if (!s.coolingDemand && t > s.setpointC + s.hysteresisK) s.coolingDemand = true;
  else if (s.coolingDemand && t < s.setpointC - s.hysteresisK) s.coolingDemand = false;
  // A failed compressor stops at once when running, and does not start when next called: an idle
  // one shows nothing until the thermostat calls for cooling (as with real equipment).
  const run = s.coolingDemand && !s.compressorFailed;
  if (run && !s.compressorRunning) s.compressorStarts += 1;
  s.compressorRunning = run;
  if (s.compressorFailed && s.coolingDemand) s.compressorFault = true;
  else if (!s.compressorFailed) s.compressorFault = false;
  const perS = (tauH: number): number => 1 / (tauH * 3600);
  let dTdt = (COLD_ROOM.ambientC - t) * perS(COLD_ROOM.envelopeTauH);
  if (s.doorOpen) dTdt += (COLD_ROOM.ambientC - t) * perS(COLD_ROOM.doorTauH);
  if (s.compressorRunning) dTdt -= (t - COLD_ROOM.evaporatorC) * perS(COLD_ROOM.compressorTauH);
  if (s.backupCompressor) dTdt -= (t - COLD_ROOM.evaporatorC) * perS(COLD_ROOM.backupTauH);
  s.temperatureC = t + dTdt * dtS;
}
