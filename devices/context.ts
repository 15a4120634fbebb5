/**
 * What every simulated device server runs against: the physics model and the fault registry.
 * A server started alone (startAhuServer(...) in a driver test) creates its own, with its own
 * realtime clock; inside startFacility all servers share one.
 */
import { FaultRegistry } from './faults/registry.js';
import { FacilityModel } from './physics/model.js';
import { driveRealtime, type RealtimeDriver } from './physics/realtime.js';

export interface SimContextOptions {
  /** Shared model; omit to create one (then speed/seed/startTime apply). */
  readonly model?: FacilityModel;
  /** Shared fault registry; omit to create one bound to the model's clock. */
  readonly faults?: FaultRegistry;
  /** Simulated seconds per real second for an owned model. Default 1; 0 = frozen (step() by hand). */
  readonly speed?: number;
  readonly seed?: number;
  /**
   * Sim clock start, ms epoch. Default: now, so sim time tracks the wall clock at speed 1; a frozen
   * clock (speed 0) starts at the model's fixed start instead, so hand-stepped runs do not depend
   * on the hour they run at (the door and occupancy schedules follow the time of day).
   */
  readonly startTime?: number;
}

export interface SimContext {
  readonly model: FacilityModel;
  readonly faults: FaultRegistry;
  /** Stops the realtime driver if this context created it. */
  release(): void;
}

export function resolveContext(options: SimContextOptions): SimContext {
  let driver: RealtimeDriver | undefined;
  let model = options.model;
  if (!model) {
    const speed = options.speed ?? 1;
    model = new FacilityModel({ seed: options.seed, startTime: options.startTime ?? (speed === 0 ? undefined : Date.now()) });
    driver = driveRealtime(model, { speed });
  }
  const m = model;
  let unwire: (() => void) | undefined;
  let faults = options.faults;
  if (!faults) {
    faults = new FaultRegistry({ now: () => m.now(), seed: options.seed });
    unwire = wirePhysicalFaults(faults, m);
  }
  return {
    model: m,
    faults,
    release: () => {
      driver?.stop();
      unwire?.();
    },
  };
}

/** Faults that change the physics rather than a protocol answer (compressor-failure, heat-wave). */
export function wirePhysicalFaults(faults: FaultRegistry, model: FacilityModel): () => void {
  return faults.onChange(() => {
    model.setCompressorFailure(faults.has('compressor-failure'));
    const wave = faults.list().find((f) => f.kind === 'heat-wave');
    model.setHeatWave(wave?.kind === 'heat-wave' ? { offsetK: wave.offsetK, since: wave.injectedAt, rampMs: (wave.rampMinutes ?? 30) * 60_000 } : undefined);
  });
}

export const DEFAULT_HOST = '127.0.0.1';

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
