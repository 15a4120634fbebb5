/**
 * Judging whether an executed action did what it promised: compare the point after the settling
 * window with its value before, in the expected direction and by at least the expected magnitude.
 */
import type { TelemetrySample } from '../ports.js';
import type { ExpectedEffect, PointValue } from '../types.js';

export type EffectVerdict = 'effective' | 'no-effect' | 'bad-effect' | 'no-data';

export interface EffectCheck {
  readonly verdict: EffectVerdict;
  readonly baseline?: number;
  readonly observed?: number;
  readonly delta?: number;
  readonly samples: number;
}

export function numeric(v: PointValue | null | undefined): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return undefined;
}

/** The settled value: the median of the last three samples, so one spike does not decide. */
function settled(samples: readonly TelemetrySample[]): number | undefined {
  const tail = samples.slice(-3).map((s) => numeric(s.value)).filter((v): v is number => v !== undefined);
  if (tail.length === 0) return undefined;
  tail.sort((a, b) => a - b);
  return tail[Math.floor(tail.length / 2)];
}

export function checkEffect(expected: ExpectedEffect, baseline: number | undefined, samples: readonly TelemetrySample[]): EffectCheck {
  const observed = settled(samples);
  const base = baseline ?? numeric(samples[0]?.value);
  if (observed === undefined) return { verdict: 'no-data', samples: samples.length, ...(base === undefined ? {} : { baseline: base }) };
  if (expected.direction === 'reach') {
    const target = expected.target ?? 0;
    const tol = expected.tolerance ?? 0;
    const dist = Math.abs(observed - target);
    const verdict: EffectVerdict =
      dist <= tol ? 'effective' : base !== undefined && dist > Math.abs(base - target) + tol + expected.magnitude ? 'bad-effect' : 'no-effect';
    return { verdict, observed, samples: samples.length, ...(base === undefined ? {} : { baseline: base, delta: observed - base }) };
  }
  if (base === undefined) return { verdict: 'no-data', observed, samples: samples.length };
  const delta = observed - base;
  const signed = expected.direction === 'increase' ? delta : -delta;
  const m = Math.max(expected.magnitude, 1e-9);
  const verdict: EffectVerdict = signed >= m ? 'effective' : signed <= -m ? 'bad-effect' : 'no-effect';
  return { verdict, baseline: base, observed, delta, samples: samples.length };
}
