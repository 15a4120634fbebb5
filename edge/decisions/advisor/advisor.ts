/**
 * The advisor: every intervalS it lets each configured strategy look at the facility (latest
 * values, trends, anomaly scores) and routes what they propose by confidence and local policy:
 *   confidence >= threshold of the action class AND the class allows local action
 *     → applied through gateway.write (interlocks, limits, audit) and reported as a local-action event;
 *   otherwise → a ReviewRequest through the Reporter (queued by federation while offline), never applied.
 * A recommendation is not repeated while it is open unless it can now be applied. It is open until
 * its action has taken effect — the target point reads back the proposed value, whoever wrote it:
 * applied here, or approved at the hub and executed as a command — or until it expires (the
 * back-off after a rejection, which the hub does not send back; a pending review waits as long). So a
 * condition that comes back after its action was carried out is proposed again at the next pass.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { errorMessage, isSwarmgateError, SwarmgateError } from '../../../shared/kit/errors.js';
import type { Action, ReviewRequest } from '../../../shared/wire/messages.js';
import type { PointValue, Reading } from '../../drivers/driver.js';
import { catalogOf } from '../rules/compile.js';
import { splitRef } from '../rules/schema.js';
import type { GatewayPort } from '../../runtime/ports.js';
import { clip, makeEvent, safeReport, type Reporter } from '../rules/reporter.js';
import { compileStrategies, type StrategyInstance } from './instances.js';
import type { AdvisorConfig } from './schema.js';
import type { AnomalyEvidence, Observation, StrategyProposal, Strategy, StrategyContext } from './strategy.js';

/** What the advisor reads from the anomaly monitor (AnomalyMonitor satisfies it). */
export interface AnomalySource {
  /** `learning`: the point is inside its learning period (its score is no evidence yet). */
  status(device: string, point: string): { score: number; detectorScore: number; outOfRange: boolean; flatline: boolean; learning?: boolean } | undefined;
  modelInfo(device: string, point: string): { backend?: string; readings: number; hasModel: boolean } | undefined;
}

export interface AdvisorOptions {
  readonly gateway: GatewayPort;
  readonly config: AdvisorConfig;
  readonly reporter: Reporter;
  readonly anomaly?: AnomalySource;
  readonly strategies?: ReadonlyMap<string, Strategy>;
  readonly now?: () => number;
  readonly log?: Logger;
}

export interface Recommendation {
  readonly id: string;
  readonly strategy: string;
  readonly actionClass: string;
  readonly action: Action;
  readonly confidence: number;
  readonly rationale: string;
  readonly evidence: Record<string, unknown>;
  readonly createdAt: number;
  readonly expiresAt: number;
}

/** `held`: its alarm was raised, the write waits for the strategy's hold (StrategyProposal.holdS). */
export type Outcome = 'applied' | 'review' | 'refused' | 'unchanged' | 'open' | 'held';

export interface RoutedRecommendation {
  readonly recommendation: Recommendation;
  readonly outcome: Outcome;
  readonly reason?: string;
}

/** Built-in class policies; the config overrides them (unknown classes: review only). */
const DEFAULT_CLASSES: Readonly<Record<string, { allowLocal: boolean; threshold?: number }>> = {
  safety: { allowLocal: true },
  energy: { allowLocal: true },
  comfort: { allowLocal: false },
  maintenance: { allowLocal: false },
};

interface OpenRecommendation {
  readonly ref: string;
  readonly value: PointValue;
  readonly expiresAt: number;
  readonly outcome: Outcome;
  /** Its alarm was raised (raised once per recommendation, also when it is routed again)... */
  readonly alarmed: boolean;
  /** ...at this severity: a critical one still goes out after a warning. */
  readonly severity?: 'warning' | 'critical';
}

const HISTORY_KEEP_MS = 3 * 3_600_000;
const HISTORY_MIN_GAP_MS = 1000;

export class Advisor {
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly instances: readonly StrategyInstance[];
  private readonly history = new Map<string, { ts: number[]; v: number[] }>();
  /** Per bound point: its current value, since when, and whether that was a change the advisor saw. */
  private readonly held = new Map<string, { value: PointValue; since: number; changed: boolean }>();
  private readonly open = new Map<string, OpenRecommendation>();
  private readonly refs = new Set<string>();
  private timer?: NodeJS.Timeout;
  /** A pass due when the soonest hold ends (a held write goes then, not at the next interval). */
  private holdTimer?: NodeJS.Timeout;
  private holdAt?: number;
  private unsubscribe?: () => void;
  private running?: Promise<RoutedRecommendation[]>;
  private stopped = false;

  /** Checks the strategies and their bindings; throws SWG_ERR_CONFIG_INVALID naming each problem. */
  constructor(private readonly options: AdvisorOptions) {
    this.log = (options.log ?? options.gateway.log).child({ component: 'advisor' });
    this.now = options.now ?? Date.now;
    const { instances, problems } = compileStrategies(options.config, catalogOf(options.gateway.config.devices), options.strategies);
    if (problems.length > 0) {
      const lines = problems.map((p) => `advisor.${p.path.join('.')}: ${p.message}`);
      throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `${lines.length} problem(s) in the advisor config:\n${lines.join('\n')}`, { details: { problems: lines } });
    }
    this.instances = instances;
    for (const i of instances) for (const b of i.bindings.values()) this.refs.add(b.ref);
  }

  start(): void {
    if (this.timer || this.stopped) return;
    this.unsubscribe = this.options.gateway.onSample((r) => this.observe(r));
    this.timer = setInterval(() => void this.runOnce(), (this.options.config.intervalS ?? 300) * 1000);
    this.timer.unref();
    this.log.info({ strategies: this.instances.map((i) => i.name), intervalS: this.options.config.intervalS ?? 300 }, 'advisor started');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.holdTimer);
    this.timer = undefined;
    this.unsubscribe?.();
    await this.running;
  }

  private observe(r: Reading): void {
    const ref = `${r.device}/${r.point}`;
    if (!this.refs.has(ref) || r.quality === 'bad' || r.value === null) return;
    const held = this.held.get(ref);
    if (!held || held.value !== r.value) this.held.set(ref, { value: r.value, since: r.ts, changed: held !== undefined });
    if (r.quality === 'good') this.forgetDone(ref, r.value);
    if (typeof r.value !== 'number') return;
    const h = this.history.get(ref) ?? { ts: [], v: [] };
    this.history.set(ref, h);
    if (h.ts.length > 0 && r.ts - (h.ts[h.ts.length - 1] ?? 0) < HISTORY_MIN_GAP_MS) return;
    h.ts.push(r.ts);
    h.v.push(r.value);
    let drop = 0;
    while (drop < h.ts.length && (h.ts[drop] ?? 0) < r.ts - HISTORY_KEEP_MS) drop++;
    if (drop > 0) {
      h.ts.splice(0, drop);
      h.v.splice(0, drop);
    }
  }

  /** One pass over every strategy; resolves with what was proposed and where it went. */
  /** Runs a pass `ms` from now (a second after a hold ends), unless one is due sooner. */
  private passAfter(ms: number): void {
    if (this.stopped || !this.timer) return;
    const at = this.now() + ms + 1000;
    if (this.holdTimer && this.holdAt !== undefined && this.holdAt <= at) return;
    clearTimeout(this.holdTimer);
    this.holdAt = at;
    this.holdTimer = setTimeout(() => {
      this.holdTimer = undefined;
      this.holdAt = undefined;
      void this.runOnce();
    }, Math.max(0, ms + 1000));
    this.holdTimer.unref();
  }

  runOnce(): Promise<RoutedRecommendation[]> {
    // Passes never overlap: a slow write must not let two passes apply the same thing.
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(): Promise<RoutedRecommendation[]> {
    const out: RoutedRecommendation[] = [];
    const now = this.now();
    for (const [key, o] of this.open) if (o.expiresAt <= now) this.open.delete(key);
    for (const o of this.open.values()) {
      const { device, point } = splitRef(o.ref);
      const current = this.options.gateway.latest(device, point);
      if (current?.quality === 'good' && current.value !== null) this.forgetDone(o.ref, current.value);
    }
    // Keys proposed in this pass: a held recommendation not proposed again is forgotten.
    const proposed = new Set<string>();
    for (const instance of this.instances) {
      let proposals: StrategyProposal[] = [];
      try {
        proposals = instance.strategy.propose(this.context(instance, now));
      } catch (err) {
        this.log.error({ strategy: instance.name, err: errorMessage(err) }, 'strategy failed');
        continue;
      }
      for (const p of proposals) {
        if (this.stopped) return out;
        const routed = await this.route(instance, p, now, proposed);
        if (routed) out.push(routed);
      }
    }
    // A held recommendation whose condition went away is forgotten: the next warming is a new
    // incident with its own alarm.
    for (const [key, o] of this.open) if (o.outcome === 'held' && !proposed.has(key)) this.open.delete(key);
    return out;
  }

  /** Forgets the open recommendations this value of `ref` carried out (locally, or approved and executed by the hub). */
  private forgetDone(ref: string, value: PointValue): void {
    for (const [key, o] of this.open) if (o.ref === ref && sameValue(value, o.value)) this.open.delete(key);
  }

  private policy(actionClass: string): { allowLocal: boolean; threshold: number } {
    const configured = this.options.config.classes?.[actionClass];
    const builtin = DEFAULT_CLASSES[actionClass];
    return {
      allowLocal: configured?.allowLocal ?? builtin?.allowLocal ?? false,
      threshold: configured?.threshold ?? builtin?.threshold ?? this.options.config.threshold ?? 0.8,
    };
  }

  private async route(instance: StrategyInstance, p: StrategyProposal, now: number, proposed: Set<string>): Promise<RoutedRecommendation | undefined> {
    const target = instance.bindings.get(p.target);
    if (!target || !instance.strategy.roles.written.includes(p.target)) {
      this.log.error({ strategy: instance.name, target: p.target }, 'strategy proposed a write to a role it may not write');
      return undefined;
    }
    const actionClass = p.actionClass ?? instance.actionClass;
    const action: Action = { kind: 'write', device: target.device, point: target.point, value: p.value };
    const rec: Recommendation = {
      id: randomUUID(),
      strategy: instance.name,
      actionClass,
      action,
      confidence: Math.min(1, Math.max(0, Number.isFinite(p.confidence) ? p.confidence : 0)),
      rationale: p.rationale,
      evidence: { ...p.evidence, strategy: instance.strategy.kind, params: instance.params, bindings: Object.fromEntries([...instance.bindings].map(([role, b]) => [role, b.ref])) },
      createdAt: now,
      expiresAt: now + (this.options.config.expiryS ?? 900) * 1000,
    };
    const policy = this.policy(actionClass);
    const local = rec.confidence >= policy.threshold && policy.allowLocal;
    const key = `${instance.name}:${target.ref}=${String(p.value)}`;
    const current = this.options.gateway.latest(target.device, target.point);
    if (current?.quality === 'good' && sameValue(current.value, p.value)) return { recommendation: rec, outcome: 'unchanged' };
    const open = this.open.get(key);
    const held = (p.holdS ?? 0) > 0;
    proposed.add(key);
    // The alarm goes out once per recommendation, and once more if it turns critical (a room
    // warming past scaleK while its switch-on was held or waits for a technician).
    const alarmed = p.alarm !== undefined || open?.alarmed === true;
    const severity = p.alarm?.severity === 'critical' || open?.severity === 'critical' ? 'critical' : (p.alarm?.severity ?? open?.severity);
    if (p.alarm && (!open?.alarmed || (p.alarm.severity === 'critical' && open.severity !== 'critical'))) {
      const subject = instance.bindings.get(instance.strategy.roles.required[0] ?? '');
      safeReport(this.options.reporter, this.log, makeEvent(this.options.gateway.id, {
        kind: 'anomaly',
        severity: p.alarm.severity,
        message: p.alarm.message,
        ...(subject ? { device: subject.device, point: subject.point } : {}),
        data: { strategy: instance.name, recommendation: rec.id, confidence: rec.confidence },
      }));
    }
    // Already proposed and still open: repeat only if it has since become applicable locally (or
    // it was only held so far).
    if (open && (held || !(open.outcome === 'review' && local)) && open.outcome !== 'held') {
      if (severity !== open.severity || alarmed !== open.alarmed) this.open.set(key, { ...open, alarmed, ...(severity ? { severity } : {}) });
      return { recommendation: rec, outcome: 'open' };
    }
    if (held) {
      // Remembered as alarmed; not blocking: once the hold is over the write is routed (without a second alarm).
      this.open.set(key, { ref: target.ref, value: p.value, expiresAt: rec.expiresAt, outcome: 'held', alarmed, ...(severity ? { severity } : {}) });
      this.log.info({ strategy: instance.name, action, confidence: rec.confidence, holdS: Math.round(p.holdS ?? 0) }, 'recommendation held back by equipment protection; its alarm is raised');
      this.passAfter((p.holdS ?? 0) * 1000);
      return { recommendation: rec, outcome: 'held', reason: `held back for ${Math.round(p.holdS ?? 0)} s` };
    }
    const policyInfo = { threshold: policy.threshold, allowLocal: policy.allowLocal };
    if (local) {
      try {
        await this.options.gateway.write(target.device, target.point, p.value, `advisor:${instance.name}`);
        this.open.set(key, { ref: target.ref, value: p.value, expiresAt: rec.expiresAt, outcome: 'applied', alarmed, ...(severity ? { severity } : {}) });
        this.log.info({ strategy: instance.name, action, confidence: rec.confidence }, 'recommendation applied locally');
        this.event('info', rec, `advisor applied ${target.ref} = ${String(p.value)} (${actionClass}, confidence ${rec.confidence.toFixed(2)}): ${p.rationale}`, { outcome: 'applied', policy: policyInfo });
        return { recommendation: rec, outcome: 'applied' };
      } catch (err) {
        const code = isSwarmgateError(err) ? err.code : undefined;
        this.event('warning', rec, `advisor could not apply ${target.ref} = ${String(p.value)}: ${errorMessage(err)}; sent for review`, { outcome: 'refused', ...(code ? { code } : {}) });
        this.review(rec, `${p.rationale} (Local apply refused: ${errorMessage(err)})`);
        this.open.set(key, { ref: target.ref, value: p.value, expiresAt: rec.expiresAt, outcome: 'refused', alarmed, ...(severity ? { severity } : {}) });
        return { recommendation: rec, outcome: 'refused', reason: errorMessage(err) };
      }
    }
    this.review(rec, p.rationale);
    this.open.set(key, { ref: target.ref, value: p.value, expiresAt: rec.expiresAt, outcome: 'review', alarmed, ...(severity ? { severity } : {}) });
    const reason = policy.allowLocal ? `confidence ${rec.confidence.toFixed(2)} < ${policy.threshold}` : `class "${actionClass}" is not allowed to act locally`;
    this.log.info({ strategy: instance.name, action, confidence: rec.confidence, reason }, 'recommendation sent for review');
    return { recommendation: rec, outcome: 'review', reason };
  }

  private review(rec: Recommendation, rationale: string): void {
    const request: ReviewRequest = {
      v: 1,
      id: rec.id,
      gateway: this.options.gateway.id,
      ts: rec.createdAt,
      expiresAt: rec.expiresAt,
      actionClass: rec.actionClass,
      action: rec.action,
      confidence: rec.confidence,
      rationale: clip(rationale, 4000),
      evidence: rec.evidence,
    };
    try {
      this.options.reporter.review(request);
    } catch (err) {
      this.log.error({ err: errorMessage(err), review: rec.id }, 'reporter failed to take a review request');
    }
  }

  private event(severity: 'info' | 'warning', rec: Recommendation, message: string, extra: Record<string, unknown>): void {
    const a = rec.action;
    safeReport(this.options.reporter, this.log, makeEvent(this.options.gateway.id, {
      kind: 'local-action',
      severity,
      ...(a.kind === 'write' ? { device: a.device, point: a.point } : {}),
      message,
      data: { origin: `advisor:${rec.strategy}`, recommendation: rec.id, actionClass: rec.actionClass, confidence: rec.confidence, rationale: rec.rationale, evidence: rec.evidence, ...extra },
    }));
  }

  private context(instance: StrategyInstance, now: number): StrategyContext {
    const gw = this.options.gateway;
    const reading = (role: string): Reading | undefined => {
      const b = instance.bindings.get(role);
      return b ? gw.latest(b.device, b.point) : undefined;
    };
    const get = (role: string): Observation | undefined => {
      const r = reading(role);
      if (!r || r.quality === 'bad' || r.value === null) return undefined;
      return { value: r.value, quality: r.quality, ts: r.ts, ageS: Math.max(0, (now - r.ts) / 1000) };
    };
    return {
      now,
      bound: (role) => instance.bindings.has(role),
      get,
      number: (role) => {
        const v = get(role)?.value;
        return typeof v === 'number' ? v : undefined;
      },
      boolean: (role) => {
        const v = get(role)?.value;
        return typeof v === 'boolean' ? v : typeof v === 'number' ? v !== 0 : undefined;
      },
      quality: (role) => {
        const o = get(role);
        return !o ? 0 : o.quality === 'good' ? 1 : 0.6;
      },
      changedS: (role) => {
        const b = instance.bindings.get(role);
        const h = b ? this.held.get(b.ref) : undefined;
        const r = reading(role);
        if (!h || !h.changed || !r || r.value === null || h.value !== r.value) return undefined;
        return Math.max(0, (now - h.since) / 1000);
      },
      heldBelowS: (role, level) => {
        const b = instance.bindings.get(role);
        const r = reading(role);
        if (!b || !r || r.quality === 'bad' || typeof r.value !== 'number') return undefined;
        return heldBelowS(this.history.get(b.ref), { ts: r.ts, value: r.value }, level, now);
      },
      heldS: (role) => {
        const b = instance.bindings.get(role);
        const r = reading(role);
        if (!b || !r || r.value === null) return undefined;
        const h = this.held.get(b.ref);
        const since = h && h.value === r.value ? h.since : r.ts;
        return Math.max(0, (now - since) / 1000);
      },
      trendPerHour: (role, windowS) => {
        const b = instance.bindings.get(role);
        return b ? slopePerHour(this.history.get(b.ref), now, windowS) : undefined;
      },
      anomaly: (role): AnomalyEvidence | undefined => {
        const b = instance.bindings.get(role);
        const s = b ? this.options.anomaly?.status(b.device, b.point) : undefined;
        if (!b || !s) return undefined;
        const model = this.options.anomaly?.modelInfo(b.device, b.point);
        // A point still in its learning period (learningHours) weighs nothing: the monitor raises
        // no event for it and rules see no score (AnomalyMonitor.score), and its first defrost or
        // start-up must not count as an anomaly at full weight. Its evidence says so (score 0,
        // learning: true) and keeps the model's state for the reviewer.
        if (s.learning === true) return { score: 0, learning: true, ...(model ?? {}) };
        return { score: s.score, detectorScore: s.detectorScore, outOfRange: s.outOfRange, flatline: s.flatline, ...(model ?? {}) };
      },
      param: (name) => instance.params[name] ?? 0,
      num: (name) => {
        const v = instance.params[name];
        return typeof v === 'number' ? v : Number(v);
      },
    };
  }
}

function sameValue(a: PointValue | null, b: PointValue): boolean {
  if (typeof a === 'number' && typeof b === 'number') return Math.abs(a - b) <= 1e-3 * Math.max(1, Math.abs(b));
  if (typeof b === 'boolean' && typeof a === 'number') return (a !== 0) === b;
  return a === b;
}

/** Seconds the readings have been at or below `level`: since the first one after the last one above it. */
export function heldBelowS(h: { ts: readonly number[]; v: readonly number[] } | undefined, latest: { ts: number; value: number }, level: number, now: number): number {
  if (latest.value > level) return 0;
  let since = latest.ts;
  for (let i = (h?.ts.length ?? 0) - 1; i >= 0; i--) {
    if ((h?.v[i] ?? Infinity) > level) break;
    since = Math.min(since, h?.ts[i] ?? since);
  }
  return Math.max(0, (now - since) / 1000);
}

/** Least-squares slope (units per hour) over the window ending at `now`; needs half a window of data. */
export function slopePerHour(h: { ts: readonly number[]; v: readonly number[] } | undefined, now: number, windowS: number): number | undefined {
  if (!h) return undefined;
  const from = now - windowS * 1000;
  let n = 0;
  let st = 0;
  let sv = 0;
  let first = Infinity;
  let last = -Infinity;
  for (let i = 0; i < h.ts.length; i++) {
    const t = h.ts[i] ?? 0;
    if (t < from) continue;
    n++;
    st += t;
    sv += h.v[i] ?? 0;
    first = Math.min(first, t);
    last = Math.max(last, t);
  }
  if (n < 3 || last - first < windowS * 500) return undefined;
  const mt = st / n;
  const mv = sv / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < h.ts.length; i++) {
    const t = h.ts[i] ?? 0;
    if (t < from) continue;
    num += (t - mt) * ((h.v[i] ?? 0) - mv);
    den += (t - mt) * (t - mt);
  }
  return den > 0 ? (num / den) * 3_600_000 : undefined;
}
