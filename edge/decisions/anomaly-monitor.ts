/**
 * Runs the anomaly detector per configured point on the gateway's samples and turns scores into
 * one `anomaly` event per incident. Next to the detector's score (forecast error and pattern
 * novelty, edge/analytics) two plain checks cover what a forecaster adapts to instead of
 * flagging: a value far outside its learned operating range (slow drifts, a freezer warming
 * steadily) and a value stuck far longer than it ever was (a frozen sensor).
 *
 * Polling never waits for analytics: samples are queued per point and scored in the background
 * (training is the detector's own background job). Learned state is saved under
 * <dataDir>/models/<device>/<point>/ periodically and on stop, and reloaded on start.
 *
 * Fleet learning (analytics.fleetLearning, driven by edge/federation/fleet-priors.ts): a point with
 * no saved state of its own may start from a fleet prior (adoptPrior); its detector score then
 * raises events as soon as the detector scores, while the range and stuck-value checks still
 * learn this unit for learningHours. A point's own learning is offered back (sharePriors).
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { errorMessage } from '../../shared/kit/errors.js';
import { currentBackend, detectorFromPrior, exportPrior, loadDetector, PointDetector, selectBackend, type DetectorOptionsInput } from '../analytics/index.js';
import type { DetectorPrior } from '../../shared/wire/detector-prior.js';
import type { AnalyticsConfig, AnalyticsPointConfig } from '../analytics/schema.js';
import type { Reading } from '../drivers/driver.js';
import type { GatewayPort } from '../runtime/ports.js';
import { makeEvent, safeReport, type Reporter } from './rules/reporter.js';
import { splitRef } from './rules/schema.js';

export interface AnomalyMonitorOptions {
  readonly gateway: Pick<GatewayPort, 'id' | 'log' | 'onSample' | 'latest'>;
  readonly config: AnalyticsConfig;
  readonly reporter: Reporter;
  /** Models go to <dataDir>/models. */
  readonly dataDir: string;
  readonly now?: () => number;
  readonly log?: Logger;
}

export interface AnomalyStatus {
  readonly point: string;
  /** What rules and the advisor read: max of the detector score and the two checks (1 when tripped). */
  readonly score: number;
  readonly detectorScore: number;
  readonly outOfRange: boolean;
  readonly flatline: boolean;
  /** An incident is open (event raised, score not yet back below clearBelow). */
  readonly active: boolean;
  /** Still inside the learning period: scores are computed, no events are raised. */
  readonly learning: boolean;
  readonly readings: number;
  readonly hasModel: boolean;
  /** The detector's own phase ('scoring': its scores mean something). */
  readonly phase: 'learning' | 'scoring';
  /** The fleet prior the detector started from ('<key>@<version>'), when it did. */
  readonly prior?: string;
  readonly range?: readonly [number, number];
  readonly value?: number;
  readonly lastTs?: number;
  readonly dropped: number;
}

interface Sample {
  readonly ts: number;
  readonly value: number;
}

/** The monitor's own learned state next to detector.json. */
interface Sidecar {
  v: 1;
  firstTs?: number;
  lastTs?: number;
  lastValue?: number;
  run: number;
  longestRun: number;
  /** Samples and value changes seen outside stuck periods (how lively the signal is). */
  samples: number;
  changes: number;
  env: number[];
  /** [ts, value, 1 = do not learn] waiting ENVELOPE_LAG_MS before joining env. */
  pending: [number, number, number][];
  excursion: number;
  lastEventAt: number;
  active: boolean;
  /** The fleet prior the detector started from ('<key>@<version>'), when it did. */
  prior?: string;
  /** When this point's prior was last offered to the fleet (ms). */
  sharedAt?: number;
}

/** A point's prior, ready to share. */
export interface SharedPrior {
  readonly ref: string;
  readonly device: string;
  readonly point: string;
  readonly prior: DetectorPrior;
}

interface PointState {
  readonly ref: string;
  readonly device: string;
  readonly point: string;
  readonly dir: string;
  readonly cfg: AnalyticsPointConfig;
  readonly threshold: number;
  readonly input: DetectorOptionsInput;
  /** The detector came from a state saved on this gateway: it is never replaced by a fleet prior. */
  readonly own: boolean;
  detector: PointDetector;
  side: Sidecar;
  queue: Sample[];
  draining: boolean;
  chain: Promise<unknown>;
  dropped: number;
  lastQueuedTs: number;
  detectorScore: number;
  outOfRange: boolean;
  flatline: boolean;
  below: number;
  timer?: NodeJS.Timeout;
  /** Its detector's 'scoring' was announced (onScoring). */
  announced: boolean;
}

const MAX_QUEUE = 5000;
const SLICE_MS = 10;
/** Samples in a row the score must stay under clearBelow to close an incident. */
const CLEAR_SAMPLES = 5;
/** Samples in a row outside the range before it counts (one odd reading is the detector's job). */
const RANGE_CONFIRM = 3;
const SIDECAR = 'monitor.json';
const ENVELOPE_LAG_MS = 6 * 3_600_000;
/** Share of samples that differ from the previous one for the stuck check to apply. */
const LIVELY = 0.9;

export class AnomalyMonitor {
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly points = new Map<string, PointState>();
  private readonly scoringListeners = new Set<(ref: string) => void>();
  private unsubscribe?: () => void;
  private saveTimer?: NodeJS.Timeout;
  private saving?: Promise<void>;
  private stopped = false;
  private isShedding = false;

  private constructor(private readonly options: AnomalyMonitorOptions) {
    this.log = (options.log ?? options.gateway.log).child({ component: 'anomaly-monitor' });
    this.now = options.now ?? Date.now;
  }

  /** Loads saved models, selects the TensorFlow.js backend, subscribes to samples and starts the timers. */
  static async start(options: AnomalyMonitorOptions): Promise<AnomalyMonitor> {
    const m = new AnomalyMonitor(options);
    await m.load();
    let backend: string | undefined;
    try {
      backend = await selectBackend();
    } catch (err) {
      m.log.error({ err: errorMessage(err) }, 'no TensorFlow.js backend: scoring continues with the statistical detector only');
    }
    m.unsubscribe = options.gateway.onSample((r) => m.onSample(r));
    for (const p of m.points.values()) {
      if (p.cfg.intervalMs === undefined) continue;
      p.timer = setInterval(() => m.sampleLatest(p), p.cfg.intervalMs);
      p.timer.unref();
    }
    m.saveTimer = setInterval(() => void m.save(), (options.config.saveEveryS ?? 600) * 1000);
    m.saveTimer.unref();
    m.log.info({ backend, points: [...m.points.keys()], threshold: options.config.threshold ?? 0.9 }, 'anomaly monitor started');
    return m;
  }

  private get modelsDir(): string {
    return join(this.options.dataDir, 'models');
  }

  private async load(): Promise<void> {
    const c = this.options.config;
    const d = c.detector ?? {};
    for (const cfg of c.points) {
      const { device, point } = splitRef(cfg.point);
      const threshold = cfg.threshold ?? c.threshold ?? 0.9;
      const dir = join(this.modelsDir, device, point);
      // The detector damps its scores after an alert; aligning its alert level with our threshold
      // keeps one incident to one crossing.
      const { epochs, ...budget } = d;
      const input: DetectorOptionsInput = { ...budget, alertLevel: threshold, ...(epochs !== undefined ? { forecaster: { epochs } } : {}) };
      let detector: PointDetector | undefined;
      let side: Sidecar = { v: 1, run: 0, longestRun: 0, samples: 0, changes: 0, env: [], pending: [], excursion: 0, lastEventAt: -Infinity, active: false };
      if (existsSync(join(dir, 'detector.json'))) {
        try {
          detector = await loadDetector(dir, cfg.point, this.log);
          side = { ...side, ...(JSON.parse(await readFile(join(dir, SIDECAR), 'utf8').catch(() => '{}')) as Partial<Sidecar>) };
          side.lastEventAt ??= -Infinity;
          this.log.info({ point: cfg.point, readings: detector.readings, hasModel: detector.hasModel }, 'anomaly model loaded');
        } catch (err) {
          this.log.warn({ point: cfg.point, err: errorMessage(err) }, 'saved anomaly model unreadable; learning from scratch');
          detector = undefined;
        }
      }
      const fresh = { announced: false, queue: [], draining: false, chain: Promise.resolve(), dropped: 0, detectorScore: 0, outOfRange: false, flatline: false, below: 0 };
      const state = { ref: cfg.point, device, point, dir, cfg, threshold, input, own: detector !== undefined, side, lastQueuedTs: side.lastTs ?? -Infinity };
      this.points.set(cfg.point, { ...state, ...fresh, detector: detector ?? new PointDetector(input, cfg.point) });
    }
  }

  /** Combined score of a monitored point (undefined when not monitored or not scored yet). */
  score(device: string, point: string): number | undefined {
    const p = this.points.get(`${device}/${point}`);
    if (!p || p.side.lastTs === undefined) return undefined;
    return combined(p);
  }

  status(device: string, point: string): AnomalyStatus | undefined {
    const p = this.points.get(`${device}/${point}`);
    if (!p) return undefined;
    const range = envelope(p.side.env);
    return {
      point: p.ref,
      score: combined(p),
      detectorScore: p.detectorScore,
      outOfRange: p.outOfRange,
      flatline: p.flatline,
      active: p.side.active,
      learning: !this.armed(p, p.side.lastTs ?? this.now()) && !this.detectorArmed(p),
      readings: p.detector.readings,
      hasModel: p.detector.hasModel,
      phase: p.detector.phase,
      ...(p.side.prior !== undefined ? { prior: p.side.prior } : {}),
      ...(range ? { range } : {}),
      ...(p.side.lastValue !== undefined ? { value: p.side.lastValue } : {}),
      ...(p.side.lastTs !== undefined ? { lastTs: p.side.lastTs } : {}),
      dropped: p.dropped,
    };
  }

  /** Backend name and detector state, for evidence in recommendations and metrics. */
  modelInfo(device: string, point: string): { backend?: string; readings: number; hasModel: boolean } | undefined {
    const p = this.points.get(`${device}/${point}`);
    if (!p) return undefined;
    const backend = currentBackend();
    return { ...(backend ? { backend } : {}), readings: p.detector.readings, hasModel: p.detector.hasModel };
  }

  get monitored(): string[] {
    return [...this.points.keys()];
  }

  private onSample(r: Reading): void {
    const p = this.points.get(`${r.device}/${r.point}`);
    if (p && p.cfg.intervalMs === undefined) this.ingest(r);
  }

  private sampleLatest(p: PointState): void {
    const r = this.options.gateway.latest(p.device, p.point);
    if (r) this.ingest({ ...r, ts: this.now() });
  }

  /**
   * The sample path (gateway samples and the interval sampler both end here; replays may call it
   * directly). Good numeric readings in time order are queued; the rest is ignored.
   */
  ingest(r: Reading): void {
    const p = this.points.get(`${r.device}/${r.point}`);
    if (!p || this.stopped || this.isShedding || r.quality !== 'good' || typeof r.value !== 'number' || !Number.isFinite(r.value)) return;
    if (r.ts <= p.lastQueuedTs) return;
    p.lastQueuedTs = r.ts;
    p.queue.push({ ts: r.ts, value: r.value });
    if (p.queue.length > MAX_QUEUE) {
      p.queue.shift();
      if (p.dropped++ % 1000 === 0) this.log.warn({ point: p.ref, dropped: p.dropped }, 'anomaly scoring falls behind; oldest samples dropped');
    }
    if (!p.draining) void this.drain(p);
  }

  /**
   * Load shedding (the health agent, when memory or the event loop are short): while on, samples
   * are not scored and models do not learn; scores and models are kept and go on afterwards.
   */
  shed(on: boolean): void {
    if (on === this.isShedding) return;
    this.isShedding = on;
    this.log.warn({ shedding: on }, on ? 'anomaly scoring paused to shed load' : 'anomaly scoring resumed');
  }

  get shedding(): boolean {
    return this.isShedding;
  }

  /** Resolves when every queued sample has been scored. */
  async idle(): Promise<void> {
    for (;;) {
      const busy = [...this.points.values()].filter((p) => p.draining || p.queue.length > 0);
      if (busy.length === 0) return;
      await Promise.all(busy.map((p) => p.chain));
      await new Promise((r) => setImmediate(r));
    }
  }

  private serial<T>(p: PointState, fn: () => Promise<T>): Promise<T> {
    const next = p.chain.then(fn, fn);
    p.chain = next.catch(() => undefined);
    return next;
  }

  private async drain(p: PointState): Promise<void> {
    p.draining = true;
    let slice = Date.now();
    try {
      while (p.queue.length > 0) {
        // A backlog is scored in slices so timers (device polls) keep running in between.
        if (Date.now() - slice > SLICE_MS) {
          await new Promise((r) => setImmediate(r));
          slice = Date.now();
        }
        const s = p.queue.shift();
        if (!s) break;
        await this.serial(p, () => this.process(p, s)).catch((err: unknown) => this.log.error({ point: p.ref, err: errorMessage(err) }, 'anomaly scoring failed'));
      }
    } finally {
      p.draining = false;
    }
  }

  private armed(p: PointState, ts: number): boolean {
    const first = p.side.firstTs;
    return first !== undefined && ts - first >= (this.options.config.learningHours ?? 24) * 3_600_000;
  }

  /** A detector started from a fleet prior may raise events once it scores (the prior did its learning). */
  private detectorArmed(p: PointState): boolean {
    return p.side.prior !== undefined && p.detector.phase === 'scoring';
  }

  /**
   * Points still waiting for a fleet prior: no saved state of their own, not started from a prior,
   * still learning.
   */
  waitingForPrior(): string[] {
    return [...this.points.values()].filter((p) => !p.own && p.side.prior === undefined && p.detector.phase === 'learning').map((p) => p.ref);
  }

  /**
   * Starts `ref`'s detector from a fleet prior (`origin` names it: '<key>@<version>'), then it learns
   * its own. False (and nothing changes) when the point is no longer waiting, the prior does not
   * fit its detector (the error is logged with the field), or it learned from readings at another
   * rate than this point's (more than twice as far apart, or half: its lags, daily lag and shapes
   * are counted in readings).
   */
  async adoptPrior(ref: string, prior: DetectorPrior, origin: string): Promise<boolean> {
    const p = this.points.get(ref);
    if (!p || this.stopped) return false;
    return this.serial(p, async () => {
      if (p.own || p.side.prior !== undefined || p.detector.phase !== 'learning') return false;
      const mine = p.cfg.intervalMs ?? p.detector.intervalMs;
      if (prior.intervalMs !== undefined && mine !== undefined && (mine > 2 * prior.intervalMs || 2 * mine < prior.intervalMs)) {
        this.log.warn({ point: p.ref, prior: origin, priorIntervalS: prior.intervalMs / 1000, intervalS: mine / 1000 }, 'fleet prior learned at another reading rate than this point; learning from scratch');
        return false;
      }
      let detector: PointDetector;
      try {
        detector = detectorFromPrior(prior, p.input, p.ref);
      } catch (err) {
        this.log.warn({ point: p.ref, prior: origin, err: errorMessage(err) }, 'fleet prior does not fit this detector; learning from scratch');
        return false;
      }
      const dropped = p.detector.readings;
      p.detector = detector;
      p.side.prior = origin;
      this.log.info({ point: p.ref, prior: origin, readingsReplaced: dropped }, 'detector starts from the fleet prior');
      return true;
    });
  }

  /**
   * The priors of points whose detector scores with a forecaster it trained on this unit's
   * readings and that were not offered within `everyMs` (markShared says when one was). Not
   * before: a detector that learned alone reaches 'scoring' a few readings before its first
   * forecaster is adopted, and a prior without one would be served to every newcomer until the
   * next share, hours later; one started from a fleet prior would hand the fleet its own prior
   * back, and echoes of one prior would make the fleet look more alike than its units are. So a
   * point started from a prior also waits until its calibrations have seen as many of its own
   * readings as they keep (likelihood.historySize): what it offers is then its own but for the
   * operating range, which keeps the prior's.
   */
  async sharePriors(now: number, everyMs: number): Promise<SharedPrior[]> {
    const out: SharedPrior[] = [];
    for (const p of this.points.values()) {
      if (this.stopped || this.isShedding) break;
      const d = p.detector;
      if (d.phase !== 'scoring' || !d.hasOwnModel) continue;
      if (p.side.prior !== undefined && d.readings < d.options.likelihood.historySize) continue;
      if (p.side.sharedAt !== undefined && now - p.side.sharedAt < everyMs) continue;
      const prior = await this.serial(p, () => exportPrior(p.detector, now)).catch((err: unknown) => {
        this.log.warn({ point: p.ref, err: errorMessage(err) }, 'could not export the detector prior');
        return undefined;
      });
      if (!prior) continue;
      out.push({ ref: p.ref, device: p.device, point: p.point, prior });
    }
    return out;
  }

  /** `ref`'s prior went to the fleet at `now`: the next is due everyMs later. */
  markShared(ref: string, now: number): void {
    const p = this.points.get(ref);
    if (p) p.side.sharedAt = now;
  }

  /** Called once per point (and start) when its detector reaches 'scoring'. */
  onScoring(listener: (ref: string) => void): () => void {
    this.scoringListeners.add(listener);
    return () => this.scoringListeners.delete(listener);
  }

  private async process(p: PointState, s: Sample): Promise<void> {
    const c = this.options.config;
    p.detectorScore = await p.detector.score(s.ts, s.value);
    if (!p.announced && p.detector.phase === 'scoring') {
      p.announced = true;
      for (const l of this.scoringListeners) l(p.ref);
    }
    const side = p.side;
    side.firstTs ??= s.ts;
    const armed = this.armed(p, s.ts);

    // Stuck: identical samples far beyond the longest identical run seen while learning.
    // Only for signals that practically always move (a live sensor's noise): a value held exactly
    // at a setpoint, or a contact, may legitimately sit still for hours.
    const changed = s.value !== side.lastValue;
    if (!p.flatline) {
      side.samples++;
      if (changed) side.changes++;
    }
    if (!changed) side.run++;
    else {
      if (!p.flatline) side.longestRun = Math.max(side.longestRun, side.run);
      side.run = 1;
    }
    // While learning, a run still going on is normal behaviour too.
    if (!armed) side.longestRun = Math.max(side.longestRun, side.run);
    const lively = side.samples > 0 && side.changes / side.samples >= LIVELY;
    const stuckAfter = Math.max(c.flatlineMinSamples ?? 20, (c.flatlineFactor ?? 3) * side.longestRun);
    p.flatline = armed && lively && p.cfg.flatline !== false && side.run >= stuckAfter;

    // Out of range: beyond the learned min/max by a share of the learned span, a few samples in a row.
    const capacity = p.detector.options.maxHistory;
    const range = envelope(side.env);
    let excess = 0;
    if (range) {
      const span = Math.max(range[1] - range[0], 1e-6 * Math.max(1, Math.abs(range[1])));
      excess = s.value > range[1] ? (s.value - range[1]) / span : s.value < range[0] ? (range[0] - s.value) / span : 0;
    }
    const beyond = excess >= (c.envelopeMargin ?? 0.5);
    side.excursion = beyond ? side.excursion + 1 : 0;
    // Values join the learned range only hours later: a slow rise must not drag the range along
    // with it. A level that persists for a quarter of the history becomes the new normal.
    side.pending.push([s.ts, s.value, beyond && side.excursion <= capacity / 4 ? 1 : 0]);
    let mature = 0;
    while (mature < side.pending.length && (side.pending[mature]?.[0] ?? Infinity) <= s.ts - ENVELOPE_LAG_MS) mature++;
    for (const [, v, skip] of side.pending.splice(0, mature)) if (!skip) side.env.push(v);
    if (side.env.length > capacity * 1.25) side.env.splice(0, side.env.length - capacity);
    p.outOfRange = armed && p.cfg.envelope !== false && side.excursion >= RANGE_CONFIRM;
    side.lastValue = s.value;
    side.lastTs = s.ts;

    // Before learningHours the range and stuck checks are off (armed), so only a detector started
    // from a fleet prior can raise an event.
    const detArmed = armed || this.detectorArmed(p);
    const score = combined(p);
    if (side.active) {
      // Closed only once the score is low AND the value is back inside its learned range: a freezer
      // still warming (or a sensor still drifting) is the same incident, even after the detector
      // has calmed down.
      // And only once the detector's own incident is over (its score recovered for a while): a
      // fault it reported early, while the value was still inside its range (a drift's first
      // steps, a ramp more erratic than anything before), is the same incident when the value
      // leaves the range later, not a second event as soon as the cool-down has passed.
      p.below = score < (c.clearBelow ?? 0.3) && excess === 0 && !p.detector.inIncident ? p.below + 1 : 0;
      if (p.below >= CLEAR_SAMPLES) {
        side.active = false;
        this.log.info({ point: p.ref, value: s.value }, 'anomaly cleared');
      }
      return;
    }
    if (!detArmed || score < p.threshold || s.ts - side.lastEventAt < (c.cooldownS ?? 3600) * 1000) return;
    side.active = true;
    side.lastEventAt = s.ts;
    p.below = 0;
    this.raise(p, s, score, range, excess);
  }

  private raise(p: PointState, s: Sample, score: number, range: readonly [number, number] | undefined, excess: number): void {
    const reasons: string[] = [];
    const parts: string[] = [];
    const fmt = (v: number): string => String(Number(v.toPrecision(4)));
    if (p.outOfRange && range) {
      reasons.push('range');
      parts.push(`${fmt(s.value)} is outside its learned range [${fmt(range[0])}, ${fmt(range[1])}]`);
    }
    if (p.flatline) {
      reasons.push('flatline');
      parts.push(`value ${fmt(s.value)} unchanged for ${p.side.run} samples (longest normal run ${p.side.longestRun}): sensor stuck?`);
    }
    if (p.detectorScore >= p.threshold) {
      reasons.push('detector');
      parts.push(`unusual behaviour (detector score ${p.detectorScore.toFixed(2)}, value ${fmt(s.value)}, expected about ${fmt(p.detector.detail.prediction)})`);
    }
    const backend = currentBackend();
    const event = makeEvent(this.options.gateway.id, {
      kind: 'anomaly',
      severity: 'warning',
      device: p.device,
      point: p.point,
      ts: s.ts,
      message: `anomaly on ${p.ref}: ${parts.join('; ')}`,
      data: {
        score,
        detectorScore: p.detectorScore,
        threshold: p.threshold,
        reasons,
        value: s.value,
        ...(range ? { learnedRange: [range[0], range[1]], rangeExcess: excess } : {}),
        unchangedSamples: p.side.run,
        model: { ...(backend ? { backend } : {}), readings: p.detector.readings, hasModel: p.detector.hasModel },
      },
    });
    this.log.warn({ point: p.ref, score, reasons }, event.message);
    safeReport(this.options.reporter, this.log, event);
  }

  /** Persists every point's detector and monitor state (serialised with its scoring). */
  save(): Promise<void> {
    this.saving ??= (async () => {
      for (const p of this.points.values()) {
        if (p.detector.readings === 0) continue;
        await this.serial(p, async () => {
          await p.detector.save(p.dir);
          await mkdir(p.dir, { recursive: true });
          const file = join(p.dir, SIDECAR);
          const tmp = `${file}.${process.pid}.tmp`;
          await writeFile(tmp, JSON.stringify({ ...p.side, lastEventAt: Number.isFinite(p.side.lastEventAt) ? p.side.lastEventAt : null }));
          await rename(tmp, file);
        }).catch((err: unknown) => this.log.error({ point: p.ref, err: errorMessage(err) }, 'saving the anomaly model failed'));
      }
    })().finally(() => {
      this.saving = undefined;
    });
    return this.saving;
  }

  /** Stops sampling, scores what is queued, saves the models. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.unsubscribe?.();
    for (const p of this.points.values()) clearInterval(p.timer);
    clearInterval(this.saveTimer);
    await this.idle();
    this.stopped = true;
    await this.saving;
    await this.save();
    this.log.info({ points: this.points.size }, 'anomaly monitor stopped, models saved');
  }
}

function combined(p: PointState): number {
  return Math.max(p.detectorScore, p.outOfRange || p.flatline ? 1 : 0);
}

function envelope(values: readonly number[]): readonly [number, number] | undefined {
  // Too few values say nothing about the normal range.
  if (values.length < 50) return undefined;
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}
