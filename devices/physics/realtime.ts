/**
 * Drives a FacilityModel from the wall clock: every tick, step by (real elapsed) x speed.
 * speed = simulated seconds per real second; 0 freezes the model (tests then call step()).
 */
import type { FacilityModel } from './model.js';

export interface RealtimeOptions {
  /** Simulated seconds per real second. Default 1. */
  readonly speed?: number;
  /** Real milliseconds between steps. Default 200. */
  readonly tickMs?: number;
  /** Injectable real clock (ms), for tests. Default performance.now. */
  readonly clock?: () => number;
}

export interface RealtimeDriver {
  readonly speed: number;
  setSpeed(speed: number): void;
  stop(): void;
}

export function driveRealtime(model: FacilityModel, options: RealtimeOptions = {}): RealtimeDriver {
  const clock = options.clock ?? (() => performance.now());
  let speed = options.speed ?? 1;
  let last = clock();
  const timer = setInterval(() => {
    const now = clock();
    const elapsedS = (now - last) / 1000;
    last = now;
    if (speed > 0 && elapsedS > 0) model.step(elapsedS * speed);
  }, options.tickMs ?? 200);
  // Never keep a process alive just for the simulation clock.
  timer.unref();
  return {
    get speed() {
      return speed;
    },
    setSpeed(next: number): void {
      speed = next;
    },
    stop(): void {
      clearInterval(timer);
    },
  };
}
