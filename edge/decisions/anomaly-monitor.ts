/**
 * Runs the anomaly detector per configured point on the gateway's samples and turns scores into
 * one `anomaly` event per incident. Next to the detector's score (forecast error and pattern
 * novelty, edge/analytics) two plain checks cover what a forecaster adapts to instead of
 * flagging: a value far outside its learned operating range (slow drifts, a freezer warming
 * steadily) and a value stuck far longer than it ever was (a frozen sensor).
 *
 * Polling never waits for analytics: samples are queued per point and scored in the background
 * (training is the detector's own background job). Learned state is saved under
 * <dataDir>/models/<device>/<point>/ periodically and on stop (each file flushed to the disk),
 * and reloaded on start: detector.json and monitor.json each on its own, and the config's
 * threshold, retrainEvery, epochs and maxHistory applied over a saved detector's.
 *
 * learningHours and the 6 h before a value joins the learned range are counted in observed time
 * (the gaps between a point's readings, a clock step or a stop counting as one interval), not on
 * the wall clock the readings are stamped with; a point still learning has no score() for rules.
 *
 * Fleet learning (analytics.fleetLearning, driven by edge/federation/fleet-priors.ts): a point with
 * no saved state of its own may start from a fleet prior (adoptPrior); its detector score then
 * raises events as soon as the detector scores, while the range and stuck-value checks still
 * learn this unit for learningHours. A point's own learning is offered back (sharePriors).
 */
import { mkdir, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurably } from '../../shared/kit/durable-file.js';
import type { Logger } from 'pino';
import { errorMessage } from '../../shared/kit/errors.js';
import { currentBackend, detectorFromPrior, exportPrior, loadDetector, PointDetector, resolveOptions, selectBackend, type DetectorOptionsInput } from '../analytics/index.js';
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

/**
 * The monitor's own learned state next to detector.json (monitor.json). Version 2 counts learning
 * time and the envelope delay in `observed` time, not wall time (see advance()); a version 1 file
 * is converted on load (readSidecar).
 */
interface Sidecar {
  v: 2;
  /** Reading timestamps (wall clock): for the record and the order of readings, not for durations. */
  firstTs?: number;
  lastTs?: number;
  lastValue?: number;
  /**
   * Time this point has been observed (ms): the gaps between its readings added up, each at most
   * STEP_FACTOR typical intervals (a longer one, or one going back in time, counts as one typical
   * interval). Monotonic: an NTP step of the wall clock, or a gateway off for a week, does not
   * move it. learningHours and the envelope delay are measured on it.
   */
  observed: number;
  /** The last positive gaps between readings (ms), newest last: their median is the typical interval. */
  gaps: number[];
  run: number;
  longestRun: number;
  /** Samples and value changes seen outside stuck periods (how lively the signal is). */
  samples: number;
  changes: number;
  env: number[];
  /**
   * Values waiting ENVELOPE_LAG_MS of observed time before joining env, one bucket per
   * PENDING_BUCKET_MS of observed time: [observed ms of its newest value, min, max, count]. Bounded
   * whatever the sample rate: at most ENVELOPE_LAG_MS / PENDING_BUCKET_MS + 1 buckets (361).
   * Values that must not be learned (an excursion) never enter it.
   */
  pending: [number, number, number, number][];
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
const DETECTOR = 'detector.json';
/** Observed time (Sidecar.observed) a value waits before it joins the learned range. */
const ENVELOPE_LAG_MS = 6 * 3_600_000;
/** Width of one bucket of values waiting to join the learned range (observed time). */
const PENDING_BUCKET_MS = 60_000;
/** A gap between readings longer than this many typical intervals counts as one interval (clock step, outage). */
const STEP_FACTOR = 10;
/** Gaps kept for the typical interval, and how many it needs before it judges a gap. */
const GAPS_KEPT = 9;
const GAPS_NEEDED = 3;
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
      let side = newSidecar();
      // The two files are read on their own: a damaged monitor.json (a power cut while it was
      // written) must not throw away an intact detector, which the next save would then overwrite.
      if (existsSync(join(dir, DETECTOR))) {
        try {
          detector = await loadDetector(dir, cfg.point, this.log);
          this.log.info({ point: cfg.point, readings: detector.readings, hasModel: detector.hasModel }, 'anomaly model loaded');
        } catch (err) {
          this.log.warn({ point: cfg.point, file: join(dir, DETECTOR), err: errorMessage(err) }, 'saved anomaly detector unreadable; the detector learns from scratch');
          detector = undefined;
        }
        side = await this.readSidecar(cfg.point, dir, detector !== undefined);
        // The fleet prior named in the sidecar belongs to the detector that was lost.
        if (!detector) {
          delete side.prior;
          delete side.sharedAt;
        }
      }
      if (detector) await this.applyConfiguredOptions(cfg.point, detector, input, side);
      const fresh = { announced: false, queue: [], draining: false, chain: Promise.resolve(), dropped: 0, detectorScore: 0, outOfRange: false, flatline: false, below: 0 };
      const state = { ref: cfg.point, device, point, dir, cfg, threshold, input, own: detector !== undefined, side, lastQueuedTs: side.lastTs ?? -Infinity };
      this.points.set(cfg.point, { ...state, ...fresh, detector: detector ?? new PointDetector(input, cfg.point) });
    }
  }

  /**
   * monitor.json of `point` (a fresh one when missing); a file that cannot be read, parsed or
   * converted is logged with its path and replaced by a fresh one: the range and stuck-value checks
   * learn again (learningHours), the detector is kept.
   */
  private async readSidecar(point: string, dir: string, detectorKept: boolean): Promise<Sidecar> {
    const file = join(dir, SIDECAR);
    if (!existsSync(file)) return newSidecar();
    try {
      return parseSidecar(JSON.parse(await readFile(file, 'utf8')) as unknown);
    } catch (err) {
      this.log.warn(
        { point, file, err: errorMessage(err) },
        detectorKept ? 'saved monitor state unreadable; the saved detector is kept, the range and stuck-value checks learn again' : 'saved monitor state unreadable; the range and stuck-value checks learn again',
      );
      return newSidecar();
    }
  }

  /**
   * A saved detector keeps the options it was saved with; the config's are applied over them
   * where that is safe on a learned state: the alert level (the threshold), the forecaster's
   * epochs, retrainEvery, and maxHistory (the kept history is trimmed to the newest readings).
   * warmup and minTrain are kept as saved (they shape a detector's first readings; a larger
   * warm-up would send a scoring detector back to learning): a difference is logged.
   */
  private async applyConfiguredOptions(point: string, detector: PointDetector, input: DetectorOptionsInput, side: Sidecar): Promise<void> {
    const want = resolveOptions(input);
    const saved = detector.options;
    const changes: { alertLevel?: number; retrainEvery?: number; maxHistory?: number; epochs?: number } = {};
    if (saved.alertLevel !== want.alertLevel) changes.alertLevel = want.alertLevel;
    if (saved.retrainEvery !== want.retrainEvery) changes.retrainEvery = want.retrainEvery;
    if (saved.maxHistory !== want.maxHistory) changes.maxHistory = want.maxHistory;
    if (saved.forecaster.epochs !== want.forecaster.epochs) changes.epochs = want.forecaster.epochs;
    const from = { alertLevel: saved.alertLevel, retrainEvery: saved.retrainEvery, maxHistory: saved.maxHistory, epochs: saved.forecaster.epochs };
    if (Object.keys(changes).length > 0) {
      try {
        await detector.reconfigure(changes);
        const changed = Object.fromEntries(Object.entries(changes).map(([k, v]) => [k, { saved: from[k as keyof typeof from], now: v }]));
        this.log.info({ point, changed }, 'saved anomaly detector continues with the configured options');
      } catch (err) {
        this.log.warn({ point, options: Object.keys(changes), err: errorMessage(err) }, 'could not apply the configured options to the saved anomaly detector; it keeps its saved ones');
      }
    }
    // A detector started from a fleet prior has a warm-up of its own (detectorFromPrior).
    const kept: Array<'warmup' | 'minTrain'> = side.prior === undefined ? ['warmup', 'minTrain'] : ['minTrain'];
    for (const option of kept) {
      if (saved[option] !== want[option]) {
        this.log.warn({ point, option, saved: saved[option], configured: want[option] }, 'analytics.detector option differs from the saved detector; the saved value is kept (it only matters while a detector starts learning)');
      }
    }
  }

  /**
   * Combined score of a monitored point; undefined when not monitored, not scored yet, or still
   * learning (status().learning: inside learningHours, unless its detector started from a fleet
   * prior and scores). What rules read: an `anomaly` condition ("score above X") is never true on
   * a point the monitor would not raise an event for, its first defrost or start-up included; the
   * metrics gauge shows no score either. status() keeps the score, with `learning`, for
   * diagnostics; the advisor takes no evidence from a learning point (advisor.ts).
   */
  score(device: string, point: string): number | undefined {
    const p = this.points.get(`${device}/${point}`);
    if (!p || p.side.lastTs === undefined || this.learning(p)) return undefined;
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
      learning: this.learning(p),
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
   * directly). Good numeric readings are queued; the rest is ignored, and so is a reading with the
   * same timestamp as the one before. A reading older than the one before is the wall clock
   * stepped back (NTP correcting a clock that ran ahead; the saved lastTs of a restart included):
   * it is logged and taken, and readings go on from the new time (dropping them would drop every
   * reading until the clock is back at the old time). Durations do not use these timestamps
   * (Sidecar.observed).
   */
  ingest(r: Reading): void {
    const p = this.points.get(`${r.device}/${r.point}`);
    if (!p || this.stopped || this.isShedding || r.quality !== 'good' || typeof r.value !== 'number' || !Number.isFinite(r.value)) return;
    if (r.ts === p.lastQueuedTs) return;
    if (r.ts < p.lastQueuedTs) {
      this.log.warn({ point: p.ref, backS: (p.lastQueuedTs - r.ts) / 1000, ts: new Date(r.ts).toISOString() }, 'reading older than the previous one (wall clock stepped back?): readings go on from the new time');
    }
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

  /** The point has been observed for learningHours (observed time: wall-clock steps do not count). */
  private armed(p: PointState): boolean {
    return p.side.firstTs !== undefined && p.side.observed >= (this.options.config.learningHours ?? 24) * 3_600_000;
  }

  /** Inside its learning period: no events, and no score for rules and the advisor (score()). */
  private learning(p: PointState): boolean {
    return !this.armed(p) && !this.detectorArmed(p);
  }

  /**
   * Adds the time since the previous reading to `observed`: the gap itself when it is positive and
   * at most STEP_FACTOR typical intervals (cfg.intervalMs, else the median of the last gaps), else
   * one typical interval (0 before one is known). A forward step of the wall clock (an RTC-less
   * gateway booted on an old clock, then corrected) and a stop of the gateway thus count as one
   * reading's worth, a backward step as well.
   */
  private advance(p: PointState, ts: number): void {
    const side = p.side;
    if (side.lastTs === undefined) return;
    const gap = ts - side.lastTs;
    const typical = p.cfg.intervalMs ?? (side.gaps.length >= GAPS_NEEDED ? median(side.gaps) : undefined);
    if (gap > 0) {
      side.gaps.push(gap);
      if (side.gaps.length > GAPS_KEPT) side.gaps.shift();
    }
    if (gap > 0 && (typical === undefined || gap <= STEP_FACTOR * typical)) {
      side.observed += gap;
      return;
    }
    side.observed += typical ?? 0;
    if (gap >= 3_600_000) {
      this.log.warn({ point: p.ref, gapS: gap / 1000, countedS: (typical ?? 0) / 1000 }, 'readings resume long after the previous one (wall clock stepped ahead, or no readings): counted as one interval of learning');
    }
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
    this.advance(p, s.ts);
    side.firstTs ??= s.ts;
    const armed = this.armed(p);

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
    if (!(beyond && side.excursion <= capacity / 4)) addPending(side.pending, side.observed, s.value);
    matureInto(side, side.observed - ENVELOPE_LAG_MS);
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
          // The detector writes its own files durably (writeFileDurably), before monitor.json.
          await p.detector.save(p.dir);
          await mkdir(p.dir, { recursive: true });
          await writeFileDurably(join(p.dir, SIDECAR), JSON.stringify({ ...p.side, lastEventAt: Number.isFinite(p.side.lastEventAt) ? p.side.lastEventAt : null }));
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

function newSidecar(): Sidecar {
  return { v: 2, observed: 0, gaps: [], run: 0, longestRun: 0, samples: 0, changes: 0, env: [], pending: [], excursion: 0, lastEventAt: -Infinity, active: false };
}

/** `value`, observed at `observed`, into the newest bucket when it is the same PENDING_BUCKET_MS, else a new one. */
function addPending(pending: Sidecar['pending'], observed: number, value: number): void {
  const last = pending[pending.length - 1];
  if (last && Math.floor(last[0] / PENDING_BUCKET_MS) === Math.floor(observed / PENDING_BUCKET_MS)) {
    last[0] = observed;
    if (value < last[1]) last[1] = value;
    if (value > last[2]) last[2] = value;
    last[3]++;
    return;
  }
  pending.push([observed, value, value, 1]);
}

/**
 * Buckets whose newest value was observed at or before `until` join env, each as many values as
 * it holds (its min, then its max for the rest): env keeps its meaning, the last `maxHistory`
 * learned values, and so its min and max.
 */
function matureInto(side: Sidecar, until: number): void {
  let n = 0;
  while (n < side.pending.length && (side.pending[n]?.[0] ?? Infinity) <= until) n++;
  for (const [, lo, hi, count] of side.pending.splice(0, n)) {
    side.env.push(lo);
    for (let i = 1; i < count; i++) side.env.push(hi);
  }
}

function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/**
 * A parsed monitor.json as a Sidecar; throws naming the field when it is not one. Version 1
 * (wall-clock durations, one pending entry per reading) is converted: its observed time is
 * lastTs − firstTs, as it counted, and its pending readings go into buckets at their age.
 */
function parseSidecar(raw: unknown): Sidecar {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('not a JSON object');
  const o = raw as Record<string, unknown>;
  const num = (k: string, dflt?: number): number => {
    const v = o[k];
    if (v === undefined && dflt !== undefined) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${k}: not a number`);
    return v;
  };
  const opt = (k: string): number | undefined => (o[k] === undefined || o[k] === null ? undefined : num(k));
  const numbers = (k: string): number[] => {
    const v = o[k] ?? [];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) throw new Error(`${k}: not a list of numbers`);
    return v as number[];
  };
  const tuples = (k: string, size: number): number[][] => {
    const v = o[k] ?? [];
    if (!Array.isArray(v) || !v.every((t) => Array.isArray(t) && t.length === size && t.every((x) => typeof x === 'number' && Number.isFinite(x)))) throw new Error(`${k}: not a list of ${size}-number entries`);
    return v as number[][];
  };
  const version = o.v ?? 1;
  if (version !== 1 && version !== 2) throw new Error(`v: unknown version ${String(version)}`);
  if (o.active !== undefined && typeof o.active !== 'boolean') throw new Error('active: not true or false');
  if (o.prior !== undefined && typeof o.prior !== 'string') throw new Error('prior: not a text');
  const firstTs = opt('firstTs');
  const lastTs = opt('lastTs');
  const lastValue = opt('lastValue');
  const lastEventAt = opt('lastEventAt') ?? -Infinity;
  const sharedAt = opt('sharedAt');
  let observed: number;
  let gaps: number[];
  const pending: Sidecar['pending'] = [];
  if (version === 2) {
    observed = num('observed');
    gaps = numbers('gaps').slice(-GAPS_KEPT);
    for (const [at = 0, lo = 0, hi = 0, count = 1] of tuples('pending', 4)) pending.push([at, lo, hi, Math.max(1, Math.round(count))]);
  } else {
    observed = firstTs !== undefined && lastTs !== undefined ? Math.max(0, lastTs - firstTs) : 0;
    gaps = [];
    for (const [ts = 0, value = 0, skip = 0] of tuples('pending', 3)) {
      if (skip) continue;
      addPending(pending, Math.min(observed, Math.max(0, observed - ((lastTs ?? ts) - ts))), value);
    }
  }
  return {
    v: 2,
    ...(firstTs !== undefined ? { firstTs } : {}),
    ...(lastTs !== undefined ? { lastTs } : {}),
    ...(lastValue !== undefined ? { lastValue } : {}),
    observed,
    gaps,
    run: num('run', 0),
    longestRun: num('longestRun', 0),
    samples: num('samples', 0),
    changes: num('changes', 0),
    env: numbers('env'),
    pending,
    excursion: num('excursion', 0),
    lastEventAt,
    active: o.active === true,
    ...(typeof o.prior === 'string' ? { prior: o.prior } : {}),
    ...(sharedAt !== undefined ? { sharedAt } : {}),
  };
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
