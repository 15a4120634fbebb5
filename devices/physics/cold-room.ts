/**
 * Freezer cold room at about -18 degC. Heat leaks in through the envelope (slow) and the door
 * (fast while open); the main compressor cycles on a thermostat with hysteresis; the backup
 * compressor (relay on GPIO 22) cools whenever its relay is on. Cooling is modelled as a pull
 * toward the evaporator temperature, so it weakens as the room gets colder.
 */

export interface ColdRoomState {
  temperatureC: number;
  setpointC: number;
  /** Thermostat switches on above setpoint + hysteresis, off below setpoint - hysteresis. */
  hysteresisK: number;
  doorOpen: boolean;
  compressorRunning: boolean;
  backupCompressor: boolean;
  /** Fault: the main compressor does not start (room warms steadily). */
  compressorFailed: boolean;
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
    compressorRunning: false,
    backupCompressor: false,
    compressorFailed: false,
    compressorStarts: 0,
  };
}

export function compressorKw(s: ColdRoomState): number {
  return (s.compressorRunning ? 3.5 : 0) + (s.backupCompressor ? 2.5 : 0);
}

export function stepColdRoom(s: ColdRoomState, dtS: number): void {
  const t = s.temperatureC;
  if (s.compressorFailed) {
    s.compressorRunning = false;
  } else if (!s.compressorRunning && t > s.setpointC + s.hysteresisK) {
    s.compressorRunning = true;
    s.compressorStarts += 1;
  } else if (s.compressorRunning && t < s.setpointC - s.hysteresisK) {
    s.compressorRunning = false;
  }
  const perS = (tauH: number): number => 1 / (tauH * 3600);
  let dTdt = (COLD_ROOM.ambientC - t) * perS(COLD_ROOM.envelopeTauH);
  if (s.doorOpen) dTdt += (COLD_ROOM.ambientC - t) * perS(COLD_ROOM.doorTauH);
  if (s.compressorRunning) dTdt -= (t - COLD_ROOM.evaporatorC) * perS(COLD_ROOM.compressorTauH);
  if (s.backupCompressor) dTdt -= (t - COLD_ROOM.evaporatorC) * perS(COLD_ROOM.backupTauH);
  s.temperatureC = t + dTdt * dtS;
}
