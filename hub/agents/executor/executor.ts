/**
 * Executor: turns approved decisions into commands, at most once per decision id, follows the
 * acknowledgement, then checks the effect in telemetry after the settling window. When the action
 * had no effect or a bad one it writes the previous value back (where that is known and allowed)
 * and raises an escalation alert on the bus.
 */
import { errorMessage } from '../../../shared/kit/errors.js';
import { createLogger, type Logger } from '../../../shared/kit/log.js';
import type { Action } from '../../../shared/wire/messages.js';
import type { AgentBus } from '../bus/bus.js';
import type { Decision } from '../consensus/types.js';
import type { LearningOutcome } from '../learning/track-record.js';
import type { CommandPort, CommandResult, ExecutedSet, TelemetryPort, TelemetrySample } from '../ports.js';
import type { ExpectedEffect, PointValue } from '../types.js';
import { checkEffect, numeric, type EffectCheck } from './effect.js';
import { MemoryExecutedSet } from './executed-set.js';

export type ExecutionStatus =
  | 'duplicate'
  | 'not-executable'
  | 'command-rejected'
  | 'command-timeout'
  | 'command-error'
  /** Applied; the proposal promised no measurable effect, so nothing was checked. */
  | 'applied'
  | 'effective'
  | 'no-effect'
  | 'bad-effect'
  | 'no-data';

export type RollbackStatus = 'applied' | 'failed' | 'not-allowed' | 'unknown-previous';

export interface ExecutionResult {
  readonly decisionId: string;
  readonly status: ExecutionStatus;
  readonly command?: CommandResult;
  readonly effect?: EffectCheck;
  readonly rollback?: { readonly status: RollbackStatus; readonly command?: CommandResult; readonly value?: PointValue };
  readonly escalated: boolean;
  readonly startedAt: number;
  readonly finishedAt: number;
}

export interface ExecutorOptions {
  readonly commands: CommandPort;
  readonly telemetry: TelemetryPort;
  readonly executed?: ExecutedSet;
  /** Escalation alerts go here (broadcast, or multicast to `escalationGroup`). */
  readonly bus?: AgentBus;
  readonly escalationGroup?: string;
  /** Waits out the settling window; tests pass a fake that advances a fake clock. */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly clock?: () => number;
  /**
   * How long past the settling window to wait for its telemetry to arrive (store-and-forward, a
   * reconnecting gateway) before judging on what is there. Default: half the settling window.
   */
  readonly lateTelemetryMs?: number;
  /** Learning hook: called with the measured outcome of each effect check. */
  readonly onOutcome?: (decision: Decision, outcome: LearningOutcome) => void | Promise<void>;
  readonly log?: Logger;
}

const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

export class Executor {
  private readonly executed: ExecutedSet;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly clock: () => number;
  private readonly log: Logger;

  constructor(private readonly options: ExecutorOptions) {
    this.executed = options.executed ?? new MemoryExecutedSet();
    this.sleep = options.sleep ?? realSleep;
    this.clock = options.clock ?? Date.now;
    this.log = options.log ?? createLogger('hub.agents.executor');
  }

  /**
   * `sent`: who the command is from (default `agent:<proposer>`; `review:<user>` for an item a
   * technician approved) and when the gateway must refuse it (an approved item's deadline).
   */
  async execute(decision: Decision, sent: { readonly origin?: string; readonly expiresAt?: number } = {}): Promise<ExecutionResult> {
    const startedAt = this.clock();
    const action = decision.proposal.action;
    const done = (status: ExecutionStatus, extra: Partial<ExecutionResult> = {}): ExecutionResult => ({
      decisionId: decision.id,
      status,
      escalated: false,
      startedAt,
      finishedAt: this.clock(),
      ...extra,
    });
    if (!action || decision.outcome !== 'approved') return done('not-executable');
    if (!(await this.executed.claim(decision.id))) {
      this.log.debug({ decision: decision.id }, 'decision already executed; not sending again');
      return done('duplicate');
    }

    const p = decision.proposal;
    const effect = p.expectedEffect;
    const previous = p.previous ?? (await this.previousValue(p.gateway, action));
    const baseline = effect ? numeric((await this.safeLatest(effect.gateway, effect.device, effect.point))?.value) : undefined;

    let command: CommandResult;
    try {
      command = await this.options.commands.send(p.gateway, action, { idempotencyKey: decision.id, origin: sent.origin ?? `agent:${p.agent}`, ...(sent.expiresAt === undefined ? {} : { expiresAt: sent.expiresAt }) });
    } catch (err) {
      const escalated = await this.escalate(decision, 'warning', 'command could not be sent', errorMessage(err), {});
      return done('command-error', { escalated });
    }
    if (command.outcome !== 'applied') {
      const escalated = await this.escalate(decision, 'warning', `command ${command.outcome}`, command.reason ?? `the gateway answered ${command.outcome}`, { command });
      return done(command.outcome === 'rejected' ? 'command-rejected' : 'command-timeout', { command, escalated });
    }
    if (!effect) return done('applied', { command });

    const sentAt = this.clock();
    await this.sleep(effect.settleMs);
    const samples = await this.settledWindow(decision.id, effect, sentAt);
    const check = checkEffect(effect, baseline, samples);
    if (check.verdict === 'effective') {
      await this.learn(decision, 'effect-expected');
      return done('effective', { command, effect: check });
    }
    if (check.verdict === 'no-data') {
      const escalated = await this.escalate(decision, 'warning', 'effect unknown', `no telemetry for ${effect.device}/${effect.point} after ${effect.settleMs} ms`, { effect: check });
      return done('no-data', { command, effect: check, escalated });
    }
    await this.learn(decision, check.verdict);
    const rollback = await this.rollback(decision, action, previous);
    const severity = check.verdict === 'bad-effect' || p.priority === 'critical' ? 'critical' : 'warning';
    const escalated = await this.escalate(
      decision,
      severity,
      check.verdict === 'bad-effect' ? 'action made things worse' : 'action had no effect',
      `${effect.device}/${effect.point} expected to ${effect.direction} by ${effect.magnitude}; baseline ${check.baseline ?? '?'}, observed ${check.observed ?? '?'}; rollback ${rollback.status}`,
      { effect: check, rollback: rollback.status },
    );
    return done(check.verdict, { command, effect: check, rollback, escalated });
  }

  /**
   * The effect point's samples over the settling window. Telemetry reaches the store late (the
   * gateway's outbox, a reconnect after a hub restart), so when nothing near the window's end has
   * arrived yet this polls until it has or `lateTelemetryMs` has passed, then judges on what is there.
   */
  private async settledWindow(decisionId: string, effect: ExpectedEffect, sentAt: number): Promise<readonly TelemetrySample[]> {
    const end = sentAt + effect.settleMs;
    const covered = end - effect.settleMs / 10;
    const grace = this.options.lateTelemetryMs ?? effect.settleMs / 2;
    // Counted in polls, not by the clock: an injected clock may stand still.
    const polls = Math.min(20, Math.ceil(grace / 100));
    for (let poll = 0; ; poll++) {
      let samples: readonly TelemetrySample[] = [];
      try {
        samples = await this.options.telemetry.window(effect.gateway, effect.device, effect.point, sentAt, end);
      } catch (err) {
        this.log.warn({ decision: decisionId, err: errorMessage(err) }, 'telemetry window unavailable for effect check');
      }
      const last = samples[samples.length - 1];
      if ((last !== undefined && last.ts >= covered) || poll >= polls) return samples;
      await this.sleep(grace / polls);
    }
  }

  private async rollback(decision: Decision, action: Action, previous: PointValue | undefined): Promise<NonNullable<ExecutionResult['rollback']>> {
    if (!decision.proposal.rollback) return { status: 'not-allowed' };
    if (previous === undefined) return { status: 'unknown-previous' };
    let undo: Action;
    if (action.kind === 'write') undo = { kind: 'write', device: action.device, point: action.point, value: previous };
    else if (previous === 'auto' || previous === 'manual' || previous === 'maintenance') undo = { kind: 'mode', mode: previous };
    else return { status: 'unknown-previous' };
    try {
      const command = await this.options.commands.send(decision.proposal.gateway, undo, { idempotencyKey: `${decision.id}-rollback`, origin: 'agent:executor' });
      return { status: command.outcome === 'applied' ? 'applied' : 'failed', command, value: previous };
    } catch (err) {
      this.log.error({ decision: decision.id, err: errorMessage(err) }, 'rollback could not be sent');
      return { status: 'failed', value: previous };
    }
  }

  private async previousValue(gateway: string, action: Action): Promise<PointValue | undefined> {
    if (action.kind !== 'write') return undefined;
    return (await this.safeLatest(gateway, action.device, action.point))?.value;
  }

  private async safeLatest(gateway: string, device: string, point: string): Promise<{ value: PointValue } | undefined> {
    try {
      return await this.options.telemetry.latest(gateway, device, point);
    } catch (err) {
      this.log.warn({ gateway, device, point, err: errorMessage(err) }, 'latest value unavailable');
      return undefined;
    }
  }

  private async learn(decision: Decision, outcome: LearningOutcome): Promise<void> {
    try {
      await this.options.onOutcome?.(decision, outcome);
    } catch (err) {
      this.log.warn({ decision: decision.id, err: errorMessage(err) }, 'learning hook failed');
    }
  }

  private async escalate(decision: Decision, severity: 'warning' | 'critical', subject: string, reason: string, evidence: Record<string, unknown>): Promise<boolean> {
    const p = decision.proposal;
    this.log.warn({ decision: decision.id, subject, reason }, 'escalating');
    const bus = this.options.bus;
    if (!bus) return false;
    const payload = {
      severity,
      subject: `${p.kind} on ${p.gateway}: ${subject}`.slice(0, 256),
      reason: reason.slice(0, 4000),
      decisionId: decision.id,
      site: p.site,
      evidence: { action: p.action, proposal: p.id, agent: p.agent, ...evidence },
    };
    const group = this.options.escalationGroup;
    if (group) await bus.multicast('escalation-alert', 'executor', { group }, payload, decision.id);
    else await bus.broadcast('escalation-alert', 'executor', payload, decision.id);
    return true;
  }
}
