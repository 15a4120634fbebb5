/**
 * Planner: decomposes an objective ("cut energy use 10% at site S over 30 days with no comfort
 * violations") into steps on the site's gateways — lowest comfort risk first, then stronger
 * settings — with a pilot/rollout/sustain timeline and a contingency per step.
 */
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { SwarmgateError } from '../../../shared/kit/errors.js';
import type { FacilityIndex, Site } from '../facility.js';
import { assemble, fill, phaseBounds, type PlanState } from './assemble.js';
import { candidates, siteBaselineKw } from './measures.js';
import { ObjectiveSchema, type Objective, type Plan } from './model.js';

const checkObjective = TypeCompiler.Compile(ObjectiveSchema);

/** Validates an objective and fills in defaults. */
export function parseObjective(input: unknown): Objective {
  const objective = Value.Default(ObjectiveSchema, Value.Clone(input));
  if (!checkObjective.Check(objective)) {
    const first = [...checkObjective.Errors(objective)][0];
    throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `objective is invalid: ${first ? `${first.path || '/'} ${first.message}` : 'schema mismatch'}`);
  }
  return objective;
}

export function siteOf(facility: FacilityIndex, id: string): Site {
  const site = facility.site(id);
  if (!site) throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `site "${id}" is not in the facility model; known: ${facility.siteIds().join(', ')}`);
  return site;
}

/** Highest comfort risk a step may carry under the objective's comfort constraint. */
export function riskCap(objective: Objective): number {
  return objective.constraints.maxComfortViolations === 0 ? 0.25 : 0.6;
}

/** Plans an objective (validated again here, defaults filled) on the facility's site. */
export function plan(objectiveInput: Objective, facility: FacilityIndex, now = Date.now()): Plan {
  const objective = parseObjective(objectiveInput);
  const site = siteOf(facility, objective.site);
  const pool = candidates(site, objective);
  const baselineKw = siteBaselineKw(site);
  const targetKw = (baselineKw * objective.targetPct) / 100;
  const state: PlanState = new Map();
  const bounds = phaseBounds(objective);
  fill(state, pool, {
    requiredKw: targetKw * (1 + objective.constraints.marginPct / 100),
    avoidZones: new Set(),
    maxRisk: riskCap(objective),
    order: 'add-first',
    phase: 'rollout',
    startMs: bounds.rollout.fromMs,
  });
  // Pilot the lowest-risk tenth first, so surprises show on a few gateways.
  const chosen = [...state.values()];
  const pilots = Math.max(1, Math.ceil(chosen.length * 0.1));
  for (const s of chosen.slice(0, pilots)) {
    s.phase = 'pilot';
    s.startMs = bounds.pilot.fromMs;
  }
  return assemble({ planId: `plan-${objective.id}`, revision: 1, createdAt: now, objective, site, baselineKw, state, pool, changes: [] });
}
