/**
 * The review queue: technicians approve, reject or modify what gateways and the hub's agents were
 * not confident enough to do alone. Decisions are conditional on the item's version (exactly one
 * of two concurrent deciders wins), audited, and an approved item is executed once: its command id
 * is derived from the item id and persisted with the approval, so a retry, a second hub process or
 * a restart finds the same command instead of sending another.
 */
import { createHash } from 'node:crypto';
import { SwarmgateError, errorMessage } from '../../shared/kit/errors.js';
import { createLogger, type Logger } from '../../shared/kit/log.js';
import { isValid } from '../../shared/wire/codec.js';
import { ActionSchema, type Action } from '../../shared/wire/messages.js';
import type { CommandService } from '../commands/service.js';
import type { HubStore } from '../store/types.js';
import { actionKey, clampPriority, heldBack, heldUntil, joined, proposerName, type ProposeOutcome } from './dedupe.js';
import { liveEvidence } from './evidence.js';
import { reviewRepository, type NewAuditEntry, type ReviewRepository } from './repository.js';
import { effectiveAction, type AuditAction, type AuditEntry, type NewReviewItem, type ReviewApi, type ReviewFilter, type ReviewItem, type ReviewSource, type ReviewState, type StoredReviewItem } from './types.js';
import type { WriteCheckPort } from '../registry/points.js';

export interface ExecutionOutcome {
  readonly ok: boolean;
  /** Why it failed (shown to technicians as the item's reason). */
  readonly reason?: string;
  /**
   * Another hub process is carrying the item out (it sent the command and may still be checking
   * its effect): the item stays approved for that process to finish; the sweep looks again.
   */
  readonly elsewhere?: boolean;
}

/** The outcome of an approved item whose deadline passed before its command was sent: not sent. */
export function pastDeadline(item: Pick<ReviewItem, 'expiresAt'>, now: number): ExecutionOutcome | undefined {
  return now > item.expiresAt ? { ok: false, reason: `not sent: the item's deadline (${new Date(item.expiresAt).toISOString()}) passed before its command could be sent` } : undefined;
}

/** Carries out an approved item (its commandId is already set and persisted). */
export type ReviewExecutor = (item: ReviewItem, context: Readonly<Record<string, unknown>> | undefined) => Promise<ExecutionOutcome>;

export interface ReviewServiceOptions {
  readonly store: HubStore;
  /** Executes approved gateway items; without it (the CLI) approvals wait for a hub process. */
  readonly commands?: Pick<CommandService, 'create' | 'get' | 'settled'>;
  /** Expiry of items submitted without one; default 8 h. */
  readonly defaultExpiryMs?: number;
  /** Sweep (expire, pick up approvals made elsewhere) this often once started; default 5 s. */
  readonly sweepIntervalMs?: number;
  readonly clock?: () => number;
  readonly log?: Logger;
  /** Checks a modified write against what the gateway's birth says of the point (the point index); without it, the gateway alone refuses. */
  readonly writes?: WriteCheckPort;
}

const SYSTEM = 'system';
/** After a start, approvals wait at most this long for their gateway to be heard from again. */
const START_GRACE_MS = 60_000;
const MAX_USER = 128;
/**
 * A proposal joins an item after it was made, so the item it joined changed after its createdAt;
 * this much earlier still counts (a gateway's clock ahead of the hub's).
 */
const JOIN_LOOKBACK_MS = 3_600_000;

export function commandIdFor(itemId: string): string {
  return `rv-${createHash('sha1').update(itemId).digest('hex').slice(0, 32)}`;
}

export class ReviewService implements ReviewApi {
  private readonly listeners = new Set<(item: ReviewItem) => void>();
  private readonly executors = new Map<ReviewSource, ReviewExecutor>();
  private readonly inflight = new Map<string, Promise<void>>();
  /** Proposals for one action run one at a time (per actionKey), so two cannot both create an item. */
  private readonly proposing = new Map<string, Promise<unknown>>();
  /** Last version this process announced per item, so sweeps only announce changes made elsewhere. */
  private readonly seen = new Map<string, number>();
  private readonly clock: () => number;
  private readonly log: Logger;
  private readonly defaultExpiryMs: number;
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<unknown> | undefined;
  private lastSweep = 0;
  private startedAt = 0;
  private stopped = false;

  private constructor(
    private readonly repo: ReviewRepository,
    private readonly options: ReviewServiceOptions,
  ) {
    this.clock = options.clock ?? Date.now;
    this.log = options.log ?? createLogger('hub.review');
    this.defaultExpiryMs = options.defaultExpiryMs ?? 8 * 3_600_000;
    const commands = options.commands;
    if (commands) {
      const send: ReviewExecutor = (item) => sendCommand(commands, item, this.clock);
      this.executors.set('gateway', send);
      // Hub items approved while no agents run here still go out (without an effect check); the
      // agent service registers its own executor for them.
      this.executors.set('hub', send);
    }
  }

  static async open(options: ReviewServiceOptions): Promise<ReviewService> {
    return new ReviewService(await reviewRepository(options.store), options);
  }

  /** Who executes approved items of a source (the agent service registers 'hub'). */
  registerExecutor(source: ReviewSource, executor: ReviewExecutor): void {
    this.executors.set(source, executor);
  }

  /** Resumes approved-but-not-executed items, then sweeps periodically. */
  async start(): Promise<void> {
    this.stopped = false;
    this.lastSweep = this.clock();
    this.startedAt = this.lastSweep;
    await this.sweep();
    const every = this.options.sweepIntervalMs ?? 5000;
    this.timer = setInterval(() => {
      this.sweep().catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'review sweep failed'));
    }, every);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.sweeping;
    // Executions wait for gateways (and effect checks); items left approved are resumed on start.
    await Promise.race([this.idle(), new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
  }

  /** Resolves when every execution started so far has finished. */
  async idle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight.values()]);
  }

  onChange(listener: (item: ReviewItem) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async submit(input: NewReviewItem): Promise<ReviewItem> {
    if (!isValid(ActionSchema, input.action)) throw new SwarmgateError('SWG_ERR_COMMAND_INVALID', `review item ${input.id}: the action does not match the wire ActionSchema`);
    const item = await this.insertNew(input);
    if (!item) throw conflict(input.id, 'pending', `review item ${input.id}: ${actionKey(input.gateway, input.action)} already has a pending item (one per action); propose joins it`);
    return item;
  }

  /** The new item, the stored one when the id exists, or undefined when another pending item has the same action. */
  private async insertNew(input: NewReviewItem): Promise<ReviewItem | undefined> {
    const now = this.clock();
    const createdAt = input.createdAt ?? now;
    const item: ReviewItem = {
      id: input.id,
      state: 'pending',
      site: input.site,
      gateway: input.gateway,
      priority: clampPriority(input.priority),
      source: input.source,
      ...(input.sourceAgent === undefined ? {} : { sourceAgent: input.sourceAgent }),
      actionClass: input.actionClass,
      action: input.action,
      confidence: Math.max(0, Math.min(1, input.confidence)),
      rationale: input.rationale,
      evidence: input.evidence ?? {},
      createdAt,
      expiresAt: input.expiresAt ?? createdAt + this.defaultExpiryMs,
      version: 1,
    };
    const stored: StoredReviewItem = { item, updatedAt: now, ...(input.context ? { context: input.context } : {}) };
    const inserted = await this.repo.insert(stored, { itemId: item.id, at: now, actor: proposerName(input), action: 'submit', after: item });
    if (!inserted) return (await this.repo.get(input.id))?.item;
    this.announce(item);
    return item;
  }

  /**
   * Submits a recommendation unless its action already waits or was just rejected: at most one
   * pending item per (gateway, action target and value). A proposal for an action that waits
   * joins that item as another proposer (audited as 'join'; its private context is kept under
   * context.supporting for its source's learning). One for an action a technician rejected is
   * held back until the rejected item would have expired, at most 30 min past the rejection,
   * unless its priority is higher or its action class is 'safety' (filed, naming the rejection in
   * evidence.earlierRejection); one for an action an approved item is executing is held back
   * until that finishes.
   */
  async propose(input: NewReviewItem): Promise<{ item: ReviewItem; outcome: ProposeOutcome }> {
    if (!isValid(ActionSchema, input.action)) throw new SwarmgateError('SWG_ERR_COMMAND_INVALID', `review item ${input.id}: the action does not match the wire ActionSchema`);
    const key = actionKey(input.gateway, input.action);
    const run = (): Promise<{ item: ReviewItem; outcome: ProposeOutcome }> => this.proposeNow(input, key);
    const prev = this.proposing.get(key) ?? Promise.resolve();
    const next = prev.then(run, run);
    const settled = next.catch(() => undefined);
    this.proposing.set(key, settled);
    void settled.finally(() => {
      if (this.proposing.get(key) === settled) this.proposing.delete(key);
    });
    return next;
  }

  private async proposeNow(input: NewReviewItem, key: string): Promise<{ item: ReviewItem; outcome: ProposeOutcome }> {
    // A decision racing the join bumps the version, another process may file the action first:
    // look again (a few times at most).
    for (let attempt = 0; attempt < 4; attempt += 1) {
      const known = await this.repo.get(input.id);
      if (known) return { item: known.item, outcome: 'unchanged' };
      const now = this.clock();
      // An approved item the technician modified executes its modified action: both are its actions.
      const same = (await this.repo.standing(input.gateway, now, 1000)).filter(
        (r) => actionKey(r.item.gateway, r.item.action) === key || (r.item.modifiedAction !== undefined && actionKey(r.item.gateway, r.item.modifiedAction) === key),
      );
      const pending = same.find((r) => r.item.state === 'pending' && r.item.expiresAt > now);
      // An item past its expiry that no sweep has closed yet still holds the action's pending slot.
      const overdue = same.find((r) => r.item.state === 'pending' && r.item.expiresAt <= now);
      if (!pending && overdue) {
        await this.expire(overdue, now);
        continue;
      }
      if (pending) {
        const joinedBy = joined(pending.item, input, now, input.expiresAt ?? (input.createdAt ?? now) + this.defaultExpiryMs);
        if (!joinedBy) return { item: pending.item, outcome: 'unchanged' };
        const { item: next, change } = joinedBy;
        // A joiner's private context is kept for its source's learning; a raise adds no proposer.
        const context = change === 'join' && input.context ? { ...(pending.context ?? {}), supporting: [...supportingOf(pending.context), input.context] } : pending.context;
        const row: StoredReviewItem = { item: next, updatedAt: now, ...(context ? { context } : {}) };
        const by = proposerName(input);
        const note = change === 'join' ? `${by} (${input.id}): ${input.rationale}` : `${by} (${input.id}) raised the priority ${pending.item.priority} -> ${next.priority}: ${input.rationale}`;
        if (await this.repo.update(row, ['pending'], audit(next.id, now, by, change, pending.item, next, note.slice(0, 2000)))) {
          this.log.info({ id: next.id, by, proposal: input.id, change, priority: next.priority }, change === 'join' ? 'a second recommendation for the same action joined the pending item' : 'a proposer raised the pending item\'s priority');
          this.announce(next);
          return { item: next, outcome: change === 'join' ? 'joined' : 'raised' };
        }
        continue;
      }
      const executing = same.find((r) => r.item.state === 'approved');
      if (executing) return { item: executing.item, outcome: 'held' };
      const rejections = same.filter((r) => r.item.state === 'rejected');
      const holding = rejections.find((r) => heldBack(r.item, input, now));
      if (holding) {
        this.log.debug({ proposal: input.id, rejected: holding.item.id, until: new Date(heldUntil(holding.item)).toISOString() }, 'recommendation held back: a technician rejected this action');
        return { item: holding.item, outcome: 'held' };
      }
      // A proposal resent (a gateway's outbox after a reconnect) that had joined an item since closed.
      const joinedBefore = await this.repo.joinedBy(input.gateway, input.id, (input.createdAt ?? now) - JOIN_LOOKBACK_MS);
      if (joinedBefore) return { item: joinedBefore.item, outcome: 'unchanged' };
      // Another hub process may have filed the same action since it was read: join that one.
      const created = await this.insertNew(withEarlierRejection(input, rejections));
      if (created) return { item: created, outcome: 'created' };
    }
    throw conflict(input.id, 'pending', `review item for ${key} kept changing while recommendation ${input.id} tried to join it; it is submitted again on the next evaluation`);
  }

  /**
   * A write went out without review (an agent's confident decision, an operator's command) and was
   * applied: a pending item asking for the same action is moot, so it is closed (expired, with a
   * reason naming who carried it out), not left for a technician to approve a second time.
   */
  async carriedOut(gateway: string, action: Action, by: { readonly origin: string; readonly commandId: string; readonly sentAt: number }): Promise<ReviewItem[]> {
    const key = actionKey(gateway, action);
    const now = this.clock();
    const closed: ReviewItem[] = [];
    for (const row of await this.repo.standing(gateway, now, 1000)) {
      // An item filed after the command was sent asks about a later condition (a late ack).
      if (row.item.state !== 'pending' || row.item.createdAt > by.sentAt || actionKey(row.item.gateway, row.item.action) !== key) continue;
      const reason = `carried out without review by ${by.origin} (command ${by.commandId})`;
      const next: ReviewItem = { ...row.item, state: 'expired', reason, version: row.item.version + 1 };
      if (await this.repo.update({ ...row, item: next, updatedAt: now }, ['pending'], audit(next.id, now, SYSTEM, 'expire', row.item, next, reason))) {
        this.log.info({ id: next.id, origin: by.origin, command: by.commandId }, 'pending review item closed: its action was carried out without review');
        this.announce(next);
        closed.push(next);
      }
    }
    return closed;
  }

  async list(filter: ReviewFilter = {}): Promise<ReviewItem[]> {
    return this.repo.list(filter);
  }

  /**
   * One item, its telemetry windows read again from the store (up to now while it is open, an hour
   * past its last change once closed), so the technician sees what happened since it was filed.
   */
  async get(id: string): Promise<ReviewItem | undefined> {
    const row = await this.repo.get(id);
    if (!row) return undefined;
    try {
      return { ...row.item, evidence: await liveEvidence(this.options.store, row, this.clock()) };
    } catch (err) {
      this.log.warn({ id, err: errorMessage(err) }, 'review evidence not refreshed; showing what was attached');
      return row.item;
    }
  }

  /** The item with its private context (for the executor and learning of its source). */
  stored(id: string): Promise<StoredReviewItem | undefined> {
    return this.repo.get(id);
  }

  audit(id?: string): Promise<AuditEntry[]> {
    return this.repo.audit(id);
  }

  async approve(id: string, by: { user: string; note?: string }): Promise<ReviewItem> {
    return this.decide(id, by.user, 'approve', { state: 'approved', ...(by.note ? { reason: by.note } : {}) });
  }

  async reject(id: string, by: { user: string; reason: string }): Promise<ReviewItem> {
    if (!by.reason.trim()) throw new SwarmgateError('SWG_ERR_REVIEW_INVALID', 'a rejection needs a reason (it teaches the agents and tells the next technician why)');
    return this.decide(id, by.user, 'reject', { state: 'rejected', reason: by.reason });
  }

  async modify(id: string, by: { user: string; action: Action; note?: string }): Promise<ReviewItem> {
    if (!isValid(ActionSchema, by.action)) throw new SwarmgateError('SWG_ERR_REVIEW_INVALID', 'the modified action does not match the wire ActionSchema (write {device, point, value} or mode {mode})');
    const item = (await this.repo.get(id))?.item;
    // A modification changes how much, not what: another point (or a mode for a write) is a new
    // action nobody recommended, which goes through the command API with its own audit.
    const retarget = item ? retargeted(item.action, by.action) : undefined;
    if (retarget) throw new SwarmgateError('SWG_ERR_REVIEW_INVALID', `action.${retarget.field}: ${retarget.message}`, { details: { field: `action.${retarget.field}` } });
    // A value the gateway would refuse is refused now, while the technician is still at the item.
    const gateway = this.options.writes ? item?.gateway : undefined;
    const problem = gateway === undefined ? undefined : await this.options.writes?.checkWrite(gateway, by.action);
    if (problem) throw new SwarmgateError('SWG_ERR_REVIEW_INVALID', `action.${problem.field}: ${problem.message}`, { details: { field: `action.${problem.field}` } });
    return this.decide(id, by.user, 'modify', { state: 'approved', modifiedAction: by.action, ...(by.note ? { reason: by.note } : {}) });
  }

  /**
   * Expires due items, announces changes other processes made (CLI decisions) and executes
   * approved items nobody is executing (after a restart, or approved elsewhere).
   */
  sweep(): Promise<{ expired: number; resumed: number; announced: number }> {
    const run = async (): Promise<{ expired: number; resumed: number; announced: number }> => {
      const now = this.clock();
      let expired = 0;
      for (const row of await this.repo.dueForExpiry(now, 500)) if (await this.expire(row, now)) expired += 1;
      let announced = 0;
      // A small overlap: a change committed while the previous sweep ran is still seen.
      for (const row of await this.repo.changedSince(this.lastSweep - 1000, 1000)) {
        if ((this.seen.get(row.item.id) ?? 0) < row.item.version) {
          this.announce(row.item);
          announced += 1;
        }
      }
      this.lastSweep = now;
      let resumed = 0;
      if (!this.stopped) {
        for (const row of await this.repo.inState('approved', 500)) {
          if (this.inflight.has(row.item.id) || !this.executors.has(row.item.source)) continue;
          this.dispatch(row);
          resumed += 1;
        }
      }
      return { expired, resumed, announced };
    };
    const p = (this.sweeping ?? Promise.resolve()).then(run, run);
    this.sweeping = p.catch(() => undefined);
    return p;
  }

  private async decide(id: string, user: string, action: AuditAction, change: Partial<Pick<ReviewItem, 'state' | 'reason' | 'modifiedAction'>>): Promise<ReviewItem> {
    const who = user.trim();
    if (!who || who.length > MAX_USER) throw new SwarmgateError('SWG_ERR_REVIEW_INVALID', `a decision needs the technician's user name (1-${MAX_USER} characters)`);
    // A join (another proposer, a raised priority) bumps the version between the read and the
    // write; the item is still pending then, so the decision is made again on the latest row, once.
    for (let attempt = 0; ; attempt += 1) {
      const row = await this.repo.get(id);
      if (!row) throw new SwarmgateError('SWG_ERR_REVIEW_UNKNOWN', `no review item "${id}"`, { details: { id } });
      const now = this.clock();
      const cur = row.item;
      if (cur.state === 'pending' && cur.expiresAt <= now) {
        await this.expire(row, now);
        throw conflict(id, 'expired', `review item "${id}" expired at ${new Date(cur.expiresAt).toISOString()}`);
      }
      if (cur.state !== 'pending') throw conflict(id, cur.state, `review item "${id}" is already ${cur.state}${cur.decidedBy ? ` (by ${cur.decidedBy})` : ''}`);
      const next: ReviewItem = {
        ...cur,
        ...change,
        decidedBy: who,
        decidedAt: now,
        ...(change.state === 'approved' ? { commandId: commandIdFor(id) } : {}),
        version: cur.version + 1,
      };
      const note = change.reason;
      const ok = await this.repo.update({ ...row, item: next, updatedAt: now }, ['pending'], audit(id, now, who, action, cur, next, note));
      if (!ok) {
        const latest = (await this.repo.get(id))?.item;
        if (latest?.state === 'pending' && attempt === 0) continue;
        if (latest?.state === 'pending') throw conflict(id, 'pending', `review item "${id}" kept changing while it was being decided (recommendations joining it); try again`);
        throw conflict(id, latest?.state ?? 'pending', `review item "${id}" was decided by someone else${latest?.decidedBy ? ` (${latest.decidedBy}, ${latest.state})` : ''}`);
      }
      this.log.info({ id, user: who, action, state: next.state }, 'review decision');
      this.announce(next);
      if (next.state === 'approved') this.dispatch({ ...row, item: next, updatedAt: now });
      return next;
    }
  }

  private async expire(row: StoredReviewItem, now: number): Promise<boolean> {
    const next: ReviewItem = { ...row.item, state: 'expired', version: row.item.version + 1 };
    const ok = await this.repo.update({ ...row, item: next, updatedAt: now }, ['pending'], audit(next.id, now, SYSTEM, 'expire', row.item, next));
    if (ok) this.announce(next);
    return ok;
  }

  /** Runs the executor for an approved item once in this process and records the outcome. */
  private dispatch(row: StoredReviewItem): void {
    const id = row.item.id;
    const executor = this.executors.get(row.item.source);
    if (!executor || this.inflight.has(id) || this.stopped) return;
    const run = async (): Promise<void> => {
      if (!(await this.gatewayReady(row.item))) {
        // An approval is for the conditions of its item: once the item's deadline has passed with
        // the gateway still away, the action is stale and is not sent when the gateway returns.
        if (this.clock() > row.item.expiresAt) {
          await this.finish(id, { ok: false, reason: `not sent: gateway ${row.item.gateway} was not reachable before the item's deadline (${new Date(row.item.expiresAt).toISOString()}); the recommendation is stale, a new one is filed if it still applies` });
        }
        return; // the sweep tries again
      }
      let outcome: ExecutionOutcome;
      try {
        outcome = await executor(row.item, row.context);
      } catch (err) {
        outcome = { ok: false, reason: errorMessage(err) };
      }
      if (!outcome.elsewhere) await this.finish(id, outcome);
    };
    const p = run()
      .catch((err: unknown) => this.log.error({ id, err: errorMessage(err) }, 'recording a review execution failed'))
      .finally(() => this.inflight.delete(id));
    this.inflight.set(id, p);
  }

  /** Records an approved item's outcome (executed or failed), unless someone else did first. */
  private async finish(id: string, outcome: ExecutionOutcome): Promise<void> {
    const latest = await this.repo.get(id);
    if (!latest || latest.item.state !== 'approved') return;
    const now = this.clock();
    const next: ReviewItem = { ...latest.item, state: outcome.ok ? 'executed' : 'failed', version: latest.item.version + 1, ...(outcome.ok ? {} : { reason: (outcome.reason ?? 'execution failed').slice(0, 2000) }) };
    const ok = await this.repo.update({ ...latest, item: next, updatedAt: now }, ['approved'], audit(id, now, SYSTEM, outcome.ok ? 'execute' : 'fail', latest.item, next, outcome.reason));
    if (ok) {
      this.log.info({ id, state: next.state, command: next.commandId, reason: outcome.reason }, 'review item executed');
      this.announce(next);
    }
  }

  /**
   * A command published while its gateway is away is lost until the retry, so approved items wait
   * for the gateway: while it is offline, and right after this process started until the gateway
   * has been heard from again (its status in the store may predate a hub restart).
   */
  private async gatewayReady(item: ReviewItem): Promise<boolean> {
    const record = await this.options.store.getGateway(item.gateway);
    if (!record) return true; // unknown gateways fail in the executor with a clear message
    const ready = record.status === 'online' && ((record.lastSeen ?? 0) >= this.startedAt || this.clock() - this.startedAt > START_GRACE_MS);
    if (!ready) this.log.debug({ id: item.id, gateway: item.gateway, status: record.status }, 'approved item waits for its gateway');
    return ready;
  }

  private announce(item: ReviewItem): void {
    this.seen.set(item.id, Math.max(this.seen.get(item.id) ?? 0, item.version));
    if (this.seen.size > 20_000) {
      const oldest = this.seen.keys().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    for (const listener of this.listeners) {
      try {
        listener(item);
      } catch (err) {
        this.log.warn({ id: item.id, err: errorMessage(err) }, 'review change listener failed');
      }
    }
  }
}

function audit(itemId: string, at: number, actor: string, action: AuditAction, before: ReviewItem | undefined, after: ReviewItem, note?: string): NewAuditEntry {
  return { itemId, at, actor, action, ...(before ? { before } : {}), after, ...(note ? { note } : {}) };
}

/**
 * A recommendation filed although the same action was rejected recently (a safety request, an
 * escalation, or past the hold): its evidence names the latest rejection, so the technician sees
 * who said no, when and why.
 */
function withEarlierRejection(input: NewReviewItem, rejections: readonly StoredReviewItem[]): NewReviewItem {
  const latest = rejections.reduce<ReviewItem | undefined>((a, r) => (!a || (r.item.decidedAt ?? 0) > (a.decidedAt ?? 0) ? r.item : a), undefined);
  if (!latest) return input;
  const earlierRejection = { id: latest.id, ...(latest.decidedBy ? { by: latest.decidedBy } : {}), ...(latest.decidedAt ? { at: latest.decidedAt } : {}), ...(latest.reason ? { reason: latest.reason } : {}), priority: latest.priority };
  return { ...input, evidence: { ...(input.evidence ?? {}), earlierRejection } };
}

function supportingOf(context: Readonly<Record<string, unknown>> | undefined): unknown[] {
  return Array.isArray(context?.supporting) ? (context.supporting as unknown[]) : [];
}

/** Why a modified action is not the recommended one with another value, or undefined when it is. */
function retargeted(original: Action, modified: Action): { field: string; message: string } | undefined {
  if (modified.kind !== original.kind) return { field: 'kind', message: `the item recommends a ${original.kind}; a modification may change its value, not make it a ${modified.kind}` };
  if (original.kind === 'write' && modified.kind === 'write') {
    for (const field of ['device', 'point'] as const) {
      if (modified[field] !== original[field]) return { field, message: `the item writes ${original.device}/${original.point}; a modification may change the value, not the ${field} (send a command for ${modified.device}/${modified.point} instead)` };
    }
  }
  return undefined;
}

function conflict(id: string, state: ReviewState, message: string): SwarmgateError {
  return new SwarmgateError('SWG_ERR_REVIEW_CONFLICT', message, { details: { id, state } });
}

/**
 * Gateway items: one command per item (its persisted id), valid until the item's deadline (the
 * gateway refuses it after that), then wait for the gateway's answer. An item past its deadline
 * before its command was sent (a hub down meanwhile) is not sent at all.
 */
async function sendCommand(commands: Pick<CommandService, 'create' | 'get' | 'settled'>, item: ReviewItem, clock: () => number): Promise<ExecutionOutcome> {
  const id = item.commandId ?? commandIdFor(item.id);
  if (!(await commands.get(id))) {
    const late = pastDeadline(item, clock());
    if (late) return late;
    try {
      await commands.create({ gateway: item.gateway, action: effectiveAction(item), origin: `review:${item.decidedBy ?? 'unknown'}`.slice(0, 128), id, expiresAt: item.expiresAt });
    } catch (err) {
      // Another hub process created it first: follow that one.
      if (!(await commands.get(id))) throw err;
    }
  }
  const record = await commands.settled(id);
  if (record.status === 'applied') return { ok: true };
  return { ok: false, reason: `command ${record.status}${record.reason ? `: ${record.reason}` : ''}` };
}
