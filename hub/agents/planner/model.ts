/**
 * Planner vocabulary: an objective with constraints goes in ("cut energy use 10% at site S over 30
 * days with no comfort violations"); a plan comes out, with sub-objectives per site, zone and
 * gateway, a timeline, the specialists and gateways involved, risks, success criteria and
 * contingencies. Feedback from execution produces the next revision.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Domain } from '../types.js';

const strict = { additionalProperties: false } as const;
const Id = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$' });

export const ObjectiveSchema = Type.Object(
  {
    id: Id,
    kind: Type.Literal('reduce-energy', { description: 'the only objective kind so far' }),
    site: Id,
    targetPct: Type.Number({ exclusiveMinimum: 0, maximum: 100, description: 'energy cut in % of the baseline' }),
    horizonDays: Type.Integer({ minimum: 1, maximum: 3650, default: 30 }),
    // Bounded like every time the API takes (a JavaScript Date's range), so no store sees more.
    startMs: Type.Integer({ minimum: 0, maximum: 8_640_000_000_000_000, description: 'plan start, ms since the epoch' }),
    constraints: Type.Object(
      {
        maxComfortViolations: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0, description: 'comfort violations tolerated per zone over the horizon' }),
        excludeZones: Type.Array(Id, { default: [], description: 'zones the plan must not touch' }),
        protectColdChain: Type.Boolean({ default: true, description: 'never touch cold rooms' }),
        marginPct: Type.Number({ minimum: 0, maximum: 200, default: 15, description: 'plan this much above the target to absorb shortfalls' }),
      },
      { ...strict, default: {} },
    ),
  },
  strict,
);
export type ObjectiveInput = Static<typeof ObjectiveSchema>;
export type Objective = ObjectiveInput;

export type MeasureKind = 'setback' | 'deadband-widen' | 'hc-lockout' | 'peak-shed' | 'lighting-schedule';
export type Phase = 'pilot' | 'rollout' | 'sustain';
export type StepStatus = 'planned' | 'failed' | 'relaxed' | 'replaced';

export interface PlanStep {
  readonly id: string;
  readonly measure: MeasureKind;
  /** Intensity 1..maxLevel (deeper setback, wider deadband, ...). */
  readonly level: number;
  readonly site: string;
  readonly zone: string;
  readonly gateway: string;
  /** Points the step writes (device/point from the facility model). */
  readonly points: ReadonlyArray<{ readonly device: string; readonly point: string; readonly role: string }>;
  readonly expectedSavingKw: number;
  /** 0..1: how likely the step is to cause comfort complaints. */
  readonly comfortRisk: number;
  readonly phase: Phase;
  readonly startMs: number;
  readonly endMs: number;
  readonly specialists: readonly Domain[];
  readonly status: StepStatus;
  /** Id of the step that takes over if this one fails (listed in plan.contingencies). */
  readonly contingency?: string;
  readonly note?: string;
}

export interface SubObjective {
  readonly id: string;
  readonly level: 'site' | 'zone' | 'gateway';
  readonly scope: { readonly site: string; readonly zone?: string; readonly gateway?: string };
  readonly parent?: string;
  readonly targetSavingKw: number;
  readonly expectedSavingKw: number;
  readonly steps: readonly string[];
  readonly fromMs: number;
  readonly toMs: number;
}

export interface Risk {
  readonly id: string;
  readonly description: string;
  readonly likelihood: 'low' | 'medium' | 'high';
  readonly impact: 'low' | 'medium' | 'high';
  readonly mitigation: string;
}

export interface SuccessCriterion {
  readonly metric: 'energy_saving_pct' | 'comfort_violations' | 'cold_chain_breaches';
  readonly comparison: '>=' | '<=';
  readonly target: number;
  readonly byMs: number;
}

export interface TimelinePhase {
  readonly phase: Phase;
  readonly fromMs: number;
  readonly toMs: number;
  readonly steps: readonly string[];
}

export interface Plan {
  readonly id: string;
  readonly revision: number;
  readonly createdAt: number;
  readonly objective: Objective;
  readonly baselineKw: number;
  readonly targetSavingKw: number;
  readonly expectedSavingKw: number;
  readonly expectedSavingPct: number;
  /** false when the available capabilities cannot reach the target (see risks). */
  readonly feasible: boolean;
  /** Active steps (planned) and history (failed, relaxed, replaced). */
  readonly steps: readonly PlanStep[];
  readonly subObjectives: readonly SubObjective[];
  readonly timeline: readonly TimelinePhase[];
  readonly contingencies: readonly PlanStep[];
  readonly specialists: readonly Domain[];
  readonly gateways: readonly string[];
  readonly risks: readonly Risk[];
  readonly successCriteria: readonly SuccessCriterion[];
  /** What this revision changed and why (empty for revision 1). */
  readonly changes: readonly string[];
}

export interface StepFeedback {
  readonly stepId: string;
  readonly status?: 'ok' | 'failed';
  readonly reason?: string;
  readonly measuredSavingKw?: number;
}

export interface ExecutionFeedback {
  readonly atMs: number;
  /** Measured site saving so far, % of baseline. */
  readonly measuredSavingPct?: number;
  readonly steps?: readonly StepFeedback[];
  readonly comfortViolations?: ReadonlyArray<{ readonly zone: string; readonly count: number }>;
}

export const DAY_MS = 86_400_000;
