/**
 * Leave-one-category-out cross-validation of the gateway's anomaly detector on the shared NAB
 * split: three folds (artificial*, realKnownCause, realAWSCloudwatch). For each fold, every
 * configuration of a small, explicit search space (SEARCH_SPACE: one configuration for every
 * point, nothing per series or per category) is scored by the project's NAB scorer
 * (shared/tools/nab_score.py, standard profile) on the OTHER two folds' series together; the
 * chosen one then scores the held-out fold. Chosen by the one-standard-error rule (chooseConfig):
 * the best configuration on the training folds replaces the defaults only if it beats them by more
 * than one standard error of the per-series difference; otherwise the defaults stay. Reported per
 * fold beside ARTime and Numenta HTM (their per-fold scores from the data README), and pooled:
 * the three held-out outputs scored as one corpus.
 *
 * Two held-out figures per fold: `score` as the scorer computes it (its threshold swept on the
 * scored files — how NAB and the published per-fold figures are computed), and `strict`: the
 * threshold the training folds chose, applied unchanged to the held-out fold.
 *
 * Cost control (2 shared cores): series are replayed in at most `workers` (default 2) niced child
 * processes; every (series, configuration) output is cached on disk under the cache folder
 * (default .scratch/nab-cv, gitignored) keyed by the configuration and the detector's source, and
 * the forecaster trainings of a series are cached too (ModelSource): configurations that differ
 * only in calibration and reporting share one training trajectory, so they cost the scoring only.
 *
 *   npm run bench -- --only nab-cv
 *   npx tsx bench/nab-cv.ts [--configs default,avg4,...] [--workers 2] [--cache DIR]
 *   npx tsx bench/nab-cv.ts --seeds 1,2,3,4,5   (the default configuration's spread over forecaster seeds)
 *   npx tsx bench/nab-cv.ts --young [2000]      (the same on series cut into pieces: young detectors, bench/nab-young.ts)
 */
import { execFile, fork, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { setPriority } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { DEFAULT_DETECTOR_OPTIONS, resolveOptions, type DetectorOptionsInput, type ModelSource } from '../edge/analytics/detector.js';
import type { ForecasterModel } from '../edge/analytics/forecaster.js';
import { nabDataDir, nabScorer, python, type ScorerProfile } from './nab.js';
import { writeYoungCorpus, YOUNG_PIECE } from './nab-young.js';
import { progress, ratioEntry, type BenchEntry } from './results.js';

const run = promisify(execFile);
const self = fileURLToPath(import.meta.url);
const repoRoot = resolve(dirname(self), '..');

export interface Fold {
  readonly name: string;
  readonly categories: readonly string[];
  /** Published standard-profile scores on this fold (shared/data/nab/README.md). */
  readonly artime: number;
  readonly htm: number;
}

export const FOLDS: readonly Fold[] = [
  { name: 'artificial', categories: ['artificialNoAnomaly', 'artificialWithAnomaly'], artime: 69.43, htm: 77.82 },
  { name: 'realKnownCause', categories: ['realKnownCause'], artime: 66.45, htm: 57.78 },
  { name: 'realAWSCloudwatch', categories: ['realAWSCloudwatch'], artime: 69.92, htm: 73.42 },
];
/** The published pooled scores on the 35 series. */
export const PUBLISHED_POOLED = { artime: 67.85, htm: 66.59 };

const DEFAULT_SEED = DEFAULT_DETECTOR_OPTIONS.seed;

export interface CvConfig {
  readonly name: string;
  readonly options: DetectorOptionsInput;
}

/**
 * The search space: the detector's defaults and a few variations of how surprises are calibrated
 * and reported. The forecaster's own options are not searched (so every configuration shares one
 * training trajectory per series, see the module comment).
 */
export const SEARCH_SPACE: readonly CvConfig[] = [
  { name: 'default', options: {} },
  // The likelihood's short average (HTM: 10) and its memory of normal (HTM: 8640).
  { name: 'avg4', options: { likelihood: { avgWindow: 4 }, noveltyLikelihood: { avgWindow: 4, estimator: 'robust' } } },
  { name: 'avg16', options: { likelihood: { avgWindow: 16 }, noveltyLikelihood: { avgWindow: 16, estimator: 'robust' } } },
  { name: 'history4000', options: { likelihood: { historySize: 4000 } } },
  // Tail combination of the two surprises.
  { name: 'fisher', options: { combine: 'fisher' } },
  // Warm-up: score sooner (short series have windows soon after NAB's probation).
  { name: 'quickstart', options: { warmup: 50, spatialAfter: 50, likelihood: { learnPeriod: 50 }, novelty: { minMemory: 25 } } },
  // Range novelty (HTM's spatial anomaly): tighter, or off.
  { name: 'spatial0.05', options: { spatialTolerance: 0.05 } },
  { name: 'spatialOff', options: { spatialTolerance: 0 } },
  // Reporting after a detection: rising edges only; an alarm-rate prior; longer incidents (an
  // incident ends when its score has recovered for recoveredFor readings, or after `refractory`).
  { name: 'peak', options: { suppression: 'peak' } },
  { name: 'rate0.5', options: { ratePenalty: 0.5 } },
  { name: 'refractory400', options: { refractory: 400, recoveredFor: 300 } },
  { name: 'incident400', options: { refractory: 400 } },
  { name: 'incident800', options: { refractory: 800 } },
  { name: 'incident1600', options: { refractory: 1600 } },
  // Alert confidence (default: the alerts of the last 4000 readings): shorter, longer, off.
  { name: 'confidence2000', options: { confidenceWindow: 2000 } },
  { name: 'confidence8000', options: { confidenceWindow: 8000 } },
  { name: 'confidenceOff', options: { confidenceWindow: 0 } },
  // The alarm latch (on by default): no new alert while the score stays above the alert level past the refractory period.
  { name: 'noLatch', options: { latch: false } },
  // Cost: the forecaster's retraining is most of the CPU per reading (scoring alone ~20 us); both were the defaults before.
  { name: 'retrain800', options: { retrainEvery: 800 } },
  { name: 'ensemble3', options: { forecaster: { ensemble: 3 } } },
  // Record volatility (default: the median |change| over 32 readings, a record at twice any before): off, or over 16 / 24 readings.
  { name: 'volatilityOff', options: { volatilityRecord: { size: 0 } } },
  { name: 'volatility16', options: { volatilityRecord: { size: 16 } } },
  { name: 'volatility24', options: { volatilityRecord: { size: 24 } } },
];

export interface CvOptions {
  readonly nabDir?: string;
  readonly scorer?: string;
  readonly cacheDir?: string;
  readonly workers?: number;
  readonly configs?: readonly CvConfig[];
  readonly verbose?: boolean;
}

interface Scored {
  readonly score: number;
  readonly threshold: number;
  readonly tp: number;
  readonly fn: number;
  readonly fp: number;
  /** Raw score per scored series (at `threshold`). */
  readonly perFile: Readonly<Record<string, number>>;
}

/** One configuration's score on a fold's training series, and its per-series raw scores. */
export interface TrainingScore {
  readonly config: string;
  readonly score: number;
  readonly perFile: Readonly<Record<string, number>>;
}

/** What chooseConfig decided, and why. */
export interface Choice {
  readonly chosen: string;
  /** The best configuration on the training folds (chosen only if its gain beats one standard error). */
  readonly best: string;
  /** Summed per-series raw gain of `best` over the defaults, and its standard error. */
  readonly gain: number;
  readonly se: number;
}

/**
 * The one-standard-error rule (Breiman et al., CART, 1984; Hastie, Tibshirani & Friedman, The
 * Elements of Statistical Learning, 7.10): the best configuration on the training series replaces
 * `fallback` (the defaults) only if its summed raw NAB score beats the defaults' by more than one
 * standard error of that sum, from the paired per-series differences (sqrt(n) x their standard
 * deviation). With two dozen configurations and a few dozen series, the top of the ranking is
 * often a near-tie decided by one false alarm on one series (selection noise: `quickstart` won
 * realKnownCause's training folds by 0.17 points, then cost the held-out fold 1.3); a gain larger
 * than the series-to-series spread of the gain is evidence, a smaller one is not.
 */
export function chooseConfig(ranked: readonly TrainingScore[], fallback: string): Choice {
  const best = ranked[0];
  const base = ranked.find((r) => r.config === fallback);
  if (!best || !base || best.config === fallback) return { chosen: fallback, best: best?.config ?? fallback, gain: 0, se: 0 };
  const diffs = Object.keys(base.perFile).map((f) => (best.perFile[f] ?? 0) - (base.perFile[f] ?? 0));
  const n = diffs.length;
  const gain = diffs.reduce((a, d) => a + d, 0);
  const mean = n > 0 ? gain / n : 0;
  const sd = n > 1 ? Math.sqrt(diffs.reduce((a, d) => a + (d - mean) ** 2, 0) / (n - 1)) : 0;
  const se = Math.sqrt(n) * sd;
  return { chosen: gain > se ? best.config : fallback, best: best.config, gain: Number(gain.toFixed(3)), se: Number(se.toFixed(3)) };
}

export interface FoldResult {
  readonly fold: Fold;
  readonly chosen: string;
  /** The selection (chooseConfig): best on the training folds, its gain over the defaults and that gain's standard error. */
  readonly choice: Choice;
  /** Every configuration's score on the training folds (pooled), best first. */
  readonly training: readonly TrainingScore[];
  readonly heldOut: Scored;
  /** The held-out fold at the threshold chosen on the training folds. */
  readonly strict: Scored;
  /** The default configuration on this fold (no tuning), for comparison. */
  readonly defaultScore: number;
}

export interface CvResult {
  readonly folds: readonly FoldResult[];
  /** The three held-out outputs scored as one corpus. */
  readonly pooled: Scored;
  /** Every configuration on every fold (as the scorer computes it), for the closing note. */
  readonly table: Record<string, Record<string, number>>;
  readonly seconds: number;
  /** Readings replayed in this run (cache misses) and their cost. */
  readonly replayedRows: number;
  readonly usPerReading: number | undefined;
}

// ---- cache keys --------------------------------------------------------------------------------

const ANALYTICS = join(repoRoot, 'edge', 'analytics');

function hashFiles(files: readonly string[], extra: string): string {
  const h = createHash('sha256');
  for (const f of files) h.update(readFileSync(join(ANALYTICS, f)));
  h.update(extra);
  return h.digest('hex').slice(0, 16);
}

/** Output cache key: the resolved configuration and every source file that shapes a score. */
function runKey(options: DetectorOptionsInput): string {
  return hashFiles(['detector.ts', 'volatility.ts', 'likelihood.ts', 'novelty.ts', 'forecaster.ts', 'stats.ts', 'csv.ts'], JSON.stringify(resolveOptions(options)));
}

/** Model cache key: what a training depends on (history, schedule, seed, forecaster). */
function modelKey(options: DetectorOptionsInput, series: string): string {
  const o = resolveOptions(options);
  const train = { forecaster: o.forecaster, maxHistory: o.maxHistory, minTrain: o.minTrain, retrainEvery: o.retrainEvery, seed: o.seed, series };
  return hashFiles(['forecaster.ts', 'stats.ts'], JSON.stringify(train));
}

// ---- worker: replays series through scoreCsv ---------------------------------------------------

interface Job {
  readonly series: string;
  readonly runs: readonly { readonly options: DetectorOptionsInput; readonly out: string }[];
  readonly modelDir: string;
}
interface JobDone {
  readonly rows: number;
  readonly seconds: number;
}

async function workerMain(): Promise<void> {
  const { scoreCsv } = await import('../edge/analytics/csv.js');
  process.on('message', (msg: Job) => {
    void (async () => {
      let rows = 0;
      let seconds = 0;
      for (const r of msg.runs) {
        const file = join(msg.modelDir, `${modelKey(r.options, msg.series)}.json`);
        const models: Record<string, ForecasterModel> = existsSync(file) ? (JSON.parse(await readFile(file, 'utf8')) as Record<string, ForecasterModel>) : {};
        let added = false;
        const source: ModelSource = async (at, train) => {
          const k = `${at.training}:${at.reading}`;
          const hit = models[k];
          if (hit) return hit;
          const m = await train();
          models[k] = m;
          added = true;
          return m;
        };
        await mkdir(dirname(r.out), { recursive: true });
        const tmp = `${r.out}.${process.pid}.tmp`;
        const res = await scoreCsv(msg.series, tmp, { progress: false, detector: r.options, modelSource: source });
        await writeFile(`${r.out}.json`, JSON.stringify({ rows: res.rows, seconds: res.seconds }));
        await rename(tmp, r.out);
        if (added) {
          await mkdir(msg.modelDir, { recursive: true });
          await writeFile(`${file}.tmp`, JSON.stringify(models));
          await rename(`${file}.tmp`, file);
        }
        rows += res.rows;
        seconds += res.seconds;
      }
      process.send?.({ rows, seconds } satisfies JobDone);
    })().catch((err: unknown) => {
      process.stderr.write(`nab-cv worker: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    });
  });
}

/** Runs jobs on at most `n` niced child processes; resolves with the summed rows and seconds. */
async function runPool(jobs: readonly Job[], n: number, verbose: boolean): Promise<JobDone> {
  let next = 0;
  let rows = 0;
  let seconds = 0;
  const one = async (): Promise<void> => {
    if (next >= jobs.length) return;
    const child: ChildProcess = fork(self, ['--worker'], { execArgv: ['--import', 'tsx'], env: { ...process.env, SWARMGATE_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    if (child.pid !== undefined) setPriority(child.pid, 10);
    try {
      while (next < jobs.length) {
        const job = jobs[next++] as Job;
        const done = await new Promise<JobDone>((res, rej) => {
          const onExit = (code: number | null): void => rej(new Error(`nab-cv worker exited with ${String(code)} on ${job.series}`));
          child.once('exit', onExit);
          child.once('message', (m: JobDone) => {
            child.off('exit', onExit);
            res(m);
          });
          child.send(job);
        });
        rows += done.rows;
        seconds += done.seconds;
        if (verbose) progress(`nab-cv: ${job.series.split('/').slice(-2).join('/')} x ${job.runs.length} configurations, ${done.rows} rows in ${done.seconds.toFixed(1)} s`);
      }
    } finally {
      child.kill();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, n) }, one));
  return { rows, seconds };
}

// ---- scoring -----------------------------------------------------------------------------------

/** The scorer (standard profile, per-series raw scores too) on `resultsDir`, restricted to `categories`; cached beside the outputs. */
export async function nabScore(ctx: { nabDir: string; scorer: string }, resultsDir: string, categories: readonly string[], threshold?: number): Promise<Scored> {
  const tag = createHash('sha256').update(JSON.stringify([categories, threshold ?? null, 'per-file'])).digest('hex').slice(0, 12);
  const cached = join(resultsDir, `score-${tag}.json`);
  if (!existsSync(cached)) {
    const args = [ctx.scorer, '--nab-dir', ctx.nabDir, '--results', resultsDir, '--profile', 'standard', '--files-glob', categories.map((c) => `${c}/*`).join(','), '--per-file', '--json', `${cached}.tmp`];
    if (threshold !== undefined) args.push('--threshold', String(threshold));
    await run('nice', ['-n', '10', python(), ...args], { maxBuffer: 16 * 1024 * 1024 });
    await rename(`${cached}.tmp`, cached);
  }
  const p = (JSON.parse(await readFile(cached, 'utf8')) as { profiles: Record<string, ScorerProfile> }).profiles.standard;
  if (!p) throw new Error(`scorer output ${cached} lacks the standard profile`);
  return { score: Number(p.score.toFixed(2)), threshold: p.threshold, tp: p.tp_windows, fn: p.fn_windows, fp: p.fp_rows, perFile: p.per_file ?? {} };
}

// ---- the cross-validation ----------------------------------------------------------------------

interface CvContext {
  readonly nabDir: string;
  readonly scorer: string;
  /** Where a configuration's outputs are cached. */
  readonly dir: (c: CvConfig) => string;
  readonly cacheDir: string;
  readonly replayed: JobDone;
}

/** The cross-validation's cache folder: as given, else $SWARMGATE_NAB_CV_CACHE, else .scratch/nab-cv. */
export function cacheDirOf(cacheDir: string | undefined): string {
  return resolve(cacheDir ?? process.env.SWARMGATE_NAB_CV_CACHE ?? join(repoRoot, '.scratch', 'nab-cv'));
}

/** Resolves the data, scorer and cache of `options`, and replays every (series, configuration) the cache lacks. */
async function prepare(options: CvOptions, configs: readonly CvConfig[]): Promise<CvContext> {
  const nabDir = nabDataDir(options.nabDir);
  const scorer = nabScorer(options.scorer);
  const cacheDir = cacheDirOf(options.cacheDir);
  if (!existsSync(join(nabDir, 'data'))) throw new Error(`NAB data not found under ${nabDir} (set SWARMGATE_NAB_DIR)`);
  const verbose = options.verbose ?? false;
  const dirOf = new Map(configs.map((c) => [c.name, join(cacheDir, 'runs', runKey(c.options))]));
  const dir = (c: CvConfig): string => dirOf.get(c.name) ?? '';

  // Replay what the cache lacks: one job per series (all its missing configurations, in one worker).
  const jobs: Job[] = [];
  for (const category of FOLDS.flatMap((f) => f.categories)) {
    for (const file of (await readdir(join(nabDir, 'data', category))).filter((f) => f.endsWith('.csv')).sort()) {
      const runs = configs.map((c) => ({ options: c.options, out: join(dir(c), category, file) })).filter((r) => !existsSync(r.out));
      if (runs.length > 0) jobs.push({ series: join(nabDir, 'data', category, file), runs, modelDir: join(cacheDir, 'models') });
    }
  }
  // Longest series first, so the two workers finish together.
  const size = (j: Job): number => readFileSync(j.series).length * j.runs.length;
  jobs.sort((a, b) => size(b) - size(a));
  if (verbose) progress(`nab-cv: ${jobs.length} series to replay (${jobs.reduce((a, j) => a + j.runs.length, 0)} series x configurations not cached)`);
  const replayed = jobs.length > 0 ? await runPool(jobs, options.workers ?? 2, verbose) : { rows: 0, seconds: 0 };
  // A changed configuration leaves stale scorer results only under its old key: nothing to clear.
  return { nabDir, scorer, dir, cacheDir, replayed };
}

export async function runNabCv(options: CvOptions = {}): Promise<CvResult> {
  const started = Date.now();
  const configs = options.configs ?? SEARCH_SPACE;
  const { nabDir, scorer, dir, cacheDir, replayed } = await prepare(options, configs);
  const ctx = { nabDir, scorer };

  // Every configuration on every fold and on every pair of folds (two at a time: 2 cores).
  const table: Record<string, Record<string, number>> = {};
  const training = new Map<string, Scored>();
  const tasks: Array<() => Promise<void>> = [];
  for (const c of configs) {
    table[c.name] = {};
    for (const f of FOLDS) {
      tasks.push(async () => {
        (table[c.name] as Record<string, number>)[f.name] = (await nabScore(ctx, dir(c), f.categories)).score;
      });
      const others = FOLDS.filter((g) => g !== f).flatMap((g) => g.categories);
      tasks.push(async () => {
        training.set(`${c.name}/${f.name}`, await nabScore(ctx, dir(c), others));
      });
    }
  }
  await pool(tasks, 2);

  const folds: FoldResult[] = [];
  for (const f of FOLDS) {
    const ranked: TrainingScore[] = configs
      .map((c) => {
        const t = training.get(`${c.name}/${f.name}`);
        return { config: c.name, score: t?.score ?? -Infinity, perFile: t?.perFile ?? {} };
      })
      .sort((a, b) => b.score - a.score);
    // The defaults are the fallback when searched (SEARCH_SPACE's first entry); else plain best.
    const choice = chooseConfig(ranked, configs.some((c) => c.name === 'default') ? 'default' : (ranked[0]?.config ?? ''));
    const best = configs.find((c) => c.name === choice.chosen) as CvConfig;
    const trainThreshold = training.get(`${best.name}/${f.name}`)?.threshold ?? 0.5;
    folds.push({
      fold: f,
      chosen: best.name,
      choice,
      training: ranked,
      heldOut: await nabScore(ctx, dir(best), f.categories),
      strict: await nabScore(ctx, dir(best), f.categories, trainThreshold),
      defaultScore: table.default?.[f.name] ?? NaN,
    });
  }

  // Pooled: each fold's categories from its chosen configuration, scored as one corpus.
  const pooledDir = join(cacheDir, 'pooled', createHash('sha256').update(folds.map((r) => dir(configs.find((c) => c.name === r.chosen) as CvConfig)).join()).digest('hex').slice(0, 16));
  if (!existsSync(pooledDir)) {
    const tmp = `${pooledDir}.tmp`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true });
    for (const r of folds) {
      const from = dir(configs.find((c) => c.name === r.chosen) as CvConfig);
      // Per file: the scorer's os.walk does not enter symlinked folders.
      for (const category of r.fold.categories) {
        await mkdir(join(tmp, category));
        for (const file of (await readdir(join(from, category))).filter((n) => n.endsWith('.csv'))) await symlink(join(from, category, file), join(tmp, category, file));
      }
    }
    await rename(tmp, pooledDir);
  }
  const pooled = await nabScore(ctx, pooledDir, FOLDS.flatMap((f) => f.categories));
  return {
    folds,
    pooled,
    table,
    seconds: Number(((Date.now() - started) / 1000).toFixed(1)),
    replayedRows: replayed.rows,
    usPerReading: replayed.rows > 0 ? Number(((replayed.seconds * 1e6) / replayed.rows).toFixed(1)) : undefined,
  };
}

/** One fold's scores of the default configuration under several forecaster seeds. */
export interface SeedSpread {
  readonly fold: string;
  readonly seeds: readonly number[];
  readonly scores: readonly number[];
  readonly mean: number;
  /** Sample standard deviation over the seeds. */
  readonly sd: number;
}

/**
 * How much of a fold's score is the luck of one training: the default configuration with the
 * forecaster seeded 1..n (its initial weights and the order of its training samples; seed 1 is the
 * defaults' own), each fold scored as the cross-validation scores it. A difference between two
 * detectors smaller than this spread is not evidence either way.
 */
export async function runSeedSpread(seeds: readonly number[] = [1, 2, 3, 4, 5], options: CvOptions = {}): Promise<SeedSpread[]> {
  const configs: CvConfig[] = seeds.map((seed) => ({ name: `seed${seed}`, options: seed === DEFAULT_SEED ? {} : { seed } }));
  const { nabDir, scorer, dir } = await prepare(options, configs);
  const out: SeedSpread[] = [];
  for (const f of FOLDS) {
    const scores: number[] = [];
    for (const c of configs) scores.push((await nabScore({ nabDir, scorer }, dir(c), f.categories)).score);
    const mean = scores.reduce((a, x) => a + x, 0) / scores.length;
    const sd = scores.length > 1 ? Math.sqrt(scores.reduce((a, x) => a + (x - mean) ** 2, 0) / (scores.length - 1)) : 0;
    out.push({ fold: f.name, seeds, scores, mean: Number(mean.toFixed(2)), sd: Number(sd.toFixed(2)) });
  }
  return out;
}

/**
 * The same cross-validation in the young-detector regime (bench/nab-young.ts): every series cut
 * into pieces of about `size` readings, each scored as a series of its own. The pieces, their
 * outputs and trainings are cached apart from the whole series' (under young-<size>/<version>).
 */
export async function runYoungCv(size = YOUNG_PIECE, options: CvOptions = {}): Promise<CvResult> {
  const nabDir = nabDataDir(options.nabDir);
  // The pieces and everything cached from them share one folder per version of the pieces.
  const corpus = await writeYoungCorpus(nabDir, join(cacheDirOf(options.cacheDir), `young-${size}`), FOLDS.flatMap((f) => f.categories), size);
  return runNabCv({ ...options, nabDir: corpus, cacheDir: corpus });
}

/** The young regime's table: held-out score per fold, the defaults' beside it (no published figures exist for pieces). */
export function formatYoung(r: CvResult, size: number): string {
  const lines = [`young detectors (series cut into pieces of about ${size} readings):`, 'fold                 ours  default  chosen'];
  for (const f of r.folds) lines.push(`${f.fold.name.padEnd(18)} ${f.heldOut.score.toFixed(2).padStart(6)} ${f.defaultScore.toFixed(2).padStart(8)}  ${f.chosen}`);
  lines.push(`${'pooled'.padEnd(18)} ${r.pooled.score.toFixed(2).padStart(6)}`);
  return lines.join('\n');
}

async function pool(tasks: ReadonlyArray<() => Promise<void>>, n: number): Promise<void> {
  let next = 0;
  const one = async (): Promise<void> => {
    while (next < tasks.length) await (tasks[next++] as () => Promise<void>)();
  };
  await Promise.all(Array.from({ length: n }, one));
}

/** The leave-one-category-out table as text (the closing note's table). */
export function formatCv(r: CvResult): string {
  const lines = ['fold                 ours  strict  default  ARTime    HTM  chosen'];
  for (const f of r.folds) {
    lines.push(
      `${f.fold.name.padEnd(18)} ${f.heldOut.score.toFixed(2).padStart(6)} ${f.strict.score.toFixed(2).padStart(7)} ${f.defaultScore.toFixed(2).padStart(8)} ${f.fold.artime.toFixed(2).padStart(7)} ${f.fold.htm.toFixed(2).padStart(6)}  ${f.chosen}`,
    );
  }
  lines.push(`${'pooled (35 series)'.padEnd(18)} ${r.pooled.score.toFixed(2).padStart(6)} ${''.padStart(7)} ${''.padStart(8)} ${PUBLISHED_POOLED.artime.toFixed(2).padStart(7)} ${PUBLISHED_POOLED.htm.toFixed(2).padStart(6)}`);
  lines.push('', 'selection (one-standard-error rule): best on the other folds, its raw gain over the defaults, one standard error:');
  for (const f of r.folds) lines.push(`  ${f.fold.name.padEnd(18)} best ${f.choice.best} (${f.training[0]?.score.toFixed(2) ?? ''}), gain ${f.choice.gain.toFixed(3)}, se ${f.choice.se.toFixed(3)} -> ${f.chosen}`);
  lines.push('', 'every configuration, per fold (scorer threshold per fold):');
  for (const [name, row] of Object.entries(r.table)) lines.push(`  ${name.padEnd(22)} ${FOLDS.map((f) => `${f.name} ${(row[f.name] ?? NaN).toFixed(2)}`).join('  ')}`);
  return lines.join('\n');
}

export async function benchNabCv(): Promise<BenchEntry[]> {
  const r = await runNabCv({ verbose: true });
  progress(`nab-cv (${r.seconds} s):\n${formatCv(r)}`);
  const cost = r.usPerReading !== undefined ? `; ${r.replayedRows} readings replayed at ${r.usPerReading} us each` : '; every output from the cache';
  const entries: BenchEntry[] = r.folds.map((f) => {
    const notes = `held out; configuration "${f.chosen}" chosen on the other folds (${f.training.length} searched; best there ${f.choice.best}, raw gain ${f.choice.gain} over the defaults, one standard error ${f.choice.se}); at the training folds' threshold ${f.strict.score.toFixed(2)}; default configuration ${f.defaultScore.toFixed(2)}; Numenta HTM ${f.fold.htm}; TP ${f.heldOut.tp} FN ${f.heldOut.fn} FP rows ${f.heldOut.fp}`;
    const e = ratioEntry(`nab_cv_${f.fold.name}_score`, { value: f.heldOut.score, unit: 'points' }, { name: `ARTime on ${f.fold.name}`, value: f.fold.artime, unit: 'points' }, 1.0, notes);
    // The target (above ARTime when held out) is set on the real folds only.
    return f.fold.name === 'artificial' ? { name: e.name, value: e.value, unit: e.unit, ...(e.baseline ? { baseline: e.baseline } : {}), ...(e.ratio !== undefined ? { ratio: e.ratio } : {}), notes } : e;
  });
  entries.push({
    name: 'nab_cv_pooled_score',
    value: r.pooled.score,
    unit: 'points',
    baseline: { name: 'ARTime on the 35 series', value: PUBLISHED_POOLED.artime, unit: 'points' },
    ratio: Number((r.pooled.score / PUBLISHED_POOLED.artime).toFixed(3)),
    notes: `the three held-out outputs scored as one corpus; Numenta HTM ${PUBLISHED_POOLED.htm}`,
  });
  const young = await runYoungCv(YOUNG_PIECE, { verbose: true });
  progress(`nab-cv (${young.seconds} s):\n${formatYoung(young, YOUNG_PIECE)}`);
  for (const f of young.folds) {
    entries.push({
      name: `nab_young_${f.fold.name}_score`,
      value: f.heldOut.score,
      unit: 'points',
      notes: `held out, series cut into pieces of about ${YOUNG_PIECE} readings scored as series of their own (bench/nab-young.ts); configuration "${f.chosen}" chosen on the other folds' pieces; default configuration ${f.defaultScore.toFixed(2)}; TP ${f.heldOut.tp} FN ${f.heldOut.fn} FP rows ${f.heldOut.fp}`,
    });
  }
  entries.push({ name: 'nab_young_pooled_score', value: young.pooled.score, unit: 'points', notes: `the three held-out outputs of the young regime scored as one corpus; the full series pooled ${r.pooled.score.toFixed(2)}` });
  const spread = await runSeedSpread([1, 2, 3, 4, 5], { verbose: true });
  for (const sp of spread) {
    const artime = FOLDS.find((f) => f.name === sp.fold)?.artime;
    progress(`nab-cv: ${sp.fold} default configuration, forecaster seeds ${sp.seeds.join(',')}: ${sp.scores.map((x) => x.toFixed(2)).join(' ')} (mean ${sp.mean}, sd ${sp.sd})`);
    entries.push({
      name: `nab_seed_spread_${sp.fold}`,
      value: sp.sd,
      unit: 'points',
      notes: `standard deviation of the default configuration's score on ${sp.fold} over forecaster seeds ${sp.seeds.join(', ')}: ${sp.scores.map((x) => x.toFixed(2)).join(', ')} (mean ${sp.mean}${artime !== undefined ? `; ARTime ${artime}` : ''})`,
    });
  }
  entries.push({ name: 'nab_cv_seconds', value: r.seconds, unit: 's', notes: `wall time of the cross-validation, 2 niced workers on a shared box${cost}` });
  return entries;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2);
  if (argv.includes('--worker')) await workerMain();
  else {
    const arg = (name: string): string | undefined => {
      const i = argv.indexOf(name);
      return i >= 0 ? argv[i + 1] : undefined;
    };
    // --extra FILE: more configurations (a JSON array of {name, options}) searched beside SEARCH_SPACE.
    const extraFile = arg('--extra');
    const extra = extraFile ? (JSON.parse(readFileSync(extraFile, 'utf8')) as CvConfig[]) : [];
    if (argv.includes('--dirs')) {
      // Where each configuration's outputs are cached (for per-file inspection with the scorer).
      const cache = cacheDirOf(arg('--cache'));
      for (const c of [...SEARCH_SPACE, ...extra]) process.stdout.write(`${c.name} ${join(cache, 'runs', runKey(c.options))}\n`);
      process.exit(0);
    }
    const seedList = arg('--seeds');
    if (seedList !== undefined) {
      // --seeds 1,2,3: the default configuration's score per fold under each forecaster seed.
      const seeds = seedList.split(',').map(Number);
      if (seeds.some((x) => !Number.isInteger(x))) throw new Error(`--seeds wants integers separated by commas, got "${seedList}"`);
      const workers = arg('--workers');
      const cache = arg('--cache');
      for (const sp of await runSeedSpread(seeds, { ...(workers ? { workers: Number(workers) } : {}), ...(cache ? { cacheDir: cache } : {}), verbose: true })) {
        process.stdout.write(`${sp.fold.padEnd(18)} ${sp.scores.map((x) => x.toFixed(2)).join(' ')}  mean ${sp.mean} sd ${sp.sd}\n`);
      }
      process.exit(0);
    }
    const names = arg('--configs')?.split(',');
    const space = [...SEARCH_SPACE, ...extra];
    const configs = names ? space.filter((c) => names.includes(c.name)) : extra.length > 0 ? space : undefined;
    const workers = arg('--workers');
    const cache = arg('--cache');
    const common = { ...(configs ? { configs } : {}), ...(workers ? { workers: Number(workers) } : {}), ...(cache ? { cacheDir: cache } : {}), verbose: true };
    if (argv.includes('--young')) {
      // --young [SIZE]: the young-detector regime (series cut into pieces of SIZE readings).
      const sizeArg = arg('--young');
      const size = sizeArg !== undefined && /^\d+$/.test(sizeArg) ? Number(sizeArg) : YOUNG_PIECE;
      const y = await runYoungCv(size, common);
      process.stdout.write(`${formatYoung(y, size)}\n\nevery configuration, per fold:\n${Object.entries(y.table).map(([n, row]) => `  ${n.padEnd(22)} ${FOLDS.map((f) => `${f.name} ${(row[f.name] ?? NaN).toFixed(2)}`).join('  ')}`).join('\n')}\n(${y.seconds} s)\n`);
      process.exit(0);
    }
    const r = await runNabCv(common);
    process.stdout.write(`${formatCv(r)}\n(${r.seconds} s${r.usPerReading !== undefined ? `; ${r.replayedRows} readings replayed at ${r.usPerReading} us each` : ''})\n`);
  }
}
