/**
 * Track records: per agent per domain, a Beta(alpha, beta) belief that the agent's calls are right,
 * fed by what happened to its proposals (technician verdicts, measured effects). Old evidence
 * decays toward the prior with a half-life, so an agent can recover after it is fixed.
 *
 * The posterior mean weights the agent in expertise-weighted consensus; `trust` (mean relative to
 * the prior mean, capped at 1) scales the confidence of its later proposals.
 */
import type { Decision } from '../consensus/types.js';
import type { Domain } from '../types.js';
import { clamp01 } from '../types.js';

export type LearningOutcome = 'technician-approved' | 'technician-rejected' | 'effect-expected' | 'no-effect' | 'bad-effect';

export interface TrackRecord {
  readonly agent: string;
  readonly domain: Domain;
  readonly alpha: number;
  readonly beta: number;
  /** Outcomes recorded (before decay). */
  readonly n: number;
  readonly updatedAt: number;
}

/** Persistence for track records; the lead adapts it to the hub store. */
export interface TrackRecordStore {
  load(): Promise<readonly TrackRecord[]>;
  save(record: TrackRecord): Promise<void>;
}

export interface LearningOptions {
  readonly priorAlpha?: number;
  readonly priorBeta?: number;
  /** Evidence loses half its weight after this long; default 30 days. */
  readonly halfLifeMs?: number;
  /** Success/failure pseudo-counts per outcome. */
  readonly weights?: Partial<Record<LearningOutcome, { readonly success: number; readonly failure: number }>>;
  /** Share of an outcome credited to voters (right or wrong), default 0.25. */
  readonly voterShare?: number;
  readonly store?: TrackRecordStore;
  readonly clock?: () => number;
}

const DEFAULT_WEIGHTS: Record<LearningOutcome, { success: number; failure: number }> = {
  'technician-approved': { success: 1, failure: 0 },
  'technician-rejected': { success: 0, failure: 1 },
  'effect-expected': { success: 1, failure: 0 },
  'no-effect': { success: 0, failure: 0.5 },
  'bad-effect': { success: 0, failure: 2 },
};

/** Outcomes that say the action was a good idea (used to judge voters). */
const GOOD: ReadonlySet<LearningOutcome> = new Set(['technician-approved', 'effect-expected']);

export class TrackRecordBook {
  private readonly records = new Map<string, TrackRecord>();
  private readonly priorAlpha: number;
  private readonly priorBeta: number;
  private readonly halfLifeMs: number;
  private readonly weights: Record<LearningOutcome, { success: number; failure: number }>;
  private readonly voterShare: number;
  private readonly store: TrackRecordStore | undefined;
  private readonly clock: () => number;

  constructor(options: LearningOptions = {}) {
    this.priorAlpha = options.priorAlpha ?? 2;
    this.priorBeta = options.priorBeta ?? 2;
    this.halfLifeMs = options.halfLifeMs ?? 30 * 24 * 3_600_000;
    this.weights = { ...DEFAULT_WEIGHTS, ...(options.weights ?? {}) };
    this.voterShare = options.voterShare ?? 0.25;
    this.store = options.store;
    this.clock = options.clock ?? Date.now;
  }

  /** Loads persisted records (replacing what is in memory for the same agent and domain). */
  async load(): Promise<number> {
    if (!this.store) return 0;
    const list = await this.store.load();
    for (const r of list) this.records.set(key(r.agent, r.domain), r);
    return list.length;
  }

  get priorMean(): number {
    return this.priorAlpha / (this.priorAlpha + this.priorBeta);
  }

  /** The record decayed to `now` (the prior when nothing is known). */
  get(agent: string, domain: Domain, now = this.clock()): TrackRecord {
    const r = this.records.get(key(agent, domain));
    if (!r) return { agent, domain, alpha: this.priorAlpha, beta: this.priorBeta, n: 0, updatedAt: now };
    const f = now > r.updatedAt ? 0.5 ** ((now - r.updatedAt) / this.halfLifeMs) : 1;
    return {
      ...r,
      alpha: this.priorAlpha + (r.alpha - this.priorAlpha) * f,
      beta: this.priorBeta + (r.beta - this.priorBeta) * f,
      updatedAt: now,
    };
  }

  /** Posterior mean in (0,1): the weight factor in expertise-weighted consensus. */
  mean(agent: string, domain: Domain, now?: number): number {
    const r = this.get(agent, domain, now);
    return r.alpha / (r.alpha + r.beta);
  }

  /** mean / prior mean, capped at 1: a poor record shrinks confidence, a good one never inflates it. */
  trust(agent: string, domain: Domain, now?: number): number {
    return Math.min(1, this.mean(agent, domain, now) / this.priorMean);
  }

  scaleConfidence(agent: string, domain: Domain, raw: number, now?: number): number {
    return clamp01(raw * this.trust(agent, domain, now));
  }

  /** Records one outcome for an agent in a domain (scaled by `share`) and persists it. */
  async record(agent: string, domain: Domain, outcome: LearningOutcome, share = 1, now = this.clock()): Promise<TrackRecord> {
    const cur = this.get(agent, domain, now);
    const w = this.weights[outcome];
    const next: TrackRecord = { agent, domain, alpha: cur.alpha + w.success * share, beta: cur.beta + w.failure * share, n: cur.n + 1, updatedAt: now };
    this.records.set(key(agent, domain), next);
    if (this.store) await this.store.save(next);
    return next;
  }

  /**
   * Credits an outcome to a decision: fully to the proposer and co-proposers, and a share to each
   * voter — those who voted for an action that worked (or against one that did not) gain.
   */
  async recordDecision(decision: Decision, outcome: LearningOutcome, now = this.clock()): Promise<void> {
    const p = decision.proposal;
    const proposers = new Set([p.agent, ...(p.supporters ?? []).map((s) => s.agent)]);
    for (const agent of proposers) await this.record(agent, p.domain, outcome, 1, now);
    if (this.voterShare <= 0) return;
    const good = GOOD.has(outcome);
    for (const vote of decision.votes) {
      if (proposers.has(vote.voter) || vote.choice === 'abstain') continue;
      const right = (vote.choice === 'approve') === good;
      await this.record(vote.voter, p.domain, right ? 'technician-approved' : 'technician-rejected', this.voterShare, now);
    }
  }

  all(): TrackRecord[] {
    return [...this.records.values()];
  }
}

function key(agent: string, domain: Domain): string {
  return `${agent}\u0000${domain}`;
}
