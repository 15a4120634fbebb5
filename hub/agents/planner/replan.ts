/**
 * Re-planning from execution feedback:
 *   failed step        -> its contingency takes over (or other steps cover the gap);
 *   comfort violation  -> relax the zone (lower levels, drop intrusive steps), compensate elsewhere;
 *   saving shortfall   -> estimates were optimistic: strengthen running steps, then add new ones.
 */
import type { FacilityIndex } from '../facility.js';
import { active, assemble, expectedKw, fill, stepId, type PlanState } from './assemble.js';
import { candidates, siteBaselineKw, type Candidate } from './measures.js';
import type { ExecutionFeedback, Plan } from './model.js';
import { riskCap, siteOf } from './planner.js';

/** Steps at level 1 with at least this comfort risk are dropped when their zone complains. */
const DROP_RISK = 0.25;

export function replan(previous: Plan, feedback: ExecutionFeedback, facility: FacilityIndex): Plan {
  const objective = previous.objective;
  const site = siteOf(facility, objective.site);
  const pool = candidates(site, objective);
  const byStepId = new Map<string, Candidate>(pool.map((c) => [stepId(c), c]));
  const baselineKw = siteBaselineKw(site);
  const changes: string[] = [];

  // Rebuild the working state; steps whose gateway left the model are dropped with a note.
  const state: PlanState = new Map();
  for (const step of previous.steps) {
    const c = byStepId.get(step.id);
    if (!c) {
      changes.push(`step ${step.id} dropped: ${step.gateway} is no longer in the facility model`);
      continue;
    }
    state.set(c.key, { candidate: c, level: step.level, status: step.status, phase: step.phase, startMs: step.startMs, ...(step.note === undefined ? {} : { note: step.note }) });
  }
  const contingencyOf = new Map(previous.steps.filter((s) => s.contingency).map((s) => [s.id, s.contingency as string]));

  for (const f of feedback.steps ?? []) {
    if (f.status !== 'failed') continue;
    const c = byStepId.get(f.stepId);
    const s = c ? state.get(c.key) : undefined;
    if (!s || s.status !== 'planned') continue;
    s.status = 'failed';
    s.note = f.reason ?? 'failed';
    const alt = contingencyOf.get(f.stepId);
    const altCandidate = alt ? byStepId.get(alt) : undefined;
    if (altCandidate && !state.has(altCandidate.key)) {
      state.set(altCandidate.key, { candidate: altCandidate, level: 1, status: 'planned', phase: 'rollout', startMs: feedback.atMs, note: `contingency for ${f.stepId}` });
      changes.push(`step ${f.stepId} failed (${s.note}): contingency ${alt} (${altCandidate.spec.kind} on ${altCandidate.gateway}) takes over`);
    } else {
      changes.push(`step ${f.stepId} failed (${s.note}) and has no free contingency; other steps cover the gap`);
    }
  }

  const avoid = new Set<string>();
  for (const v of feedback.comfortViolations ?? []) {
    if (v.count <= objective.constraints.maxComfortViolations) continue;
    avoid.add(v.zone);
    let lowered = 0;
    let dropped = 0;
    for (const s of active(state)) {
      if (s.candidate.zone !== v.zone || s.candidate.spec.comfortRisk(s.level) <= 0.05) continue;
      if (s.level > 1) {
        s.level -= 1;
        lowered += 1;
      } else if (s.candidate.spec.comfortRisk(1) >= DROP_RISK) {
        s.status = 'relaxed';
        s.note = `${v.count} comfort violations in ${v.zone}`;
        dropped += 1;
      }
    }
    changes.push(`comfort: ${v.count} violations in ${v.zone}; relaxed (${lowered} steps lowered, ${dropped} dropped); no strengthening there`);
  }

  // How well estimates hold: measured vs what the plan expected. Only a shortfall changes the need.
  const targetKw = (baselineKw * objective.targetPct) / 100;
  let requiredKw = targetKw * (1 + objective.constraints.marginPct / 100);
  const measured = feedback.measuredSavingPct;
  let shortfall = false;
  if (measured !== undefined && measured < objective.targetPct && previous.expectedSavingPct > 0) {
    const realisation = Math.max(0.2, measured / previous.expectedSavingPct);
    requiredKw /= realisation;
    shortfall = true;
  }
  const before = expectedKw(state);
  const { added, strengthened } = fill(state, pool, {
    requiredKw,
    avoidZones: avoid,
    maxRisk: riskCap(objective),
    order: shortfall ? 'strengthen-first' : 'add-first',
    phase: 'rollout',
    startMs: feedback.atMs,
  });
  if (shortfall) {
    changes.push(
      `shortfall: measured ${measured?.toFixed(1)}% vs expected ${previous.expectedSavingPct.toFixed(1)}% (target ${objective.targetPct}%); strengthened ${strengthened}, added ${added} steps (+${(expectedKw(state) - before).toFixed(1)} kW expected)`,
    );
  } else if (added + strengthened > 0) {
    changes.push(`compensation: strengthened ${strengthened}, added ${added} steps outside the relaxed zones`);
  }
  return assemble({ planId: previous.id, revision: previous.revision + 1, createdAt: feedback.atMs, objective, site, baselineKw, state, pool, changes });
}
