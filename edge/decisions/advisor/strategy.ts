/**
 * What a recommendation strategy is: a small pure function from the facility's state (seen
 * through role bindings, never device names) to proposals with a confidence derived from the
 * strength of the evidence. Strategies are registered in strategies/index.ts.
 */
import { clamp01 } from '../../../shared/kit/numbers.js';
import type { ProposalBasis } from '../../../shared/wire/messages.js';
import type { PointValue, Quality } from '../../drivers/driver.js';

export { clamp01 };

export type ParamValue = number | boolean | string;

export interface Observation {
  readonly value: PointValue;
  readonly quality: Quality;
  readonly ts: number;
  readonly ageS: number;
}

export interface AnomalyEvidence {
  /** The monitor's combined score; 0 while the point is still learning (see `learning`). */
  readonly score: number;
  /** The point is inside its learning period: its score is not evidence yet (score 0). */
  readonly learning?: boolean;
  readonly detectorScore?: number;
  readonly outOfRange?: boolean;
  readonly flatline?: boolean;
  readonly backend?: string;
  readonly readings?: number;
  readonly hasModel?: boolean;
}

export interface StrategyContext {
  /** ms since the epoch. */
  readonly now: number;
  /** Whether the role is bound in the config. */
  bound(role: string): boolean;
  /** Latest reading of the role's point when usable (good or uncertain). */
  get(role: string): Observation | undefined;
  number(role: string): number | undefined;
  boolean(role: string): boolean | undefined;
  /** 1 good, 0.6 uncertain, 0 bad or missing. */
  quality(role: string): number;
  /** Seconds the role's point has held its current value (a lower bound right after start). */
  heldS(role: string): number | undefined;
  /**
   * Seconds since the advisor saw the role's point change value; undefined while it has not seen a
   * change (since start), so "recently switched" is never guessed.
   */
  changedS(role: string): number | undefined;
  /**
   * Seconds the role's numeric readings have stayed at or below `level` (0 when the latest is above
   * it; counted from the oldest reading kept, so a lower bound right after start).
   */
  heldBelowS(role: string, level: number): number | undefined;
  /** Least-squares slope per hour over the last windowS; undefined without half a window of data. */
  trendPerHour(role: string, windowS: number): number | undefined;
  anomaly(role: string): AnomalyEvidence | undefined;
  param(name: string): ParamValue;
  num(name: string): number;
}

/** A strategy's proposal: the wire's proposal basis (confidence, rationale, evidence) plus a role to write. */
export interface StrategyProposal extends Readonly<ProposalBasis> {
  /** Role of the point to write (must be one of the strategy's written roles). */
  readonly target: string;
  readonly value: PointValue;
  /** In [0,1]; derived from margins, durations, anomaly scores and data quality. */
  readonly confidence: number;
  /** Overrides the strategy's action class for this proposal (e.g. switching a backup off is energy, not safety). */
  readonly actionClass?: string;
  /** Raised as an event with the recommendation, whatever the routing (e.g. a freezer alarm). */
  readonly alarm?: { readonly severity: 'warning' | 'critical'; readonly message: string };
  /**
   * Not to be carried out for this many seconds yet (equipment protection, e.g. a compressor's
   * minimum off time): its alarm is raised now, the write is neither applied nor sent for review,
   * and the strategy proposes it again once the hold is over.
   */
  readonly holdS?: number;
}

export interface Strategy {
  readonly kind: string;
  readonly description: string;
  readonly actionClass: string;
  readonly roles: {
    readonly required: readonly string[];
    readonly optional: readonly string[];
    /** Roles the strategy may write (must be writable points). */
    readonly written: readonly string[];
    /** The kind of value each role reads (and writes): a binding to a point of another type is refused. */
    readonly kinds: Readonly<Record<string, 'number' | 'boolean'>>;
  };
  readonly defaults: Readonly<Record<string, ParamValue>>;
  propose(ctx: StrategyContext): StrategyProposal[];
}

/** Saturating evidence: 0 at 0, ~0.63 at `scale`, → 1. */
export function saturate(x: number, scale: number): number {
  return x <= 0 ? 0 : 1 - Math.exp(-x / scale);
}

/** Noisy-OR of independent pieces of evidence, each (strength in [0,1]) × (weight in [0,1]). */
export function noisyOr(parts: ReadonlyArray<readonly [number, number]>): number {
  let none = 1;
  for (const [strength, weight] of parts) none *= 1 - clamp01(strength) * clamp01(weight);
  return 1 - none;
}

export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
