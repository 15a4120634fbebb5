/**
 * The local rule engine: evaluates the configured rules on every relevant reading and on a timer
 * (for durations and staleness), arbitrates outputs by priority, applies each output's safe state
 * when the inputs of the rules driving it go bad or its device is lost, rate-limits writes, and
 * sends every write through gateway.write (interlocks, limits, audit) — reporting each one as a
 * `local-action` event. Needs no network: the Reporter queues or logs.
 *
 * An output that reads back other than what the engine wrote, with nobody having written it
 * through the gateway (an I/O module that rebooted to its power-up state, a line switched by
 * hand), is written again after it has read so for `reassert.settleMs`, backing off, at most
 * `reassert.max` times; then it is reported and left alone until the rule's output changes. A write
 * by someone else through the gateway (an operator's command) is an override: not fought.
 */
import type { Logger } from 'pino';
import { errorMessage, isSwarmgateError, SwarmgateError, type ErrorKind } from '../../../shared/kit/errors.js';
import type { PointValue, Reading } from '../../drivers/driver.js';
import type { ConditionInputs } from './conditions.js';
import { compileRules, type CompiledOutput, type CompiledRule, type RuleEvent } from './compile.js';
import type { GatewayPort } from '../../runtime/ports.js';
import { makeEvent, safeReport, type Reporter } from './reporter.js';
import { splitRef, type RulesConfig } from './schema.js';
import { WriteHistory } from './write-history.js';

export interface RuleEngineOptions {
  readonly gateway: GatewayPort;
  readonly config: RulesConfig;
  readonly reporter: Reporter;
  /** Anomaly score lookup (AnomalyMonitor.score) for `anomaly` conditions. */
  readonly anomaly?: (device: string, point: string) => number | undefined;
  /** A clock for durations (held-for waits) that wall-clock steps do not move; default: monotonic, or `now` when that is given. */
  readonly elapsed?: () => number;
  readonly now?: () => number;
  readonly log?: Logger;
  /** Where the times of rate-limited writes are kept across restarts (e.g. <dataDir>/rule-writes.json); default: memory only. */
  readonly historyFile?: string;
  /** Writing an output again that reads back otherwise (default: after 5 s, backing off x4, 3 times). */
  readonly reassert?: { readonly settleMs?: number; readonly max?: number };
}

interface OutputState {
  readonly spec: CompiledOutput;
  /** Value this engine last wrote successfully. */
  commanded?: PointValue;
  desired?: { value: PointValue; origin: string; reason: string; rule?: string };
  inFlight: boolean;
  /** A refused value is retried only after this time (and reported once). */
  failed?: { value: PointValue; retryAt: number; delayMs: number };
  limited: boolean;
  /** When this engine last wrote the output (readings older than that say nothing about it). */
  writtenAt?: number;
  /** Someone else wrote it through the gateway since (an override, relinquish included): not fought. */
  overridden: boolean;
  /**
   * What the engine wanted when it was overridden (value and origin): not fought while it wants
   * the same for the same reason; a new value or reason (its inputs lost: the safe state) is written.
   */
  overrideOf?: { value: PointValue; origin: string };
  /** Since when the output reads other than commanded, and how often it was written again for it. */
  drift?: { since: number };
  reasserts: number;
  gaveUp: boolean;
  /** Two values within this are the same reading of the output (its resolution). */
  readonly tolerance: number;
}

export interface RuleStatus {
  readonly name: string;
  readonly state: boolean | undefined;
}

export interface OutputStatus {
  readonly point: string;
  readonly commanded?: PointValue;
  readonly desired?: PointValue;
  readonly reason?: string;
  readonly safe: boolean;
}

const RETRY_MIN_MS = 5000;
/**
 * Kinds of write errors (the error table's) that mean the write never reached the equipment: the
 * point's checks and interlocks (validation, state), a device not connected or unreachable
 * (device), a device that answered with a refusal (protocol). A timeout, or an error of no known
 * kind, may have switched it.
 */
const NOT_SENT: ReadonlySet<ErrorKind> = new Set(['validation', 'state', 'device', 'protocol']);
const RETRY_MAX_MS = 300_000;
const REASSERT_SETTLE_MS = 5000;
const REASSERT_MAX = 3;

function sameReading(a: PointValue, b: PointValue, tolerance: number): boolean {
  if (typeof a === 'number' && typeof b === 'number') return Math.abs(a - b) <= Math.max(tolerance, 1e-6 * Math.max(1, Math.abs(a), Math.abs(b)));
  return a === b;
}

export class RuleEngine {
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly elapsed: () => number;
  private readonly rules: readonly CompiledRule[];
  private readonly outputs: OutputState[];
  private readonly states = new Map<string, boolean | undefined>();
  private readonly lastKnown = new Map<string, boolean>();
  private readonly history = new Map<string, { ts: number[]; v: number[]; keepMs: number }>();
  private readonly relevant = new Set<string>();
  private readonly pointsOf = new Map<string, string[]>();
  private readonly inFlight = new Set<Promise<void>>();
  /** Times of rate-limited outputs' writes (kept across restarts with historyFile). */
  private readonly writes: WriteHistory;
  private startedAt: number;
  private timer?: NodeJS.Timeout;
  private unsubscribe?: () => void;
  private unsubscribeWrites?: () => void;
  private scheduled = false;
  private stopped = false;

  /** Compiles the config; throws SWG_ERR_CONFIG_INVALID naming every rule and field with a problem. */
  constructor(private readonly options: RuleEngineOptions) {
    this.log = (options.log ?? options.gateway.log).child({ component: 'rules' });
    this.now = options.now ?? Date.now;
    // With a clock given (tests, replays) durations follow it; else the monotonic clock.
    this.elapsed = options.elapsed ?? options.now ?? (() => performance.now());
    this.startedAt = this.now();
    const compiled = compileRules(options.config, options.gateway.config.devices);
    if (compiled.problems.length > 0) {
      const lines = compiled.problems.map((p) => `rules.${p.path.map((s) => (typeof s === 'number' ? `[${s}]` : s)).join('.').replace(/\.\[/g, '[')}: ${p.message}`);
      throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `${lines.length} problem(s) in the rules:\n${lines.join('\n')}`, { details: { problems: lines } });
    }
    this.rules = compiled.rules;
    this.outputs = compiled.outputs.map((spec) => {
      const point = options.gateway.config.devices.find((d) => d.id === spec.device)?.points.find((p) => p.name === spec.point);
      // A scaled register holds steps of `scale`: a value between two steps reads back as the nearer.
      // An integer register holds steps of its resolution: a value between two reads back as the nearer.
      const tolerance = Math.max(point?.deadband ?? 0, (point?.resolution ?? 0) / 2);
      return { spec, inFlight: false, limited: false, overridden: false, reasserts: 0, gaveUp: false, tolerance };
    });
    this.writes = new WriteHistory(options.historyFile, this.log);
    for (const rule of this.rules) {
      for (const ref of rule.inputs) this.relevant.add(ref);
      for (const [ref, windowS] of rule.rateWindows) {
        const keepMs = Math.max(this.history.get(ref)?.keepMs ?? 0, windowS * 1500);
        this.history.set(ref, { ts: [], v: [], keepMs });
      }
    }
    for (const d of options.gateway.config.devices) this.pointsOf.set(d.id, d.points.map((p) => `${d.id}/${p.name}`));
    for (const o of this.outputs) {
      for (const ref of o.spec.inputs) this.relevant.add(ref);
      for (const ref of this.pointsOf.get(o.spec.device) ?? []) this.relevant.add(ref);
    }
  }

  get ruleCount(): number {
    return this.rules.length;
  }

  start(): void {
    if (this.timer || this.stopped) return;
    this.startedAt = this.now();
    this.unsubscribe = this.options.gateway.onSample((r) => this.onSample(r));
    this.unsubscribeWrites = this.options.gateway.onWrite?.((w) => {
      // This engine's own writes carry its origins; anyone else's is an override of the output.
      if (w.origin.startsWith('rule:') || w.origin.startsWith('safe-state:')) return;
      for (const o of this.outputs) {
        if (o.spec.device !== w.device || o.spec.point !== w.point) continue;
        o.overridden = true;
        o.drift = undefined;
        // The output holds their value now, not the engine's.
        o.commanded = undefined;
        if (o.desired) o.overrideOf = { value: o.desired.value, origin: o.desired.origin };
        else delete o.overrideOf;
      }
    });
    const every = this.options.config.evaluateEveryMs ?? 1000;
    this.timer = setInterval(() => this.evaluate(), every);
    this.timer.unref();
    this.log.info({ rules: this.rules.length, outputs: this.outputs.length }, 'rule engine started');
    this.evaluate();
  }

  /** Stops evaluating and waits for writes in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    this.unsubscribe?.();
    this.unsubscribeWrites?.();
    await this.settled();
  }

  /** Resolves when no write is in flight. */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  status(): { rules: RuleStatus[]; outputs: OutputStatus[] } {
    return {
      rules: this.rules.map((r) => ({ name: r.name, state: this.states.get(r.name) })),
      outputs: this.outputs.map((o) => ({
        point: o.spec.ref,
        ...(o.commanded !== undefined ? { commanded: o.commanded } : {}),
        ...(o.desired ? { desired: o.desired.value, reason: o.desired.reason } : {}),
        safe: o.desired?.origin.startsWith('safe-state') ?? false,
      })),
    };
  }

  private onSample(r: Reading): void {
    const ref = `${r.device}/${r.point}`;
    if (!this.relevant.has(ref)) return;
    const h = this.history.get(ref);
    if (h && r.quality === 'good' && typeof r.value === 'number') {
      h.ts.push(r.ts);
      h.v.push(r.value);
      let drop = 0;
      while (drop < h.ts.length - 1 && (h.ts[drop] ?? 0) < r.ts - h.keepMs) drop++;
      if (drop > 0) {
        h.ts.splice(0, drop);
        h.v.splice(0, drop);
      }
    }
    // A burst of readings (one poll) gives one evaluation.
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => {
        this.scheduled = false;
        this.evaluate();
      });
    }
  }

  private readonly inputs: ConditionInputs = {
    now: () => this.now(),
    elapsed: () => this.elapsed(),
    value: (ref) => this.usable(ref)?.value ?? undefined,
    isBad: (ref) => this.isBad(ref),
    deviceBad: (device) => (this.pointsOf.get(device) ?? []).every((ref) => this.isBad(ref)),
    ratePerMinute: (ref, windowS) => this.rate(ref, windowS),
    anomaly: (ref) => {
      const { device, point } = splitRef(ref);
      return this.options.anomaly?.(device, point);
    },
  };

  private reading(ref: string): Reading | undefined {
    const { device, point } = splitRef(ref);
    return this.options.gateway.latest(device, point);
  }

  private usable(ref: string): Reading | undefined {
    const r = this.reading(ref);
    if (!r || r.quality !== 'good' || r.value === null) return undefined;
    const stale = this.options.config.staleAfterS;
    if (stale !== undefined && this.now() - r.ts > stale * 1000) return undefined;
    return r;
  }

  private isBad(ref: string): boolean {
    const r = this.reading(ref);
    if (!r) return this.now() - this.startedAt > (this.options.config.startupGraceS ?? 30) * 1000;
    return this.usable(ref) === undefined;
  }

  private rate(ref: string, windowS: number): number | undefined {
    const h = this.history.get(ref);
    if (!h || h.ts.length < 2 || !this.usable(ref)) return undefined;
    const lastTs = h.ts[h.ts.length - 1] ?? 0;
    let i = 0;
    while (i < h.ts.length - 1 && (h.ts[i] ?? 0) < lastTs - windowS * 1000) i++;
    // The oldest reading inside the window may be a little inside it; need half the window at least.
    if (i > 0 && lastTs - (h.ts[i] ?? 0) < windowS * 500) i--;
    const span = lastTs - (h.ts[i] ?? 0);
    if (span < windowS * 500) return undefined;
    return (((h.v[h.v.length - 1] ?? 0) - (h.v[i] ?? 0)) / span) * 60_000;
  }

  /** One evaluation round: rule states, rule events, output arbitration, writes. Synchronous; writes run in the background. */
  evaluate(): void {
    if (this.stopped) return;
    for (const rule of this.rules) {
      let state: boolean | undefined;
      try {
        state = rule.condition.evaluate(this.inputs);
      } catch (err) {
        this.log.error({ rule: rule.name, err: errorMessage(err) }, 'rule evaluation failed');
        state = undefined;
      }
      this.states.set(rule.name, state);
      const known = this.lastKnown.get(rule.name);
      if (state === true && known !== true) this.ruleEvents(rule, rule.thenEvents, true);
      if (state === false && known === true) this.ruleEvents(rule, rule.elseEvents, false);
      if (state !== undefined) this.lastKnown.set(rule.name, state);
    }
    for (const output of this.outputs) {
      output.desired = this.arbitrate(output);
      this.drive(output);
    }
  }

  private ruleEvents(rule: CompiledRule, events: readonly RuleEvent[], state: boolean): void {
    this.log.info({ rule: rule.name, state }, state ? 'rule became true' : 'rule became false');
    for (const e of events) {
      safeReport(this.options.reporter, this.log, makeEvent(this.options.gateway.id, { kind: 'rule', severity: e.severity, message: e.message, data: { rule: rule.name, state } }));
    }
  }

  private arbitrate(output: OutputState): OutputState['desired'] {
    const { spec } = output;
    if (spec.safeValue !== undefined) {
      const lost = [...spec.inputs].filter((ref) => this.isBad(ref));
      const deviceLost = this.inputs.deviceBad(spec.device);
      if (lost.length > 0 || deviceLost) {
        const reason = deviceLost ? `device ${spec.device} lost` : `input${lost.length > 1 ? 's' : ''} ${lost.join(', ')} bad`;
        return { value: spec.safeValue, origin: `safe-state:${spec.ref}`, reason };
      }
    }
    let best: { rule: CompiledRule; value: PointValue; when: boolean } | undefined;
    for (const rule of this.rules) {
      const state = this.states.get(rule.name);
      if (state === undefined) continue;
      const value = (state ? rule.thenWrites : rule.elseWrites).get(spec.ref);
      if (value === undefined) continue;
      // Higher priority wins; on a tie the rule listed first keeps the output.
      if (!best || rule.priority > best.rule.priority) best = { rule, value, when: state };
    }
    if (!best) return undefined;
    return { value: best.value, origin: `rule:${best.rule.name}`, reason: best.when ? 'condition true' : 'condition false', rule: best.rule.name };
  }

  /**
   * Whether an output that holds its commanded value by the engine's account reads otherwise for
   * long enough to be written again (see the header); reports giving up once.
   */
  private drifted(output: OutputState, now: number): boolean {
    const r = this.reading(output.spec.ref);
    const commanded = output.commanded;
    const writtenAt = output.writtenAt ?? 0;
    if (!output.spec.reassert || output.overridden || commanded === undefined || !r || r.quality !== 'good' || r.value === null) return false;
    const settleMs = this.options.reassert?.settleMs ?? REASSERT_SETTLE_MS;
    const max = this.options.reassert?.max ?? REASSERT_MAX;
    if (sameReading(r.value, commanded, output.tolerance)) {
      output.drift = undefined;
      // Holding, and still a settle time after the write (drivers that report changes only may
      // have nothing newer than their echo of it): a later drift is a new upset, counted afresh.
      if (now >= writtenAt + settleMs) {
        output.reasserts = 0;
        output.gaveUp = false;
      }
      return false;
    }
    // A reading from before the write says nothing about it.
    if (r.ts < writtenAt) return false;
    output.drift ??= { since: Math.max(r.ts, writtenAt) };
    if (now - output.drift.since < settleMs * 4 ** output.reasserts) return false;
    if (output.reasserts >= max) {
      if (!output.gaveUp) {
        output.gaveUp = true;
        const message = `${output.spec.ref} does not hold ${String(commanded)}: it reads ${String(r.value)} after ${max} writes again; left alone until its rules change their output (check the device: a higher-priority command, a manual override, a fault)`;
        this.log.error({ output: output.spec.ref, commanded, reads: r.value }, 'output does not hold its value');
        if (output.desired) this.report('warning', output, output.desired, message, { outcome: 'not-held', reads: r.value });
      }
      return false;
    }
    return true;
  }

  private drive(output: OutputState): void {
    const want = output.desired;
    if (!want || output.inFlight) return;
    if (output.overridden && output.overrideOf !== undefined && output.overrideOf.value === want.value && output.overrideOf.origin === want.origin) return;
    const now = this.now();
    if (want.value === output.commanded && !this.drifted(output, now)) return;
    if (want.value !== output.commanded) {
      output.reasserts = 0;
      output.gaveUp = false;
    }
    if (output.failed && output.failed.value === want.value && now < output.failed.retryAt) return;
    const limit = output.spec.rateLimit;
    if (limit) {
      if (this.writes.recent(output.spec.ref, limit.periodMs, now).length >= limit.max) {
        if (!output.limited) {
          output.limited = true;
          this.log.warn({ output: output.spec.ref, value: want.value, max: limit.max, periodMs: limit.periodMs }, 'output rate limit reached; write deferred');
          this.report('warning', output, want, `rate limit reached on ${output.spec.ref}: ${limit.max} writes per ${limit.periodMs / 1000} s; ${String(want.value)} deferred`, { outcome: 'rate-limited' });
        }
        return;
      }
      output.limited = false;
      this.writes.record(output.spec.ref, now);
    }
    const recordedAt = limit ? now : undefined;
    output.inFlight = true;
    const previous = output.commanded;
    // Past the early return with the same value: the output drifted and is written again (counted
    // here, where the write goes out, not when a rate limit or a refusal's back-off holds it).
    let again: { attempt: number; reads: PointValue | undefined } | undefined;
    if (want.value === previous) {
      output.reasserts += 1;
      again = { attempt: output.reasserts, reads: this.reading(output.spec.ref)?.value ?? undefined };
      this.log.warn({ output: output.spec.ref, commanded: previous, reads: again.reads, attempt: again.attempt }, 'output reads other than written; writing it again');
    }
    const job = this.options.gateway
      .write(output.spec.device, output.spec.point, want.value, want.origin)
      .then(() => {
        output.commanded = want.value;
        output.failed = undefined;
        output.writtenAt = this.now();
        output.overridden = false;
        delete output.overrideOf;
        output.drift = undefined;
        if (again) {
          const max = this.options.reassert?.max ?? REASSERT_MAX;
          const what = `${output.spec.ref} read ${String(again.reads)} though nobody wrote it since ${want.origin} set ${String(want.value)}: written again (${again.attempt} of at most ${max})`;
          this.report('warning', output, want, what, { outcome: 'reasserted', reads: again.reads ?? null, attempt: again.attempt });
          return;
        }
        const what = want.origin.startsWith('safe-state') ? `safe state: ${output.spec.ref} = ${String(want.value)} (${want.reason})` : `rule "${want.rule ?? '?'}" set ${output.spec.ref} = ${String(want.value)}`;
        this.report(want.origin.startsWith('safe-state') ? 'warning' : 'info', output, want, what, { outcome: 'applied', ...(previous !== undefined ? { previous } : {}) });
      })
      .catch((err: unknown) => {
        const delayMs = output.failed?.value === want.value ? Math.min(output.failed.delayMs * 2, RETRY_MAX_MS) : RETRY_MIN_MS;
        const first = output.failed?.value !== want.value;
        output.failed = { value: want.value, retryAt: this.now() + delayMs, delayMs };
        const code = isSwarmgateError(err) ? err.code : undefined;
        // A write refused before it reached the equipment (an interlock, the point's checks, a
        // device not connected or refusing it) switched nothing: it does not use up the rate
        // limit, or an I/O module offline for minutes would leave its relay unswitched for an
        // hour after it came back. A timeout may have reached it, and counts.
        if (recordedAt !== undefined && isSwarmgateError(err) && NOT_SENT.has(err.kind)) this.writes.forget(output.spec.ref, recordedAt);
        if (first) this.report('warning', output, want, `${want.origin} could not set ${output.spec.ref} = ${String(want.value)}: ${errorMessage(err)}`, { outcome: 'refused', ...(code ? { code } : {}) });
      })
      .finally(() => {
        output.inFlight = false;
        this.inFlight.delete(job);
        // The world may have moved while the write was in flight.
        if (!this.stopped) this.drive(output);
      });
    this.inFlight.add(job);
  }

  private report(severity: 'info' | 'warning', output: OutputState, want: NonNullable<OutputState['desired']>, message: string, extra: Record<string, unknown>): void {
    safeReport(
      this.options.reporter,
      this.log,
      makeEvent(this.options.gateway.id, {
        kind: 'local-action',
        severity,
        device: output.spec.device,
        point: output.spec.point,
        message,
        data: { origin: want.origin, reason: want.reason, value: want.value, ...(want.rule ? { rule: want.rule } : {}), ...extra },
      }),
    );
  }
}
