/**
 * Detector priors (shared/wire/detector-prior.ts): export what a point's detector has learned, and
 * start a detector from it. A detector started from a prior scores after `forecaster.lags`
 * readings (the network needs that many inputs of its own point) instead of its whole learning
 * period: the forecaster, the calibration of both surprises, the remembered shapes and the
 * operating range come from the prior. It then keeps learning its own: every reading feeds its
 * calibration and pattern memory, and its first training (at `minTrain` readings) starts from the
 * prior's weights on its own history. Before its first score, and again before its first own
 * pattern is compared, it moves the prior to its own unit's level (PriorDetector, levelOffset).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { writeFileDurably } from '../../shared/kit/durable-file.js';
import { join } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { SwarmgateError } from '../../shared/kit/errors.js';
import type { Logger } from '../../shared/kit/log.js';
import { decode } from '../../shared/wire/codec.js';
import {
  DETECTOR_PRIOR_MAX_BYTES,
  DetectorPriorSchema,
  DETECTOR_PRIOR_VERSION,
  PRIOR_HISTORY_MAX,
  PRIOR_PATTERNS_MAX,
  type DetectorPrior,
  type PriorCalibration,
  type PriorModel,
  type PriorPatterns,
} from '../../shared/wire/detector-prior.js';
import { LONG_AGO, PointDetector, resolveOptions, type DetectorOptionsInput, type DetectorState } from './detector.js';
import { forecastErrors, inputSize, type ForecasterModel } from './forecaster.js';
import type { LikelihoodState } from './likelihood.js';
import type { NoveltyState } from './novelty.js';
import { medianGap, Ring } from './stats.js';

/** Seven significant digits (float32 precision): what the forecaster trains in anyway. */
const r7 = (x: number): number => (x === 0 ? 0 : Number(x.toPrecision(7)));

/** What `detector` has learned, as a prior. Refused while it is still learning (nothing to share). */
export async function exportPrior(detector: PointDetector, now = Date.now()): Promise<DetectorPrior> {
  if (detector.phase !== 'scoring') throw new SwarmgateError('SWG_ERR_PRIOR_INVALID', `detector ${detector.name} is still learning: no prior to export yet`);
  const s = await detector.state();
  if (!s.range) throw new SwarmgateError('SWG_ERR_PRIOR_INVALID', `detector ${detector.name} has seen no value`);
  const o = s.options;
  const patterns: PriorPatterns[] = [patternsOf(s.novelty, o.novelty.window, o.novelty.step, s.pattern)];
  if (o.longPattern > 0 && s.longNovelty && s.longPattern) patterns.push(patternsOf(s.longNovelty, o.longPattern, o.longStep, s.longPattern));
  const short = patterns[0] as PriorPatterns;
  const timing = timingOf(s.timestamps, s.seen, (short.vectors.length / short.window + short.window - 1) * short.step);
  return {
    kind: 'swarmgate.detector-prior',
    version: DETECTOR_PRIOR_VERSION,
    createdAt: Math.round(now),
    readings: s.seen,
    ...timing,
    range: [r7(s.range[0]), r7(s.range[1])],
    ...(s.model ? { model: modelOf(s.model) } : {}),
    forecast: calibrationOf(s.forecast),
    patterns,
  };
}

/** JSON bytes of a prior; refused beyond DETECTOR_PRIOR_MAX_BYTES. */
export function encodePrior(prior: DetectorPrior): Buffer {
  const bytes = Buffer.from(JSON.stringify(prior));
  if (bytes.byteLength > DETECTOR_PRIOR_MAX_BYTES) throw new SwarmgateError('SWG_ERR_PRIOR_INVALID', `detector prior of ${bytes.byteLength} bytes exceeds the limit of ${DETECTOR_PRIOR_MAX_BYTES}`);
  return bytes;
}

/** A prior from JSON (text or bytes), checked against the wire schema; the error names the field. */
export function readPrior(payload: Buffer | Uint8Array | string, source = 'detector prior'): DetectorPrior {
  const r = decode(DetectorPriorSchema, source, payload, DETECTOR_PRIOR_MAX_BYTES);
  if (!r.ok) throw new SwarmgateError('SWG_ERR_PRIOR_INVALID', r.error);
  return r.value;
}

/**
 * A detector for a new point that starts from `prior`: it scores after `forecaster.lags` readings
 * and keeps learning its own. Refused (field named) when the prior does not fit the options.
 */
export function detectorFromPrior(prior: DetectorPrior, options: DetectorOptionsInput = {}, name = 'point'): PriorStartedDetector {
  const base = resolveOptions(options);
  // It scores once its forecaster has its lags, and not before the level offset can be estimated
  // (two blocks, levelOffset): with a smaller warm-up its first scores would judge the unit at
  // the peer's level (a sensor a few kelvin off alarms at once). Its novelty waits for the part
  // of a day the prior's shapes do not cover (a point read every 10 s: 250 shapes are 3 hours).
  const noveltyLearnMs = Math.max(0, base.noveltyLearnMs - (prior.spanMs ?? Infinity));
  const o = { ...base, warmup: Math.max(Math.min(base.warmup, base.forecaster.lags), 2 * base.novelty.step), spatialAfter: 0, noveltyLearnMs };
  const fail = (field: string, msg: string): never => {
    throw new SwarmgateError('SWG_ERR_PRIOR_INVALID', `detector prior: ${field}: ${msg}`);
  };
  const m = prior.model;
  if (m) {
    const size = inputSize(o.forecaster);
    const hidden = o.forecaster.hidden * Math.max(1, Math.round(o.forecaster.ensemble));
    if (m.inputSize !== size) fail('/model/inputSize', `${m.inputSize} inputs, the detector's forecaster takes ${size}`);
    if (m.hidden !== hidden) fail('/model/hidden', `${m.hidden} hidden units, the detector's forecaster has ${hidden}`);
    if (m.w1.length !== size * hidden) fail('/model/w1', `${m.w1.length} weights, expected ${size * hidden}`);
    if (m.b1.length !== hidden) fail('/model/b1', `${m.b1.length} biases, expected ${hidden}`);
    if (m.w2.length !== hidden) fail('/model/w2', `${m.w2.length} weights, expected ${hidden}`);
  }
  const scales: Array<{ window: number; step: number }> = [{ window: o.novelty.window, step: o.novelty.step }];
  if (o.longPattern > 0) scales.push({ window: o.longPattern, step: o.longStep });
  scales.forEach((want, i) => {
    const p = prior.patterns[i];
    if (!p) return fail(`/patterns/${i}`, `missing (the detector uses ${scales.length} pattern scales)`);
    if (p.window !== want.window || p.step !== want.step) fail(`/patterns/${i}`, `window ${p.window} × step ${p.step}, the detector's is ${want.window} × ${want.step}`);
    if (p.vectors.length % p.window !== 0) fail(`/patterns/${i}/vectors`, `${p.vectors.length} numbers is not a whole number of ${p.window}-block vectors`);
    return undefined;
  });
  const [lo, hi] = prior.range;
  if (!(lo <= hi)) fail('/range', `lowest ${lo} above highest ${hi}`);
  const short = prior.patterns[0] as PriorPatterns;
  const long = prior.patterns[1];
  const state: DetectorState = {
    version: 1,
    options: o,
    seen: 0,
    values: [],
    timestamps: [],
    model: m ? { ...m } : null,
    pending: null,
    lastTrainAt: -1e12,
    trainings: 0,
    ownModels: 0,
    lastAlertAt: -1e12,
    quietRun: 0,
    lastRaw: 0,
    // Novelty judges from the start when the prior's shapes cover a day (a prior without its span,
    // from an earlier release, too: no wait left); else once its own readings make up the rest.
    noveltySince: o.noveltyLearnMs === 0 ? LONG_AGO : Infinity,
    recentScores: [],
    alerts: [],
    range: [lo, hi],
    forecast: likelihoodOf(prior.forecast),
    pattern: likelihoodOf(short.calibration),
    novelty: noveltyOf(short, lo, hi),
    ...(o.longPattern > 0 && long ? { longNovelty: noveltyOf(long, lo, hi), longPattern: likelihoodOf(long.calibration) } : {}),
  };
  const d = new PriorDetector(o, name, prior, [o.warmup, o.novelty.window * o.novelty.step - 1]);
  d.start(state);
  return d;
}

/** A detector started from a prior; `levelShift`: how far the prior was moved to this unit's level (undefined until estimated). */
export type PriorStartedDetector = PointDetector & { readonly levelShift: number | undefined };

/**
 * A shape match is as good as the best one when its misfit (RMS over the blocks, with the offset
 * removed) is within this factor of the best's: the best one's misfit is the noise of the match.
 */
const ALIGN_TOLERANCE = 2;

/**
 * A detector started from a prior that re-centres the prior on its own unit's level (transfer
 * learning's usual move: the weights carry over, the normalisation is local). A unit of the same
 * model in a colder climate, or with its sensor a little elsewhere or off by a few kelvin, reads
 * the same shapes at another level; left at the peer's level, its first patterns look new, its
 * forecaster extrapolates from inputs it never saw (a 5 K offset: predictions off by 2 K), its
 * operating range is misplaced, and the first false alert's refractory period hides a real fault.
 * The level offset (levelOffset) is estimated twice: before the first score (warm-up, a few
 * blocks: provisional) and just before its first own pattern is compared with the remembered
 * ones (window × step readings); each time the forecaster's normalisation (while it is the
 * prior's network), the operating range and the remembered shapes move to it. The calibrations
 * stay: they describe surprises, not levels.
 */
class PriorDetector extends PointDetector {
  /** Readings at which the level offset is (re-)estimated, soonest first. */
  private readonly alignAt: number[];
  private shift: number | undefined;
  /** Kept until the last re-centring (then let go: a prior is tens of kilobytes per point). */
  private prior: DetectorPrior | undefined;

  constructor(options: DetectorOptionsInput, name: string, prior: DetectorPrior, alignAt: readonly number[]) {
    super(options, name);
    this.prior = prior;
    this.alignAt = [...new Set(alignAt)].sort((a, b) => a - b);
  }

  /** The level offset applied to the prior (undefined until it was estimated). */
  get levelShift(): number | undefined {
    return this.shift;
  }

  /** Loads the detector's starting state (the prior's, or its own saved one). */
  start(state: DetectorState, shift?: number): void {
    this.restore(state);
    this.shift = shift;
  }

  /**
   * Saves as every detector does; while a re-centring is still due, the prior and when, beside it,
   * written first and stamped with the readings of the state it belongs to: a crash between the two
   * writes leaves a pending file that does not match the state, which loading then ignores.
   */
  override async save(dir: string): Promise<void> {
    const file = join(dir, PENDING_FILE);
    if (this.alignAt.length === 0 || !this.prior) {
      await super.save(dir);
      await rm(file, { force: true });
      return;
    }
    await mkdir(dir, { recursive: true });
    const pending: PendingAlignment = { readings: this.readings, alignAt: [...this.alignAt], ...(this.shift !== undefined ? { shift: this.shift } : {}), prior: this.prior };
    await writeFileDurably(file, JSON.stringify(pending));
    await super.save(dir);
  }

  override async score(ts: number, value: number): Promise<number> {
    const next = this.alignAt[0];
    const prior = this.prior;
    if (next !== undefined && prior && this.readings >= next) {
      this.alignAt.shift();
      if (this.alignAt.length === 0) this.prior = undefined;
      const state = await this.state();
      const total = levelOffset(prior, state.values, this.options.novelty.step);
      const applied = this.shift ?? 0;
      this.shift = total;
      if (total !== applied) this.restore(recentred(state, prior, applied, total));
    }
    return super.score(ts, value);
  }
}

/** Beside a saved detector started from a prior whose re-centring is still due. */
const PENDING_FILE = 'prior-pending.json';

const PendingAlignmentSchema = Type.Object(
  {
    readings: Type.Integer({ minimum: 0, description: 'Readings of the saved state this belongs to' }),
    alignAt: Type.Array(Type.Integer({ minimum: 0 }), { maxItems: 8 }),
    shift: Type.Optional(Type.Number({ minimum: -1e300, maximum: 1e300 })),
    prior: DetectorPriorSchema,
  },
  { additionalProperties: false },
);
type PendingAlignment = Static<typeof PendingAlignmentSchema>;

/**
 * Loads a detector saved with save(dir) (PointDetector.load), continuing a detector started from
 * a prior whose re-centring was still due when it was saved: the same scores as if it had never
 * stopped. A pending file that is unreadable (its path and field are logged) or belongs to another
 * state than the one saved (a crash between the two writes; a state saved by a detector that
 * learned alone) is removed and the saved state loads as it is: its re-centring is skipped, never
 * applied twice.
 */
export async function loadDetector(dir: string, name = 'point', log?: Logger): Promise<PointDetector> {
  const saved = await PointDetector.load(dir, name);
  const file = join(dir, PENDING_FILE);
  if (!existsSync(file)) return saved;
  const r = decode(PendingAlignmentSchema, file, await readFile(file), DETECTOR_PRIOR_MAX_BYTES + 4096);
  const problem = !r.ok ? r.error : r.value.readings !== saved.readings ? `${file}: for a state at ${r.value.readings} readings, the saved one is at ${saved.readings}` : undefined;
  if (!r.ok || problem) {
    log?.warn({ point: name, problem }, 'pending re-centring of a fleet prior dropped; the saved detector loads as it is');
    await rm(file, { force: true });
    return saved;
  }
  const d = new PriorDetector(saved.options, name, r.value.prior, r.value.alignAt);
  d.start(await saved.state(), r.value.shift);
  return d;
}

/**
 * How far this unit's level sits from the prior's: its readings as block means against every
 * remembered shape (and every part of one as long), each with its mean removed (the same time of
 * day and load: the readings' raw mean would mistake a night for a colder unit); of the matches
 * within ALIGN_TOLERANCE of the best one's misfit, the offset closest to 0: a ramp or a flat
 * stretch fits many remembered shapes at many levels, and a unit whose readings the prior already
 * knows is not moved. 0 when there are not enough readings or shapes to compare.
 */
export function levelOffset(prior: DetectorPrior, values: readonly number[], step: number): number {
  const p = prior.patterns[0];
  if (!p) return 0;
  const w = p.window;
  const nb = Math.min(w, Math.floor(values.length / step));
  const vectors = Math.floor(p.vectors.length / w);
  if (nb < 2 || vectors === 0) return 0;
  const blocks: number[] = [];
  for (let b = 0; b < nb; b++) {
    let sum = 0;
    for (let i = 0; i < step; i++) sum += values[b * step + i] ?? 0;
    blocks.push(sum / step);
  }
  const mine = blocks.reduce((a, b) => a + b, 0) / nb;
  const matches: Array<{ offset: number; misfit: number }> = [];
  for (let j = 0; j < vectors; j++) {
    // Consecutive shapes overlap by all but one block: the start of each, and every part of the last.
    for (let at = 0; at + nb <= w && (at === 0 || j === vectors - 1); at++) {
      const base = j * w + at;
      let theirs = 0;
      for (let i = 0; i < nb; i++) theirs += p.vectors[base + i] ?? 0;
      const offset = mine - theirs / nb;
      let misfit = 0;
      for (let i = 0; i < nb; i++) misfit += ((blocks[i] ?? 0) - (p.vectors[base + i] ?? 0) - offset) ** 2;
      matches.push({ offset, misfit: Math.sqrt(misfit / nb) });
    }
  }
  const best = Math.min(...matches.map((m) => m.misfit));
  let offset = Infinity;
  for (const m of matches) if (m.misfit <= ALIGN_TOLERANCE * best && Math.abs(m.offset) < Math.abs(offset)) offset = m.offset;
  return Number.isFinite(offset) ? offset : 0;
}

/**
 * `state` (a detector started from `prior`, moved by `applied` so far) with the prior's level
 * moved by `total` instead: the
 * forecaster's mean while it is still the prior's network, the remembered shapes, and the
 * operating range (the prior's, moved, together with what the unit read itself).
 */
function recentred(state: DetectorState, prior: DetectorPrior, applied: number, total: number): DetectorState {
  const delta = total - applied;
  let lo = prior.range[0] + total;
  let hi = prior.range[1] + total;
  for (const v of state.values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const moved = (n: NoveltyState, count: number): NoveltyState => ({ ...n, memory: n.memory.map((x, i) => (i < count ? x + delta : x)), lo, hi });
  const model = state.model && state.trainings === 0 ? { ...state.model, mean: state.model.mean + delta } : state.model;
  return {
    ...state,
    model,
    forecast: model && model !== state.model ? reforecast(state, model) : state.forecast,
    range: [lo, hi],
    novelty: moved(state.novelty, prior.patterns[0]?.vectors.length ?? 0),
    ...(state.longNovelty ? { longNovelty: moved(state.longNovelty, prior.patterns[1]?.vectors.length ?? 0) } : {}),
  };
}

/**
 * The forecast calibration with the surprises of the unit's own readings so far recomputed by the
 * moved forecaster, as score() measured them (|reading − prediction| / the network's scale): what
 * the moved network would have said, not the errors of the network at the peer's level, which
 * would otherwise dominate the short average behind the first scores.
 */
function reforecast(state: DetectorState, model: ForecasterModel): LikelihoodState {
  const o = state.options;
  const n = state.values.length;
  const cal = state.forecast;
  if (n === 0 || cal.history.length < n) return cal;
  const power = o.likelihood.power;
  const errors = forecastErrors(model, Ring.from(state.values, o.maxHistory), Ring.from(state.timestamps, o.maxHistory), o.forecaster.lags, 0, new Float64Array(inputSize(o.forecaster)));
  // As the calibrator records it (likelihood.ts: raw ** power; none when not finite or not positive).
  const surprises = errors.map((raw) => (Number.isFinite(raw) && raw > 0 ? (power === 1 ? raw : raw ** power) : 0));
  const history = [...cal.history.slice(0, cal.history.length - n), ...surprises];
  return { ...cal, history, scored: history.slice(-o.likelihood.avgWindow) };
}

function modelOf(m: NonNullable<DetectorState['model']>): PriorModel {
  return {
    inputSize: m.inputSize,
    hidden: m.hidden,
    w1: m.w1.map(r7),
    b1: m.b1.map(r7),
    w2: m.w2.map(r7),
    b2: r7(m.b2),
    mean: r7(m.mean),
    std: r7(m.std),
    dayLag: m.dayLag,
    weekLag: m.weekLag,
    trainedOn: m.trainedOn,
    loss: r7(m.loss),
  };
}

/**
 * A calibration as a prior carries it: its history thinned evenly to at most PRIOR_HISTORY_MAX
 * values, newest kept, so it spans everything the calibration describes. Only the newest quarter
 * (what a prior carried before) is often a quiet stretch: a spiky point's last few hundred
 * readings hold one burst where its 2000 hold eight, and a detector started from that prior
 * alarmed on the next burst (bench/nab-prior.ts: from the prior 72.61 / 59.82 / 56.15 ->
 * 92.23 / 60.84 / 56.29, artificial / realKnownCause / realAWSCloudwatch).
 */
export function priorHistory(history: readonly number[]): number[] {
  const every = Math.ceil(history.length / PRIOR_HISTORY_MAX);
  return history.filter((_, i) => (history.length - 1 - i) % every === 0);
}

function calibrationOf(l: LikelihoodState): PriorCalibration {
  const history = priorHistory(l.history).map(r7);
  return {
    history: history.length > 0 ? history : [0],
    mean1: r7(l.mean1),
    std1: r7(l.std1),
    meanK: r7(l.meanK),
    stdK: r7(l.stdK),
    evt1: [r7(l.evt1[0]), r7(l.evt1[1])],
    evtK: [r7(l.evtK[0]), r7(l.evtK[1])],
  };
}

/**
 * The median time between readings, and the time the last `covered` readings span (what the
 * shapes a prior carries were made from), from the timestamps a detector keeps.
 */
function timingOf(timestamps: readonly number[], seen: number, covered: number): { intervalMs?: number; spanMs?: number } {
  const intervalMs = medianGap(timestamps);
  if (intervalMs === undefined) return {};
  const n = Math.min(seen, Math.ceil(covered));
  const spanMs = n <= timestamps.length ? (timestamps.at(-1) ?? 0) - (timestamps[timestamps.length - n] ?? 0) + intervalMs : intervalMs * n;
  return { intervalMs, spanMs: Math.round(spanMs) };
}

function patternsOf(n: NoveltyState, window: number, step: number, calibration: LikelihoodState): PriorPatterns {
  return { window, step, vectors: n.memory.slice(-PRIOR_PATTERNS_MAX * window).map(r7), calibration: calibrationOf(calibration) };
}

/** A calibrator that has estimated its idea of normal from the prior's history. */
function likelihoodOf(c: PriorCalibration): LikelihoodState {
  return {
    history: [...c.history],
    mean1: c.mean1,
    std1: c.std1,
    meanK: c.meanK,
    stdK: c.stdK,
    seen: c.history.length,
    sinceEstimate: 0,
    estimated: true,
    blockMax1: [],
    blockMaxK: [],
    current: [0, 0, 0],
    evt1: [...c.evt1],
    evtK: [...c.evtK],
  };
}

/** Remembered shapes from the prior; the blocks of this point's own recent readings start empty. */
function noveltyOf(p: PriorPatterns, lo: number, hi: number): NoveltyState {
  return { block: [], blocks: [], memory: [...p.vectors], lo, hi, last: 0, masked: [], blockMasked: false, lastMasked: 0 };
}
