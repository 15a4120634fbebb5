/**
 * Shared by planning and re-planning: the working state (chosen measures and their levels), the
 * greedy fill that adds or strengthens steps until the expected saving covers what is required,
 * and the assembly of a full Plan (sub-objectives, timeline, contingencies, risks, criteria).
 */
import type { Site } from '../facility.js';
import type { Domain } from '../types.js';
import { savingKw, type Candidate } from './measures.js';
import { DAY_MS, type Objective, type Phase, type Plan, type PlanStep, type Risk, type StepStatus, type SubObjective, type TimelinePhase } from './model.js';

export interface StepState {
  readonly candidate: Candidate;
  level: number;
  status: StepStatus;
  phase: Phase;
  startMs: number;
  note?: string;
}

/** Ordered by selection (lowest risk first), keyed by candidate key. */
export type PlanState = Map<string, StepState>;

export function stepId(c: Candidate): string {
  return `s-${c.key.replace(':', '-')}`;
}

export function active(state: PlanState): StepState[] {
  return [...state.values()].filter((s) => s.status === 'planned');
}

export function expectedKw(state: PlanState): number {
  let kw = 0;
  for (const s of state.values()) if (s.status === 'planned') kw += savingKw(s.candidate, s.level);
  return kw;
}

export function phaseBounds(objective: Objective): Record<Phase, { fromMs: number; toMs: number }> {
  const start = objective.startMs;
  const end = start + objective.horizonDays * DAY_MS;
  const pilotEnd = start + Math.max(1, Math.round(objective.horizonDays * 0.1)) * DAY_MS;
  const rolloutEnd = Math.min(end, start + Math.max(2, Math.round(objective.horizonDays / 3)) * DAY_MS);
  return { pilot: { fromMs: start, toMs: pilotEnd }, rollout: { fromMs: pilotEnd, toMs: rolloutEnd }, sustain: { fromMs: rolloutEnd, toMs: end } };
}

export interface FillOptions {
  readonly requiredKw: number;
  readonly avoidZones: ReadonlySet<string>;
  /** Highest comfort risk a step may carry. */
  readonly maxRisk: number;
  /** 'add-first' (initial plan) or 'strengthen-first' (shortfall on running steps). */
  readonly order: 'add-first' | 'strengthen-first';
  readonly phase: Phase;
  readonly startMs: number;
}

/** Adds/strengthens steps until the expected saving reaches requiredKw; returns what changed. */
export function fill(state: PlanState, pool: readonly Candidate[], o: FillOptions): { added: number; strengthened: number } {
  let kw = expectedKw(state);
  let added = 0;
  let strengthened = 0;
  const add = (): void => {
    const unused = pool
      .filter((c) => !state.has(c.key) && !o.avoidZones.has(c.zone) && c.spec.comfortRisk(1) <= o.maxRisk)
      .sort((a, b) => a.spec.comfortRisk(1) - b.spec.comfortRisk(1) || savingKw(b, 1) - savingKw(a, 1) || (a.key < b.key ? -1 : 1));
    for (const c of unused) {
      if (kw >= o.requiredKw) return;
      state.set(c.key, { candidate: c, level: 1, status: 'planned', phase: o.phase, startMs: o.startMs });
      kw += savingKw(c, 1);
      added += 1;
    }
  };
  const strengthen = (): void => {
    // Every one-level upgrade, cheapest comfort risk per extra kW first (lower levels first on
    // ties), so the load spreads over many steps before any one is pushed hard. O(n log n).
    const upgrades: Array<{ s: StepState; to: number; cost: number; gain: number }> = [];
    for (const s of state.values()) {
      const spec = s.candidate.spec;
      if (s.status !== 'planned' || o.avoidZones.has(s.candidate.zone)) continue;
      for (let to = s.level + 1; to <= spec.maxLevel; to += 1) {
        if (spec.comfortRisk(to) > o.maxRisk) break;
        const gain = savingKw(s.candidate, to) - savingKw(s.candidate, to - 1);
        if (gain <= 0) continue;
        upgrades.push({ s, to, gain, cost: (spec.comfortRisk(to) - spec.comfortRisk(to - 1) + 1e-6) / gain });
      }
    }
    upgrades.sort((a, b) => a.cost - b.cost || a.to - b.to);
    for (const u of upgrades) {
      if (kw >= o.requiredKw) return;
      if (u.s.level !== u.to - 1) continue;
      u.s.level = u.to;
      kw += u.gain;
      strengthened += 1;
    }
  };
  if (o.order === 'add-first') {
    add();
    strengthen();
  } else {
    strengthen();
    add();
  }
  return { added, strengthened };
}

export interface AssembleInput {
  readonly planId: string;
  readonly revision: number;
  readonly createdAt: number;
  readonly objective: Objective;
  readonly site: Site;
  readonly baselineKw: number;
  readonly state: PlanState;
  readonly pool: readonly Candidate[];
  readonly changes: readonly string[];
}

export function assemble(input: AssembleInput): Plan {
  const { objective, site, state, baselineKw } = input;
  const bounds = phaseBounds(objective);
  const end = bounds.sustain.toMs;
  const targetSavingKw = (baselineKw * objective.targetPct) / 100;
  const chosen = active(state);
  const contingencyFor = contingencies(state, input.pool);
  const steps: PlanStep[] = [...state.values()].map((s) => toStep(s, end, contingencyFor.get(s.candidate.key)));
  const contingencySteps = [...contingencyFor.values()].map((c) => toStep({ candidate: c, level: 1, status: 'planned', phase: 'rollout', startMs: bounds.rollout.fromMs, note: 'contingency' }, end));
  const expectedSavingKw = expectedKw(state);
  const expectedSavingPct = baselineKw > 0 ? (100 * expectedSavingKw) / baselineKw : 0;
  const feasible = expectedSavingKw + 1e-9 >= targetSavingKw;
  const timeline: TimelinePhase[] = (['pilot', 'rollout', 'sustain'] as const).map((phase) => ({
    phase,
    ...bounds[phase],
    steps: chosen.filter((s) => s.phase === phase).map((s) => stepId(s.candidate)),
  }));
  const specialists = new Set<Domain>();
  for (const s of chosen) for (const d of s.candidate.spec.specialists) specialists.add(d);
  if (site.zones.some((z) => z.kind === 'cold-room') || site.interlocks.length > 0) specialists.add('safety');
  return {
    id: input.planId,
    revision: input.revision,
    createdAt: input.createdAt,
    objective,
    baselineKw,
    targetSavingKw,
    expectedSavingKw,
    expectedSavingPct,
    feasible,
    steps,
    subObjectives: subObjectives(site.id, chosen, targetSavingKw, expectedSavingKw, objective.startMs, end),
    timeline,
    contingencies: contingencySteps,
    specialists: [...specialists],
    gateways: [...new Set(chosen.map((s) => s.candidate.gateway))],
    risks: risks(objective, site, chosen, feasible, expectedSavingKw, targetSavingKw),
    successCriteria: [
      { metric: 'energy_saving_pct', comparison: '>=', target: objective.targetPct, byMs: end },
      { metric: 'comfort_violations', comparison: '<=', target: objective.constraints.maxComfortViolations, byMs: end },
      { metric: 'cold_chain_breaches', comparison: '<=', target: 0, byMs: end },
    ],
    changes: input.changes,
  };
}

function toStep(s: StepState, endMs: number, contingency?: Candidate): PlanStep {
  const c = s.candidate;
  return {
    id: stepId(c),
    measure: c.spec.kind,
    level: s.level,
    site: c.site,
    zone: c.zone,
    gateway: c.gateway,
    points: c.points,
    expectedSavingKw: s.status === 'planned' ? savingKw(c, s.level) : 0,
    comfortRisk: c.spec.comfortRisk(s.level),
    phase: s.phase,
    startMs: s.startMs,
    endMs,
    specialists: c.spec.specialists,
    status: s.status,
    ...(contingency && s.status === 'planned' ? { contingency: stepId(contingency) } : {}),
    ...(s.note === undefined ? {} : { note: s.note }),
  };
}

/** One distinct unused candidate per active step, same zone preferred, lowest risk first. */
function contingencies(state: PlanState, pool: readonly Candidate[]): Map<string, Candidate> {
  const free = pool.filter((c) => !state.has(c.key)).sort((a, b) => a.spec.comfortRisk(1) - b.spec.comfortRisk(1));
  const byZone = new Map<string, Candidate[]>();
  for (const c of free) {
    const list = byZone.get(c.zone);
    if (list) list.push(c);
    else byZone.set(c.zone, [c]);
  }
  const taken = new Set<string>();
  let cursor = 0;
  const out = new Map<string, Candidate>();
  for (const s of active(state)) {
    let pick = byZone.get(s.candidate.zone)?.find((c) => !taken.has(c.key));
    while (!pick && cursor < free.length) {
      const c = free[cursor];
      cursor += 1;
      if (c && !taken.has(c.key)) pick = c;
    }
    if (!pick) continue;
    taken.add(pick.key);
    out.set(s.candidate.key, pick);
  }
  return out;
}

function subObjectives(site: string, chosen: readonly StepState[], targetKw: number, expectedKw: number, fromMs: number, toMs: number): SubObjective[] {
  const share = expectedKw > 0 ? targetKw / expectedKw : 0;
  const zones = new Map<string, StepState[]>();
  const gateways = new Map<string, StepState[]>();
  for (const s of chosen) {
    for (const [map, k] of [
      [zones, s.candidate.zone],
      [gateways, s.candidate.gateway],
    ] as const) {
      const list = map.get(k);
      if (list) list.push(s);
      else map.set(k, [s]);
    }
  }
  const sum = (list: readonly StepState[]): number => list.reduce((kw, s) => kw + savingKw(s.candidate, s.level), 0);
  const siteId = `so-site-${site}`;
  const out: SubObjective[] = [
    { id: siteId, level: 'site', scope: { site }, targetSavingKw: targetKw, expectedSavingKw: expectedKw, steps: chosen.map((s) => stepId(s.candidate)), fromMs, toMs },
  ];
  for (const [zone, list] of zones) {
    const kw = sum(list);
    out.push({ id: `so-zone-${zone}`, level: 'zone', scope: { site, zone }, parent: siteId, targetSavingKw: kw * share, expectedSavingKw: kw, steps: list.map((s) => stepId(s.candidate)), fromMs, toMs });
  }
  for (const [gateway, list] of gateways) {
    const kw = sum(list);
    const zone = list[0]?.candidate.zone ?? '';
    out.push({
      id: `so-gw-${gateway}`,
      level: 'gateway',
      scope: { site, zone, gateway },
      parent: `so-zone-${zone}`,
      targetSavingKw: kw * share,
      expectedSavingKw: kw,
      steps: list.map((s) => stepId(s.candidate)),
      fromMs: Math.min(...list.map((s) => s.startMs)),
      toMs,
    });
  }
  return out;
}

function risks(objective: Objective, site: Site, chosen: readonly StepState[], feasible: boolean, expectedKw: number, targetKw: number): Risk[] {
  const out: Risk[] = [];
  const maxRisk = chosen.reduce((m, s) => Math.max(m, s.candidate.spec.comfortRisk(s.level)), 0);
  if (maxRisk > 0) {
    out.push({
      id: 'comfort',
      description: `comfort complaints from the most intrusive step (risk ${maxRisk.toFixed(2)})`,
      likelihood: maxRisk > 0.35 ? 'high' : maxRisk > 0.15 ? 'medium' : 'low',
      impact: objective.constraints.maxComfortViolations === 0 ? 'high' : 'medium',
      mitigation: 'comfort specialist votes on every action; a reported violation relaxes that zone and moves savings elsewhere',
    });
  }
  if (!feasible) {
    out.push({
      id: 'infeasible',
      description: `available capabilities reach ${expectedKw.toFixed(1)} kW of the ${targetKw.toFixed(1)} kW target`,
      likelihood: 'high',
      impact: 'high',
      mitigation: 'add controllable points (setpoints, lighting, sheddable loads) or lower the target',
    });
  } else if (expectedKw < targetKw * (1 + objective.constraints.marginPct / 200)) {
    out.push({ id: 'shortfall', description: 'little margin over the target', likelihood: 'medium', impact: 'medium', mitigation: 're-plan from measured savings: strengthen steps or add more' });
  }
  if (site.zones.some((z) => z.kind === 'cold-room')) {
    out.push({
      id: 'cold-chain',
      description: 'cold rooms on site',
      likelihood: 'low',
      impact: 'high',
      mitigation: objective.constraints.protectColdChain ? 'cold rooms are excluded; the safety specialist can veto any action' : 'safety specialist vetoes actions that weaken cold-chain protection',
    });
  }
  if (chosen.some((s) => s.candidate.spec.kind === 'peak-shed')) {
    out.push({ id: 'equipment-wear', description: 'load shedding adds starts and stops', likelihood: 'low', impact: 'medium', mitigation: 'equipment-health specialist watches short-cycling' });
  }
  if (new Set(chosen.map((s) => s.candidate.gateway)).size > 1) {
    out.push({ id: 'gateway-offline', description: 'a gateway may be offline when its step starts', likelihood: 'medium', impact: 'low', mitigation: 'each step has a contingency on another gateway' });
  }
  return out;
}
