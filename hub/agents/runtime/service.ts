/**
 * The agents in the running hub: on a gateway anomaly event (and periodically) build the site's
 * snapshot from the store, let the coordinator decide, execute confident decisions through the
 * hub's CommandService and queue the rest for technicians. Technicians' verdicts and measured
 * effects feed the persisted track records, so the agents' weights survive a restart.
 */
import { errorMessage } from '../../../shared/kit/errors.js';
import { createLogger, type Logger } from '../../../shared/kit/log.js';
import type { GatewayEvent } from '../../../shared/wire/messages.js';
import { AgentBus } from '../bus/bus.js';
import type { AlgorithmName, ConsensusManager, Decision } from '../consensus/index.js';
import { Coordinator, type CoordinatorReport } from '../coordinator.js';
import { createSpecialists } from '../specialists/index.js';
import { Executor, type ExecutionResult } from '../executor/executor.js';
import type { FacilityIndex } from '../facility.js';
import { TrackRecordBook, type LearningOptions } from '../learning/track-record.js';
import type { ReviewSink, ReviewSubmission } from '../ports.js';
import { AgentRoster } from '../roster.js';
import type { Agent, Priority, WorkOrder as WorkOrderAdvice } from '../types.js';
import type { HubEvents } from '../../events.js';
import { effectiveAction, pastDeadline, type ExecutionOutcome, type ReviewItem, type ReviewService } from '../../review/index.js';
import type { HubStore } from '../../store/types.js';
import type { WorkOrderService } from '../../work-orders/service.js';
import { HubCommandPort, StoreTelemetryPort, commandIdForKey, type CommandApi } from './port-adapters.js';
import { snapshotFromStore, type SnapshotOptions } from './store-snapshot.js';
import { sqlFor } from '../../db/sql.js';
import { LEARNED_VERDICT_PREFIX, StoreAuditSink, StoreExecutedSet, StoreTrackRecords } from './state.js';

export interface AgentServiceOptions {
  readonly store: HubStore;
  readonly events: HubEvents;
  readonly commands: CommandApi;
  readonly review: ReviewService;
  /** Where advice without an action (maintenance work orders) goes; without it, it is only logged. */
  readonly workOrders?: WorkOrderService;
  readonly facility: FacilityIndex;
  /** Auto-execute threshold; default 0.8. */
  readonly threshold?: number;
  /** Evaluate every site this often; 0 or absent: only on anomaly events. */
  readonly evaluationIntervalMs?: number;
  /**
   * Whether this process runs the agents of a site now (the site's lease, when several hub
   * processes share the store); absent: every site is this process's.
   */
  readonly ownsSite?: (site: string) => boolean;
  /**
   * Whether the registry knows a gateway is offline now: its last readings are not judged, and
   * confident writes to it are held until it is back. Absent: no gateway is offline.
   */
  readonly offline?: (gateway: string) => boolean | Promise<boolean>;
  /** Default: the built-in specialists (hub/agents/specialists/index.ts, with `settleMs` when given). */
  readonly agents?: readonly Agent[];
  /** Settling window of the built-in specialists' expected effects. */
  readonly settleMs?: number;
  readonly consensus?: ConsensusManager | AlgorithmName;
  readonly voteTimeoutMs?: number;
  readonly cooldownMs?: number;
  readonly learning?: Omit<LearningOptions, 'store' | 'clock'>;
  readonly snapshot?: SnapshotOptions;
  readonly clock?: () => number;
  readonly log?: Logger;
}

/** Telemetry history before a decision that its review item charts. */
const EVIDENCE_WINDOW_MS = 3_600_000;

export const PRIORITY_SCORE: Record<Priority, number> = { low: 25, normal: 50, high: 75, critical: 100 };

/** States of items a technician decided (executed and failed were approved first). */
const DECIDED = new Set<ReviewItem['state']>(['approved', 'rejected', 'executed', 'failed']);

/** A hub item, or one an agent's recommendation joined (evidence.proposers names "agent:<id>"). */
function agentProposed(item: ReviewItem): boolean {
  if (item.source === 'hub') return true;
  const proposers = item.evidence.proposers;
  return Array.isArray(proposers) && proposers.some((p) => typeof (p as { by?: unknown })?.by === 'string' && (p as { by: string }).by.startsWith('agent:'));
}

/** How often a process running sites' agents looks for anomaly events other processes stored, and how far back each look overlaps. */
const CATCH_UP_MS = 5000;
const CATCH_UP_OVERLAP_MS = 30_000;
const CATCH_UP_PAGE = 200;
/** Event ids remembered as evaluated (a few hours of a busy site's anomalies). */
const HANDLED_EVENTS = 10_000;

/**
 * How long a claimed execution with no command yet, or past its effect check, is left to the
 * process that claimed it before another concludes from the command.
 */
const CLAIM_GRACE_MS = 2 * 60_000;

/** Executor statuses that mean the command was carried out. */
const DONE = new Set<ExecutionResult['status']>(['applied', 'effective', 'no-data']);

export class AgentService {
  readonly coordinator: Coordinator;
  readonly learning: TrackRecordBook;
  readonly audit: StoreAuditSink;
  readonly executed: StoreExecutedSet;
  readonly bus: AgentBus;
  private readonly clock: () => number;
  private readonly log: Logger;
  private readonly queues = new Map<string, Promise<unknown>>();
  /** Evaluations queued or running per site. */
  private readonly queued = new Map<string, number>();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly offs: Array<() => void> = [];
  private timer: NodeJS.Timeout | undefined;
  private catchUpTimer: NodeJS.Timeout | undefined;
  /** Anomaly events this process evaluated (live or caught up), newest last; bounded. */
  private readonly handled = new Set<string>();
  /** Where the catch-up of events other processes stored has got to (received time, this process's view). */
  private caughtUpTo: number;
  private catching = false;
  private stopped = false;
  private readonly sleepers = new Set<NodeJS.Timeout>();

  private constructor(private readonly options: AgentServiceOptions) {
    this.clock = options.clock ?? Date.now;
    this.caughtUpTo = this.clock();
    this.log = options.log ?? createLogger('hub.agents');
    const sql = sqlFor(options.store);
    this.audit = new StoreAuditSink(sql, this.log);
    this.executed = new StoreExecutedSet(sql, this.clock);
    this.learning = new TrackRecordBook({ ...(options.learning ?? {}), store: new StoreTrackRecords(sql), clock: this.clock });
    this.bus = new AgentBus({ audit: this.audit, clock: this.clock, log: this.log });
    const telemetry = new StoreTelemetryPort(options.store);
    const executor = new Executor({
      commands: new HubCommandPort(options.commands),
      telemetry,
      executed: this.executed,
      bus: this.bus,
      clock: this.clock,
      log: this.log,
      sleep: (ms) => this.sleep(ms),
      onOutcome: (decision, outcome) => this.learning.recordDecision(decision, outcome),
    });
    this.coordinator = new Coordinator({
      roster: new AgentRoster([...(options.agents ?? createSpecialists(options.settleMs))]),
      executor,
      review: this.reviewSink(),
      learning: this.learning,
      telemetry,
      evidenceWindowMs: EVIDENCE_WINDOW_MS,
      bus: this.bus,
      clock: this.clock,
      log: this.log,
      ...(options.threshold === undefined ? {} : { threshold: options.threshold }),
      ...(options.consensus === undefined ? {} : { consensus: options.consensus }),
      ...(options.voteTimeoutMs === undefined ? {} : { voteTimeoutMs: options.voteTimeoutMs }),
      ...(options.cooldownMs === undefined ? {} : { cooldownMs: options.cooldownMs }),
      ...(options.offline ? { offline: options.offline } : {}),
    });
  }

  /** Loads the track records, registers the hub's review executor and starts listening. */
  static async start(options: AgentServiceOptions): Promise<AgentService> {
    const service = new AgentService(options);
    const loaded = await service.learning.load();
    const { events, review } = options;
    review.registerExecutor('hub', (item, context) => service.executeReviewed(item, context));
    service.offs.push(
      events.on('event', ({ site, event }) => {
        // Never hold ingest for a consensus round: the evaluation runs behind the ack.
        if (event.kind === 'anomaly') service.onAnomaly(site, event);
      }),
      // Any decided item may carry agents' decisions: its own (a hub item) or those of agent
      // recommendations that joined it (also a gateway's item); learnVerdict reads its context.
      review.onChange((item) => {
        if (item.decidedBy && DECIDED.has(item.state)) service.track(service.learnVerdict(item));
      }),
    );
    // Verdicts given while no hub ran (the CLI): learned once, like live ones (only items an agent proposed).
    for (const state of DECIDED) {
      for (const item of await review.list({ state, limit: 1000 })) if (item.decidedBy && agentProposed(item)) service.track(service.learnVerdict(item));
    }
    const every = options.evaluationIntervalMs ?? 0;
    if (every > 0) {
      service.timer = setInterval(() => {
        // A slow evaluation is not queued behind again by the timer (events still queue).
        for (const site of options.facility.siteIds()) if (!service.queued.has(site)) service.track(service.evaluateSite(site));
      }, every);
      service.timer.unref();
    }
    if (options.ownsSite) {
      // Several hub processes share the load: an anomaly another process ingested is evaluated by
      // the process that runs its site's agents, from the store.
      service.catchUpTimer = setInterval(() => service.track(service.catchUp()), CATCH_UP_MS);
      service.catchUpTimer.unref();
    }
    service.log.info({ sites: options.facility.siteIds(), trackRecords: loaded, threshold: options.threshold ?? 0.8, everyMs: every }, 'hub agents started');
    return service;
  }

  /** A live anomaly event: evaluated here when this process runs its site's agents (else the one that does catches it up). */
  private onAnomaly(storedSite: string, event: GatewayEvent): void {
    const site = this.options.facility.gateway(event.gateway)?.site.id ?? storedSite;
    if (this.options.ownsSite && !this.options.ownsSite(site)) return;
    if (!this.firstTime(event.id)) return;
    this.track(this.evaluateSite(site, event));
  }

  /** Remembers an evaluated event id; false when it was evaluated already. */
  private firstTime(id: string): boolean {
    if (this.handled.has(id)) return false;
    this.handled.add(id);
    if (this.handled.size > HANDLED_EVENTS) {
      const oldest = this.handled.values().next().value;
      if (oldest !== undefined) this.handled.delete(oldest);
    }
    return true;
  }

  /**
   * Evaluates the anomaly events other hub processes stored for the sites this process runs (in
   * the order they were stored, from a little before where the last pass got to: the processes'
   * clocks differ), each once.
   */
  async catchUp(): Promise<number> {
    if (this.catching || this.stopped) return 0;
    this.catching = true;
    let evaluated = 0;
    try {
      const from = this.caughtUpTo - CATCH_UP_OVERLAP_MS;
      for (let after: { receivedAt: number; id: string } | undefined; ; ) {
        const page = await this.options.store.eventsReceived({ kind: 'anomaly', from, ...(after ? { after } : {}), limit: CATCH_UP_PAGE });
        for (const stored of page) {
          const { site: storedSite, receivedAt: _at, ...event } = stored;
          const site = this.options.facility.gateway(event.gateway)?.site.id ?? storedSite;
          if (this.options.ownsSite && !this.options.ownsSite(site)) continue;
          if (!this.firstTime(event.id)) continue;
          evaluated += 1;
          this.track(this.evaluateSite(site, event));
        }
        const last = page.at(-1);
        if (last) {
          after = { receivedAt: last.receivedAt, id: last.id };
          this.caughtUpTo = Math.max(this.caughtUpTo, last.receivedAt);
        }
        if (page.length < CATCH_UP_PAGE) break;
      }
    } finally {
      this.catching = false;
    }
    if (evaluated > 0) this.log.info({ evaluated }, 'anomaly events other hub processes stored evaluated');
    return evaluated;
  }

  /**
   * One evaluation of a site (queued behind any running one for the same site, so two anomaly
   * events never race on the same snapshot and cooldowns).
   */
  evaluateSite(site: string, trigger?: GatewayEvent): Promise<CoordinatorReport | undefined> {
    const run = async (): Promise<CoordinatorReport | undefined> => {
      if (this.stopped || !this.options.facility.site(site)) return undefined;
      if (this.options.ownsSite && !this.options.ownsSite(site)) return undefined; // another hub process runs this site's agents
      const snapshot = await snapshotFromStore(this.options.store, this.options.facility, site, this.clock(), trigger, this.options.snapshot, this.options.offline);
      const report = await this.coordinator.evaluate(snapshot);
      // Every agent proposed what it sees now: work-order conditions not among them have cleared.
      await this.options.workOrders?.conditionsPresent(site, report.proposals.flatMap((p) => (p.workOrder ? [workOrderKey(p.agent, p.site, p.gateway, p.kind, p.workOrder)] : [])));
      this.log.info(
        { site, trigger: trigger?.id, proposals: report.proposals.length, executed: report.executed.map((d) => d.id), reviewed: report.reviewed.map((r) => r.id), vetoed: report.vetoed.length },
        'agents evaluated the site',
      );
      return report;
    };
    const prev = this.queues.get(site) ?? Promise.resolve();
    this.queued.set(site, (this.queued.get(site) ?? 0) + 1);
    const next = prev.then(run, run);
    const settled = next
      .catch((err: unknown) => {
        this.log.error({ site, err: errorMessage(err) }, 'agent evaluation failed');
        return undefined;
      })
      .finally(() => {
        const n = (this.queued.get(site) ?? 1) - 1;
        if (n <= 0) this.queued.delete(site);
        else this.queued.set(site, n);
      });
    this.queues.set(site, settled);
    return settled;
  }

  /** Resolves when queued evaluations, executions, learning and audit writes are done. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    await Promise.allSettled([...this.queues.values()]);
    await this.coordinator.idle();
    await this.audit.flush();
  }

  /**
   * Stops listening and finishes queued evaluations. Executions waiting out a settling window are
   * abandoned, never judged early (that could roll back a good action): their items stay approved
   * and a restarted hub follows the same command id to its result.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.catchUpTimer) clearInterval(this.catchUpTimer);
    for (const off of this.offs.splice(0)) off();
    for (const t of this.sleepers) clearTimeout(t);
    this.sleepers.clear();
    if (this.pending.size > 0) await Promise.race([Promise.allSettled([...this.pending]), delay(5000)]);
    await Promise.allSettled([...this.queues.values()]);
    await this.audit.flush();
  }

  /** The executor's settling wait; never resolves once the service stopped. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopped) return;
      const t = setTimeout(() => {
        this.sleepers.delete(t);
        resolve();
      }, ms);
      t.unref();
      this.sleepers.add(t);
    });
  }

  /** A work order the other agents did not reject: opened, or counted again while still open. */
  private async raiseWorkOrder(item: ReviewSubmission): Promise<void> {
    const wo = item.workOrder;
    const workOrders = this.options.workOrders;
    if (!wo || !workOrders || item.decision.outcome === 'rejected') {
      this.log.info({ id: item.id, kind: item.kind, outcome: item.decision.outcome, workOrder: wo }, 'advice not raised as a work order');
      return;
    }
    const agent = item.decision.proposal.agent;
    const { order, created } = await workOrders.raise({
      site: item.site,
      gateway: item.gateway,
      equipment: wo.equipment,
      problem: wo.problem,
      task: wo.task,
      urgency: wo.urgency,
      sourceAgent: agent,
      dedupeKey: workOrderKey(agent, item.site, item.gateway, item.kind, wo),
    });
    if (created) this.log.warn({ workOrder: order.id, equipment: order.equipment, urgency: order.urgency, task: order.task }, 'maintenance work order opened');
  }

  private track(p: Promise<unknown>): void {
    const q = p.catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'agent task failed'));
    this.pending.add(q);
    void q.finally(() => this.pending.delete(q));
  }

  /** Coordinator review items into the technician queue; advice with a work order into the work orders. */
  private reviewSink(): ReviewSink {
    return {
      submit: async (item: ReviewSubmission) => {
        if (!item.action) {
          await this.raiseWorkOrder(item);
          return;
        }
        const telemetry = item.evidence.telemetry.map((t) => {
          const [gateway = item.gateway, device = '', point = ''] = t.point.split('/');
          return { gateway, device, point, from: item.createdAt - EVIDENCE_WINDOW_MS, samples: t.samples.map((s) => ({ ts: s.ts, value: s.value })) };
        });
        // Periodic evaluations and other specialists propose the same action again: the queue
        // keeps one pending item per action (the others join it) and holds back what a
        // technician just rejected.
        const { outcome, item: queued } = await this.options.review.propose({
          id: item.id,
          site: item.site,
          gateway: item.gateway,
          priority: PRIORITY_SCORE[item.priority],
          source: 'hub',
          sourceAgent: item.decision.proposal.agent,
          actionClass: item.kind,
          action: item.action,
          confidence: item.confidence,
          rationale: item.rationale,
          evidence: {
            reason: item.reason,
            ...(item.zone === undefined ? {} : { zone: item.zone }),
            telemetry,
            votes: item.evidence.votes,
            dissent: item.evidence.dissent,
            outcome: item.evidence.outcome,
            weights: item.evidence.weights,
            proposal: item.evidence.proposal,
          },
          createdAt: item.createdAt,
          expiresAt: item.expiresAt,
          context: { decision: item.decision as unknown as Record<string, unknown> },
        });
        if (outcome !== 'created') this.log.debug({ id: item.id, outcome, item: queued.id }, 'recommendation not queued as a new item');
      },
    };
  }

  /** Executes an approved hub item through the executor (effect check, rollback, learning). */
  private async executeReviewed(item: ReviewItem, context: Readonly<Record<string, unknown>> | undefined): Promise<ExecutionOutcome> {
    const decision = context?.decision as Decision | undefined;
    if (!decision) return { ok: false, reason: 'the hub decision behind this item is missing; execute it by hand' };
    const action = effectiveAction(item);
    const modified = item.modifiedAction !== undefined;
    // The command id is the one persisted with the approval: a restart finds the same command.
    const key = item.commandId ?? commandIdForKey(decision.id);
    // An item past its deadline is not sent (a hub down meanwhile), as for a gateway's item.
    const late = (await this.options.commands.get(key)) ? undefined : pastDeadline(item, this.clock());
    if (late) return late;
    // `previous` was read when the item was filed, hours ago perhaps: a rollback writes back the
    // value just before this write (the executor reads it at send time), not an operator's older one.
    const { expectedEffect, previous: _filed, ...proposal } = decision.proposal;
    const approved: Decision = {
      ...decision,
      id: key,
      outcome: 'approved',
      proposal: { ...proposal, action, ...(modified || !expectedEffect ? {} : { expectedEffect }) },
    };
    const result = await this.coordinator.executeApproved(approved, { origin: `review:${item.decidedBy ?? 'unknown'}`, expiresAt: item.expiresAt });
    if (result.status === 'duplicate') return this.claimedElsewhere(item, approved, key);
    if (DONE.has(result.status)) return { ok: true };
    return { ok: false, reason: `${result.status}${result.command?.reason ? `: ${result.command.reason}` : ''}${result.rollback ? `; rollback ${result.rollback.status}` : ''}` };
  }

  /**
   * An approved item whose execution another process claimed: still that process's while it may
   * be sending the command or checking its effect (which may roll it back); after that, or after a
   * restart ended the process, the command tells what happened.
   */
  private async claimedElsewhere(item: ReviewItem, approved: Decision, key: string): Promise<ExecutionOutcome> {
    const now = this.clock();
    const record = await this.options.commands.get(key);
    if (!record) {
      if (now - (item.decidedAt ?? 0) < CLAIM_GRACE_MS) return { ok: false, elsewhere: true };
      return { ok: false, reason: 'claimed before a restart but never sent; approve a new item to retry' };
    }
    const settled = await this.options.commands.settled(key);
    if (settled.status !== 'applied') return { ok: false, reason: `command ${settled.status}` };
    const settleMs = approved.proposal.expectedEffect?.settleMs;
    if (settleMs !== undefined && now - settled.updatedAt < settleMs * 1.5 + CLAIM_GRACE_MS) return { ok: false, elsewhere: true };
    return { ok: true };
  }

  /** A technician's verdict on a hub item teaches the track records, once per item. */
  private async learnVerdict(item: ReviewItem): Promise<void> {
    const stored = await this.options.review.stored(item.id);
    // The item's own decision, and those of the agents' recommendations that joined it (also a
    // gateway's item): the verdict is on each. Items no agent proposed teach nothing.
    const supporting = Array.isArray(stored?.context?.supporting) ? (stored.context.supporting as unknown[]) : [];
    const decisions = [stored?.context?.decision, ...supporting.map((c) => (typeof c === 'object' && c !== null ? (c as Record<string, unknown>).decision : undefined))].filter(
      (d): d is Decision => typeof d === 'object' && d !== null,
    );
    if (decisions.length === 0) return;
    const learned = `${LEARNED_VERDICT_PREFIX}${item.id}`;
    if (await this.executed.has(learned)) return;
    if (!(await this.executed.claim(learned))) return;
    for (const decision of decisions) {
      await this.coordinator.technicianVerdict(decision, item.state === 'rejected' ? 'rejected' : 'approved');
      this.log.info({ id: item.id, agent: decision.proposal.agent, verdict: item.state }, 'technician verdict learned');
    }
  }
}

/** One condition = one key: the agent, where, what and (when the agent tells them apart) which occurrence. */
function workOrderKey(agent: string, site: string, gateway: string, kind: string, wo: WorkOrderAdvice): string {
  return `${agent}|${site}|${gateway}|${wo.equipment}|${kind}|${wo.task}${wo.condition === undefined ? '' : `|${wo.condition}`}`;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
