/**
 * Fleet learning on real series: how much of a young detector's weakness (bench/nab-young.ts) a
 * prior takes away. Each NAB series of the shared split is cut into pieces of about 2000 readings;
 * every piece after the first is scored three ways:
 *  - fresh: a detector started from nothing (a new gateway on a new point);
 *  - prior: a detector started from the prior (edge/analytics/prior.ts) exported by a detector
 *    that watched the piece before, the same sensor a week earlier: the best case of a peer on
 *    identical equipment (the prior's level is moved to the new point's own, as in the fleet);
 *  - own: the detector that watched the piece before, continuing (the point watched all along).
 * Each way is scored by NAB's scorer (standard profile) on the same pieces, per fold and pooled.
 *
 *   npm run bench -- --only nab-prior
 */
import { mkdtemp, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PointDetector } from '../edge/analytics/detector.js';
import { readSeriesCsv } from '../edge/analytics/csv.js';
import { detectorFromPrior, exportPrior } from '../edge/analytics/prior.js';
import { cacheDirOf, FOLDS, nabScore } from './nab-cv.js';
import { nabDataDir, nabScorer } from './nab.js';
import { writeYoungCorpus, YOUNG_PIECE } from './nab-young.js';
import { progress, ratioEntry, type BenchEntry } from './results.js';

export const PRIOR_MODES = ['fresh', 'prior', 'own'] as const;
export type PriorMode = (typeof PRIOR_MODES)[number];

/** Each piece file (<series>_p<k>.csv, k >= 1) with the piece before it; other names are ignored. */
export function followingPieces(files: readonly string[]): Array<{ readonly previous: string; readonly current: string }> {
  const names = new Set(files);
  const out: Array<{ previous: string; current: string }> = [];
  for (const current of [...files].sort()) {
    const m = /^(.*)_p(\d+)\.csv$/.exec(current);
    if (!m || Number(m[2]) === 0) continue;
    const previous = `${m[1]}_p${Number(m[2]) - 1}.csv`;
    if (names.has(previous)) out.push({ previous, current });
  }
  return out;
}

export interface NabPriorResult {
  /** Score per fold (and 'pooled') per mode. */
  readonly scores: Record<string, Record<PriorMode, number>>;
  readonly pieces: number;
  readonly seconds: number;
}

export async function runNabPrior(options: { readonly nabDir?: string; readonly scorer?: string; readonly cacheDir?: string } = {}): Promise<NabPriorResult> {
  const started = Date.now();
  const nabDir = nabDataDir(options.nabDir);
  const scorer = nabScorer(options.scorer);
  const cache = cacheDirOf(options.cacheDir);
  const categories = FOLDS.flatMap((f) => f.categories);
  const corpus = await writeYoungCorpus(nabDir, join(cache, `young-${YOUNG_PIECE}`), categories, YOUNG_PIECE);
  const work = await mkdtemp(join(tmpdir(), 'swarmgate-nab-prior-'));
  try {
    // The scored pieces (every one after the first of its series) as a corpus of their own.
    const labels = JSON.parse(await readFile(join(corpus, 'labels', 'combined_windows.json'), 'utf8')) as Record<string, unknown>;
    const scoredLabels: Record<string, unknown> = {};
    let pieces = 0;
    for (const category of categories) {
      for (const dir of [join(work, 'nab', 'data', category), ...PRIOR_MODES.map((m) => join(work, m, category))]) await mkdir(dir, { recursive: true });
      for (const { previous, current } of followingPieces(await readdir(join(corpus, 'data', category)))) {
        const before = await readSeriesCsv(join(corpus, 'data', category, previous));
        const rows = await readSeriesCsv(join(corpus, 'data', category, current));
        const peer = new PointDetector({}, `${category}/${previous}`);
        for (const r of before) await peer.score(r.ts, r.value);
        await peer.idle();
        const detectors: Record<PriorMode, PointDetector> = {
          fresh: new PointDetector({}, `${category}/${current}`),
          prior: detectorFromPrior(await exportPrior(peer), {}, `${category}/${current}`),
          own: peer,
        };
        for (const mode of PRIOR_MODES) {
          const lines = ['timestamp,anomaly_score'];
          for (const r of rows) lines.push(`${r.timestamp},${(await detectors[mode].score(r.ts, r.value)).toFixed(6)}`);
          await writeFile(join(work, mode, category, current), `${lines.join('\n')}\n`);
        }
        await symlink(join(corpus, 'data', category, current), join(work, 'nab', 'data', category, current));
        scoredLabels[`${category}/${current}`] = labels[`${category}/${current}`] ?? [];
        pieces++;
        progress(`nab-prior: ${category}/${current} (${pieces})`);
      }
    }
    await mkdir(join(work, 'nab', 'labels'));
    await writeFile(join(work, 'nab', 'labels', 'combined_windows.json'), JSON.stringify(scoredLabels));
    await writeFile(join(work, 'nab', 'profiles.json'), await readFile(join(corpus, 'profiles.json')));
    const ctx = { nabDir: join(work, 'nab'), scorer };
    const scores: Record<string, Record<PriorMode, number>> = {};
    for (const [name, cats] of [...FOLDS.map((f) => [f.name, f.categories] as const), ['pooled', categories] as const]) {
      const row = {} as Record<PriorMode, number>;
      for (const mode of PRIOR_MODES) row[mode] = (await nabScore(ctx, join(work, mode), cats)).score;
      scores[name] = row;
    }
    return { scores, pieces, seconds: Number(((Date.now() - started) / 1000).toFixed(1)) };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export async function benchNabPrior(): Promise<BenchEntry[]> {
  const r = await runNabPrior();
  const entries: BenchEntry[] = [];
  for (const [fold, row] of Object.entries(r.scores)) {
    progress(`nab-prior ${fold}: fresh ${row.fresh}, from the prior ${row.prior}, watched all along ${row.own}`);
    // The target (issue 15): starting from a prior does not lower the NAB score.
    entries.push(
      ratioEntry(
        `nab_prior_${fold}_score`,
        { value: row.prior, unit: 'points' },
        { name: 'the same pieces from nothing', value: row.fresh, unit: 'points' },
        1.0,
        `${r.pieces} pieces of about ${YOUNG_PIECE} readings (every one after the first of its series), each scored by a detector started from the prior of one that watched the piece before; the detector that watched it continuing: ${row.own}`,
      ),
    );
  }
  return entries;
}
