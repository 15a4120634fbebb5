/**
 * Coordinator: the loop that wires the agents. On an event or snapshot the specialists propose,
 * duplicates merge, every agent votes, the consensus manager decides, and then:
 *   approved, confident (>= threshold) and executable -> executor (at most once per decision);
 *   vetoed -> nothing (recorded);
 *   anything else -> the review sink, with evidence, priority, site and expiry.
 */
import { createHash } from 'node:crypto';
import { errorMessage } from '../../shared/kit/errors.js';
import { createLogger, type Logger } from '../../shared/kit/log.js';
import type { GatewayEvent } from '../../shared/wire/messages.js';
import type { AgentBus } from './bus/bus.js';
import { ConsensusManager, type AlgorithmName, type Decision, type Voter } from './consensus/index.js';
import type { Executor, ExecutionResult } from './executor/executor.js';
import { TrackRecordBook, type LearningOutcome } from './learning/track-record.js';
import type { ReviewSubmission, ReviewReason, ReviewSink, TelemetryPort, TelemetrySample } from './ports.js';
import type { AgentRoster } from './roster.js';
import type { FacilitySnapshot } from './snapshot.js';
import type { Agent, Priority, Proposal, ProposalDraft, Vote, VoteDraft } from './types.js';
import { clamp01 } from './types.js';

export interface CoordinatorOptions {
  readonly roster: AgentRoster;
  /** Only `execute` is used; anything with that shape will do. */
  readonly executor: Pick<Executor, 'execute'>;
  readonly review: ReviewSink;
  readonly learning?: TrackRecordBook;
  readonly consensus?: ConsensusManager | AlgorithmName;
  readonly quorum?: number;
  /** Auto-execute threshold on decision confidence; default 0.8. */
  readonly threshold?: number;
  /** Votes not in by then do not count; default 2000 ms. */
  readonly voteTimeoutMs?: number;
  /** Static voter weights for the 'weighted' algorithm. */
  readonly weights?: Readonly<Record<string, number>>;
  /** How long review items stay valid, by priority. */
  readonly reviewTtlMs?: Partial<Record<Priority, number>>;
  /** Telemetry history attached to review items; needs `telemetry`. Default 1 h. */
  readonly evidenceWindowMs?: number;
  readonly telemetry?: TelemetryPort;
  readonly bus?: AgentBus;
  /**
   * The same write (gateway, device, point, value) is not executed again within this window,
   * whatever decision asks for it: snapshots taken before telemetry shows the effect would
   * otherwise repeat it. Default 15 min.
   */
  readonly cooldownMs?: number;
  /**
   * A write that was sent and not carried out for want of an answer (no ack, the command could
   * not be sent) may be tried again this long after, rather than after the whole cooldown.
   * Default 60 s. One the gateway refused keeps the cooldown and goes to review.
   */
  readonly retryAfterMs?: number;
  /**
   * Whether the gateway is known to be offline now (the registry: its will or last state said
   * so). A confident write to an offline gateway is held, not sent: it would wait out its timeout
   * and land on whatever the gateway finds when it comes back. Absent: no gateway is offline.
   */
  readonly offline?: (gateway: string) => boolean | Promise<boolean>;
  /** Record every vote on the bus (audit trail); default true. */
  readonly auditVotes?: boolean;
  readonly clock?: () => number;
  readonly log?: Logger;
}

export interface CoordinatorReport {
  readonly proposals: readonly Proposal[];
  readonly decisions: readonly Decision[];
  /** Sent to the executor; results settle in `executions`. */
  readonly executed: readonly Decision[];
  readonly executions: ReadonlyMap<string, Promise<ExecutionResult>>;
  readonly reviewed: readonly ReviewSubmission[];
  readonly vetoed: readonly Decision[];
  /** Confident decisions not executed because the same write ran within the cooldown. */
  readonly suppressed: readonly Decision[];
  /** Confident decisions not executed because their gateway is offline (tried at a later evaluation). */
  readonly held: readonly Decision[];
}

/** Executor statuses of a write that was not carried out for want of an answer: tried again after retryAfterMs. */
const UNANSWERED = new Set<ExecutionResult['status']>(['command-timeout', 'command-error']);

const PRIORITY_RANK: Record<Priority, number> = { low: 0, normal: 1, high: 2, critical: 3 };
const DEFAULT_TTL: Record<Priority, number> = { critical: 30 * 60_000, high: 2 * 3_600_000, normal: 8 * 3_600_000, low: 24 * 3_600_000 };

export class Coordinator {
  readonly learning: TrackRecordBook;
  private readonly consensus: ConsensusManager;
  private readonly threshold: number;
  private readonly voteTimeoutMs: number;
  private readonly clock: () => number;
  private readonly log: Logger;
  private readonly ttl: Record<Priority, number>;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly recent = new Map<string, number>();
  private readonly cooldownMs: number;
  private readonly retryAfterMs: number;

  constructor(private readonly options: CoordinatorOptions) {
    this.learning = options.learning ?? new TrackRecordBook();
    const c = options.consensus ?? 'delegated';
    this.consensus = typeof c === 'string' ? new ConsensusManager(c, options.quorum === undefined ? {} : { quorum: options.quorum }) : c;
    this.threshold = options.threshold ?? 0.8;
    this.voteTimeoutMs = options.voteTimeoutMs ?? 2000;
    this.clock = options.clock ?? Date.now;
    this.log = options.log ?? createLogger('hub.agents.coordinator');
    this.ttl = { ...DEFAULT_TTL, ...(options.reviewTtlMs ?? {}) };
    this.cooldownMs = options.cooldownMs ?? 15 * 60_000;
    this.retryAfterMs = Math.min(this.cooldownMs, options.retryAfterMs ?? 60_000);
  }

  /** An event arrived: evaluate the site snapshot with the event as trigger. */
  onEvent(event: GatewayEvent, snapshot: FacilitySnapshot): Promise<CoordinatorReport> {
    return this.evaluate({ ...snapshot, trigger: event });
  }

  async evaluate(snapshot: FacilitySnapshot): Promise<CoordinatorReport> {
    const proposals = this.collect(snapshot);
    const decisions = await Promise.all(proposals.map((p) => this.decide(p, snapshot)));
    const executed: Decision[] = [];
    const reviewed: ReviewSubmission[] = [];
    const vetoed: Decision[] = [];
    const suppressed: Decision[] = [];
    const held: Decision[] = [];
    const executions = new Map<string, Promise<ExecutionResult>>();
    const winners = this.resolveConflicts(decisions.filter((d) => this.executable(d)));
    for (const decision of decisions) {
      if (decision.outcome === 'vetoed') {
        vetoed.push(decision);
        this.log.info({ decision: decision.id, by: decision.vetoedBy }, 'proposal vetoed');
        continue;
      }
      if (this.executable(decision)) {
        if (winners.has(decision.id)) {
          if (await this.gatewayOffline(decision.proposal.gateway)) {
            held.push(decision);
            this.log.warn({ decision: decision.id, gateway: decision.proposal.gateway, action: decision.proposal.action }, 'confident decision held: its gateway is offline (tried again at a later evaluation)');
            continue;
          }
          if (this.coolingDown(decision)) {
            suppressed.push(decision);
            this.log.debug({ decision: decision.id, gateway: decision.proposal.gateway, action: decision.proposal.action }, 'confident decision not executed: the same write ran within the cooldown');
            continue;
          }
          executed.push(decision);
          executions.set(decision.id, this.track(this.followUp(decision, snapshot, this.options.executor.execute(decision))));
          if (decision.proposal.priority === 'critical') await this.emergency(decision);
          continue;
        }
        reviewed.push(await this.toReview(decision, 'conflict', snapshot));
        continue;
      }
      reviewed.push(await this.toReview(decision, reasonFor(decision), snapshot));
    }
    for (const item of reviewed) {
      try {
        await this.options.review.submit(item);
      } catch (err) {
        this.log.error({ item: item.id, err: errorMessage(err) }, 'review sink refused an item');
      }
    }
    return { proposals, decisions, executed, executions, reviewed, vetoed, suppressed, held };
  }

  private async gatewayOffline(gateway: string): Promise<boolean> {
    try {
      return (await this.options.offline?.(gateway)) ?? false;
    } catch (err) {
      this.log.warn({ gateway, err: errorMessage(err) }, 'gateway state unknown; not held');
      return false;
    }
  }

  /**
   * After an execution: a write not carried out for want of an answer may be tried again after
   * retryAfterMs (not the whole cooldown); one the gateway refused (an interlock, a limit) goes to
   * the technicians, as a new item whose approval sends it again.
   */
  private async followUp(decision: Decision, snapshot: FacilitySnapshot, execution: Promise<ExecutionResult>): Promise<ExecutionResult> {
    const result = await execution;
    if (UNANSWERED.has(result.status)) {
      this.recent.set(cooldownKey(decision), this.clock() - this.cooldownMs + this.retryAfterMs);
      this.log.warn({ decision: decision.id, status: result.status, reason: result.command?.reason, retryInMs: this.retryAfterMs }, 'confident decision not carried out (no answer); it may be tried again');
    } else if (result.status === 'command-rejected') {
      const item = await this.toReview({ ...decision, id: `${decision.id}:refused` }, 'execution-refused', snapshot);
      const why = result.command?.reason ?? 'refused';
      try {
        await this.options.review.submit({ ...item, rationale: `${item.rationale} (sent automatically; the gateway refused it: ${why})`.slice(0, 4000) });
      } catch (err) {
        this.log.error({ item: item.id, err: errorMessage(err) }, 'review sink refused an item');
      }
    }
    return result;
  }

  /** true when the same write ran within the cooldown; otherwise records this one. */
  private coolingDown(d: Decision): boolean {
    const now = this.clock();
    const key = cooldownKey(d);
    const last = this.recent.get(key);
    if (last !== undefined && now - last < this.cooldownMs) return true;
    this.recent.set(key, now);
    if (this.recent.size > 10_000) {
      for (const [k, t] of this.recent) if (now - t >= this.cooldownMs) this.recent.delete(k);
    }
    return false;
  }

  /** A technician's verdict on a reviewed (or executed) decision feeds the track records. */
  async technicianVerdict(decision: Decision, verdict: 'approved' | 'rejected'): Promise<void> {
    const outcome: LearningOutcome = verdict === 'approved' ? 'technician-approved' : 'technician-rejected';
    await this.learning.recordDecision(decision, outcome, this.clock());
  }

  /** Executes a decision a technician approved (still at most once per decision id); `sent` as Executor.execute. */
  executeApproved(decision: Decision, sent?: Parameters<Executor['execute']>[1]): Promise<ExecutionResult> {
    return this.track(this.options.executor.execute({ ...decision, outcome: 'approved' }, sent));
  }

  /** Resolves when every execution started so far has finished (effect checks included). */
  async idle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    void p.then(
      () => this.inflight.delete(p),
      () => this.inflight.delete(p),
    );
    return p;
  }

  private executable(d: Decision): boolean {
    return d.outcome === 'approved' && d.confidence >= this.threshold && d.proposal.action !== null;
  }

  /** Two confident decisions writing the same point: the higher priority, then confidence, wins. */
  private resolveConflicts(candidates: readonly Decision[]): Set<string> {
    const best = new Map<string, Decision>();
    for (const d of candidates) {
      const k = targetOf(d.proposal);
      const cur = best.get(k);
      const better =
        !cur ||
        PRIORITY_RANK[d.proposal.priority] > PRIORITY_RANK[cur.proposal.priority] ||
        (PRIORITY_RANK[d.proposal.priority] === PRIORITY_RANK[cur.proposal.priority] && d.confidence > cur.confidence);
      if (better) best.set(k, d);
    }
    return new Set([...best.values()].map((d) => d.id));
  }

  /** Asks every agent, finalises drafts (ids, track-record scaling) and merges identical actions. */
  private collect(snapshot: FacilitySnapshot): Proposal[] {
    const now = this.clock();
    const byId = new Map<string, Proposal>();
    for (const agent of this.options.roster.all()) {
      let drafts: readonly ProposalDraft[];
      try {
        drafts = agent.propose(snapshot);
      } catch (err) {
        this.log.error({ agent: agent.id, err: errorMessage(err) }, 'agent failed to propose');
        continue;
      }
      for (const draft of drafts) {
        const proposal = this.finalise(agent, draft, snapshot, now);
        const prev = byId.get(proposal.id);
        if (!prev) byId.set(proposal.id, proposal);
        else byId.set(proposal.id, merge(prev, proposal));
      }
    }
    return [...byId.values()];
  }

  private finalise(agent: Agent, draft: ProposalDraft, snapshot: FacilitySnapshot, now: number): Proposal {
    const { dedupeKey, rollback, confidence: raw, ...rest } = draft;
    const context = dedupeKey ?? snapshot.trigger?.id ?? String(snapshot.ts);
    // Same action on the same target in the same context is one proposal, whoever proposes it.
    const signature = draft.action ? `${draft.gateway}|${JSON.stringify(draft.action)}` : `${agent.id}|${draft.kind}|${draft.gateway}|${draft.zone ?? ''}|${draft.workOrder?.equipment ?? ''}`;
    const id = `p-${createHash('sha1').update(`${signature}|${context}`).digest('hex').slice(0, 24)}`;
    return {
      ...rest,
      id,
      agent: agent.id,
      domain: agent.domain,
      rawConfidence: clamp01(raw),
      confidence: this.learning.scaleConfidence(agent.id, agent.domain, raw, now),
      rollback: rollback ?? true,
      ts: now,
    };
  }

  private async decide(proposal: Proposal, snapshot: FacilitySnapshot): Promise<Decision> {
    const start = this.clock();
    const agents = this.options.roster.all();
    const voters: Voter[] = agents.map((a) => ({
      id: a.id,
      domain: a.domain,
      relevance: a.relevance(proposal.kind),
      track: this.learning.mean(a.id, proposal.domain, start),
      weight: this.options.weights?.[a.id] ?? 1,
      vetoAuthority: a.vetoAuthority,
    }));
    const implicit = new Map<string, number>([[proposal.agent, proposal.confidence], ...(proposal.supporters ?? []).map((s) => [s.agent, s.confidence] as [string, number])]);
    const votes: Vote[] = [...implicit].map(([voter, confidence]) => ({ voter, proposal: proposal.id, choice: 'approve', confidence, reason: 'proposed it', castAt: start }));
    const pending: Array<Promise<void>> = [];
    for (const agent of agents) {
      if (implicit.has(agent.id)) continue;
      let draft: VoteDraft | Promise<VoteDraft>;
      try {
        draft = agent.vote(proposal, snapshot);
      } catch (err) {
        this.log.warn({ agent: agent.id, err: errorMessage(err) }, 'agent failed to vote');
        continue;
      }
      if (draft instanceof Promise) {
        pending.push(
          draft.then(
            (d) => void votes.push(this.stamp(agent.id, proposal.id, d)),
            (err: unknown) => this.log.warn({ agent: agent.id, err: errorMessage(err) }, 'agent failed to vote'),
          ),
        );
      } else votes.push(this.stamp(agent.id, proposal.id, draft));
    }
    const deadline = start + this.voteTimeoutMs;
    if (pending.length > 0) await waitUntil(Promise.all(pending), this.voteTimeoutMs);
    // Freeze what arrived so far: a late vote must not change the decision after the fact.
    const decision = this.consensus.decide({ proposal, voters, votes: [...votes], deadline, decidedAt: Math.min(this.clock(), deadline) });
    await this.audit(decision);
    return decision;
  }

  private stamp(voter: string, proposal: string, d: VoteDraft): Vote {
    return { ...d, voter, proposal, confidence: clamp01(d.confidence), castAt: this.clock() };
  }

  private async audit(decision: Decision): Promise<void> {
    const bus = this.options.bus;
    if (!bus) return;
    if (this.options.auditVotes ?? true) {
      for (const vote of decision.votes) await bus.direct('consensus-vote', vote.voter, 'coordinator', { vote }, decision.id);
    }
    await bus.broadcast(
      'knowledge-share',
      'coordinator',
      {
        topic: 'decision',
        facts: { decision: decision.id, proposal: decision.proposal.id, kind: decision.proposal.kind, outcome: decision.outcome, confidence: decision.confidence, vetoedBy: decision.vetoedBy ?? null },
      },
      decision.id,
    );
  }

  private async emergency(decision: Decision): Promise<void> {
    const p = decision.proposal;
    await this.options.bus?.broadcast(
      'emergency-broadcast',
      'coordinator',
      { severity: 'critical', message: p.rationale.slice(0, 2000), site: p.site, ...(p.zone === undefined ? {} : { zone: p.zone }) },
      decision.id,
    );
  }

  private async toReview(decision: Decision, reason: ReviewReason, snapshot: FacilitySnapshot): Promise<ReviewSubmission> {
    const p = decision.proposal;
    const now = this.clock();
    const priority: Priority = reason === 'rejected' && p.priority !== 'critical' ? 'low' : p.priority;
    return {
      id: decision.id,
      reason,
      site: p.site,
      ...(p.zone === undefined ? {} : { zone: p.zone }),
      gateway: p.gateway,
      createdAt: now,
      expiresAt: now + this.ttl[priority],
      priority,
      action: p.action,
      ...(p.workOrder === undefined ? {} : { workOrder: p.workOrder }),
      kind: p.kind,
      confidence: decision.confidence,
      rationale: p.rationale,
      evidence: {
        proposal: { agent: p.agent, domain: p.domain, rawConfidence: p.rawConfidence, ...p.evidence },
        telemetry: await this.telemetryEvidence(p, snapshot),
        votes: decision.votes,
        dissent: decision.dissent,
        outcome: decision.outcome,
        weights: decision.weights,
      },
      decision,
    };
  }

  private async telemetryEvidence(p: Proposal, snapshot: FacilitySnapshot): Promise<ReviewSubmission['evidence']['telemetry']> {
    const telemetry = this.options.telemetry;
    const points = new Map<string, { gateway: string; device: string; point: string }>();
    if (p.action?.kind === 'write') points.set(`${p.gateway}/${p.action.device}/${p.action.point}`, { gateway: p.gateway, device: p.action.device, point: p.action.point });
    if (p.expectedEffect) {
      const e = p.expectedEffect;
      points.set(`${e.gateway}/${e.device}/${e.point}`, e);
    }
    const window = this.options.evidenceWindowMs ?? 3_600_000;
    const out: Array<{ point: string; samples: readonly TelemetrySample[] }> = [];
    for (const [key, pt] of points) {
      let samples: readonly TelemetrySample[] = snapshot.history.get(key) ?? [];
      if (telemetry) {
        try {
          samples = await telemetry.window(pt.gateway, pt.device, pt.point, snapshot.ts - window, snapshot.ts);
        } catch (err) {
          this.log.warn({ point: key, err: errorMessage(err) }, 'no telemetry evidence for review');
        }
      }
      out.push({ point: key, samples });
    }
    return out;
  }
}

function reasonFor(d: Decision): ReviewReason {
  if (d.proposal.action === null) return 'advice';
  if (d.outcome === 'rejected') return 'rejected';
  if (d.outcome === 'no-quorum') return 'no-quorum';
  return 'low-confidence';
}

/** One write: its target and its value. */
function cooldownKey(d: Decision): string {
  return `${targetOf(d.proposal)}|${JSON.stringify(d.proposal.action)}`;
}

function targetOf(p: Proposal): string {
  const a = p.action;
  if (!a) return `none|${p.id}`;
  return a.kind === 'write' ? `${p.gateway}|${a.device}|${a.point}` : `${p.gateway}|mode`;
}

/** Keeps the more confident proposal as primary; the other proposer becomes a supporter. */
function merge(a: Proposal, b: Proposal): Proposal {
  const [primary, other] = b.confidence > a.confidence ? [b, a] : [a, b];
  const supporters = new Map<string, number>();
  for (const s of [...(a.supporters ?? []), ...(b.supporters ?? [])]) supporters.set(s.agent, s.confidence);
  supporters.set(other.agent, other.confidence);
  supporters.delete(primary.agent);
  const priority = PRIORITY_RANK[other.priority] > PRIORITY_RANK[primary.priority] ? other.priority : primary.priority;
  return {
    ...primary,
    priority,
    rollback: primary.rollback && other.rollback,
    evidence: { ...other.evidence, ...primary.evidence, [`from_${other.agent}`]: other.rationale },
    supporters: [...supporters].map(([agent, confidence]) => ({ agent, confidence })),
  };
}

function waitUntil(p: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    void p.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      () => {
        clearTimeout(timer);
        resolve();
      },
    );
  });
}
