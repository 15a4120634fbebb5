/**
 * The whole simulated facility as one deterministic model: weather + occupancy, the AHU, the
 * cold room and the energy meters. Pure: no timers, no I/O. Time only moves through step();
 * realtime.ts drives it from a wall clock for live servers.
 */
import { fanPowerKw, fanRunning, filterAlarm, freezeStat, initialAhu, stepAhu, type AhuState } from './ahu.js';
import { compressorKw, initialColdRoom, stepColdRoom, type ColdRoomState } from './cold-room.js';
import { initialMeter, METER_KINDS, stepMeter, type MeterKind, type MeterState } from './meters.js';
import { createPrng, type Prng } from './prng.js';
import { doorOpenAt, occupiedAt, outdoorBaseC } from './schedule.js';

export interface FacilityModelOptions {
  /** PRNG seed; the same seed and the same step() calls give the same states. Default 1. */
  readonly seed?: number;
  /** Sim clock start, ms since epoch. Default 2024-11-25T00:00:00Z (a Monday). */
  readonly startTime?: number;
  /** Local time offset used for schedules (working hours, daily temperature cycle). Default 0 (UTC). */
  readonly utcOffsetMinutes?: number;
  /** Mean outdoor temperature, degC. Default 10. */
  readonly outdoorMeanC?: number;
  /** Daily outdoor swing (half peak-to-peak), K. Default 6. */
  readonly outdoorAmplitudeK?: number;
  /** Integration step, s. Default 2. */
  readonly maxStepS?: number;
}

export const DEFAULT_START_TIME = Date.UTC(2024, 10, 25, 0, 0, 0);

export interface FacilitySnapshot {
  /** Sim time, ms since epoch. */
  readonly time: number;
  readonly outdoorC: number;
  readonly occupied: boolean;
  readonly ahu: AhuState & { readonly fanRunning: boolean; readonly filterAlarm: boolean; readonly freezeStat: boolean; readonly fanPowerKw: number };
  readonly coldRoom: ColdRoomState;
  readonly meters: Readonly<Record<MeterKind, MeterState>>;
}

export type TickListener = (model: FacilityModel) => void;

export class FacilityModel {
  readonly seed: number;
  private simTime: number;
  private readonly utcOffset: number;
  private readonly outdoorMean: number;
  private readonly outdoorAmplitude: number;
  private readonly maxStep: number;
  private readonly prng: Prng;
  /** Weather noise (Ornstein-Uhlenbeck, K) so the outdoor curve is not a perfect sine. */
  private weatherNoise = 0;
  private outdoor: number;
  private occupiedNow: boolean;
  readonly ahu: AhuState;
  readonly coldRoom: ColdRoomState;
  readonly meters: Record<MeterKind, MeterState>;
  private readonly listeners = new Set<TickListener>();
  /** Door forced open/closed (tests, demos); undefined = follow the delivery schedule. */
  private doorOverride: boolean | undefined;
  /** A heat wave (or cold snap): offset added to the outdoor temperature, built up over rampMs from `since`. */
  private heatWave: { readonly offsetK: number; readonly since: number; readonly rampMs: number } | undefined;

  constructor(options: FacilityModelOptions = {}) {
    this.seed = options.seed ?? 1;
    this.simTime = options.startTime ?? DEFAULT_START_TIME;
    this.utcOffset = options.utcOffsetMinutes ?? 0;
    this.outdoorMean = options.outdoorMeanC ?? 10;
    this.outdoorAmplitude = options.outdoorAmplitudeK ?? 6;
    this.maxStep = options.maxStepS ?? 2;
    this.prng = createPrng(this.seed);
    this.outdoor = outdoorBaseC(this.seed, this.simTime, this.utcOffset, this.outdoorMean, this.outdoorAmplitude);
    this.occupiedNow = occupiedAt(this.seed, this.simTime, this.utcOffset);
    this.ahu = initialAhu(this.outdoor);
    this.coldRoom = initialColdRoom();
    this.meters = { main: initialMeter('main'), refrigeration: initialMeter('refrigeration'), hvac: initialMeter('hvac') };
    this.coldRoom.doorOpen = doorOpenAt(this.seed, this.simTime, this.utcOffset);
    this.updateMeters(0);
  }

  /** Sim time, ms since epoch. */
  now(): number {
    return this.simTime;
  }

  get outdoorC(): number {
    return this.outdoor;
  }

  get occupied(): boolean {
    return this.occupiedNow;
  }

  /** Advance the simulation by simSeconds (any size; integrated in small fixed steps). */
  step(simSeconds: number): void {
    let remaining = simSeconds;
    while (remaining > 1e-9) {
      const dt = Math.min(this.maxStep, remaining);
      this.integrate(dt);
      remaining -= dt;
    }
    for (const listener of this.listeners) listener(this);
  }

  /** Called after every step() (servers use it to push changes). Returns an unsubscribe function. */
  onTick(listener: TickListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // Actuation: what the protocol servers call when a client writes.
  setFanCommand(on: boolean): void {
    this.ahu.fanCommand = on;
  }
  setFanSpeed(pct: number): void {
    this.ahu.fanSpeedPct = clamp(pct, 0, 100);
  }
  setDamper(pct: number): void {
    this.ahu.damperPct = clamp(pct, 0, 100);
  }
  setSupplySetpoint(c: number): void {
    this.ahu.supplySetpointC = clamp(c, 5, 35);
  }
  setAhuEnable(on: boolean): void {
    this.ahu.enableRelay = on;
  }
  setColdRoomSetpoint(c: number): void {
    this.coldRoom.setpointC = clamp(c, -40, 10);
  }
  setBackupCompressor(on: boolean): void {
    this.coldRoom.backupCompressor = on;
  }
  setCompressorFailure(failed: boolean): void {
    this.coldRoom.compressorFailed = failed;
  }
  /** Force the cold-room door open (true) or shut (false); undefined returns it to the schedule. */
  /** Weather out of the ordinary: offsetK more outdoors, reached rampMs after `since` (sim time); undefined ends it. */
  setHeatWave(wave: { readonly offsetK: number; readonly since: number; readonly rampMs: number } | undefined): void {
    this.heatWave = wave;
  }

  setDoorOverride(open: boolean | undefined): void {
    this.doorOverride = open;
    this.coldRoom.doorOpen = open ?? doorOpenAt(this.seed, this.simTime, this.utcOffset);
  }

  snapshot(): FacilitySnapshot {
    return {
      time: this.simTime,
      outdoorC: this.outdoor,
      occupied: this.occupiedNow,
      ahu: {
        ...this.ahu,
        fanRunning: fanRunning(this.ahu),
        filterAlarm: filterAlarm(this.ahu),
        freezeStat: freezeStat(this.ahu),
        fanPowerKw: fanPowerKw(this.ahu),
      },
      coldRoom: { ...this.coldRoom },
      meters: { main: { ...this.meters.main }, refrigeration: { ...this.meters.refrigeration }, hvac: { ...this.meters.hvac } },
    };
  }

  private heatWaveK(): number {
    const w = this.heatWave;
    if (!w) return 0;
    const built = w.rampMs <= 0 ? 1 : Math.min(1, Math.max(0, (this.simTime - w.since) / w.rampMs));
    return w.offsetK * built;
  }

  private integrate(dt: number): void {
    this.simTime += dt * 1000;
    // OU process: tau 2 h, stationary sd ~0.8 K.
    const tau = 7200;
    this.weatherNoise += (-this.weatherNoise / tau) * dt + 0.8 * Math.sqrt((2 * dt) / tau) * this.prng.gaussian();
    this.outdoor = outdoorBaseC(this.seed, this.simTime, this.utcOffset, this.outdoorMean, this.outdoorAmplitude) + this.weatherNoise + this.heatWaveK();
    this.occupiedNow = occupiedAt(this.seed, this.simTime, this.utcOffset);
    this.coldRoom.doorOpen = this.doorOverride ?? doorOpenAt(this.seed, this.simTime, this.utcOffset);

    // People, lighting and equipment warm the zone; a little always (servers, fridges).
    const gainKPerH = this.occupiedNow ? 1.6 : 0.3;
    stepAhu(this.ahu, dt, this.outdoor, gainKPerH);
    stepColdRoom(this.coldRoom, dt);
    this.updateMeters(dt);
  }

  private updateMeters(dt: number): void {
    const fanKw = fanPowerKw(this.ahu);
    const compKw = compressorKw(this.coldRoom);
    for (const kind of METER_KINDS) {
      const noise: [number, number, number] = [this.prng.gaussian(), this.prng.gaussian(), this.prng.gaussian()];
      stepMeter(this.meters[kind], dt, { occupied: this.occupiedNow, fanKw, compressorKw: compKw, noise });
    }
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
