/**
 * NAB benchmark of the gateway's anomaly detector: replays every series under the NAB folder
 * through scoreCsv (exactly the gateway's detector), then scores the outputs with the project's
 * independent NAB scorer (shared/tools/nab_score.py) under all three profiles.
 *
 *   npx tsx bench/nab.ts [--keep DIR] [--per-file] [--options JSON]
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { scoreCsv } from '../edge/analytics/csv.js';
import type { DetectorOptionsInput } from '../edge/analytics/detector.js';

const run = promisify(execFile);
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface NabOptions {
  /** NAB folder (data/, labels/); default $SWARMGATE_NAB_DIR or ../shared/data/nab beside the repo. */
  readonly nabDir?: string;
  /** Scorer script; default ../shared/tools/nab_score.py beside the repo. */
  readonly scorer?: string;
  /** Keep the outputs here instead of a temp folder that is removed. */
  readonly outDir?: string;
  readonly detector?: DetectorOptionsInput;
  /** Also return per-file raw scores (standard profile). */
  readonly perFile?: boolean;
  /** Progress on stderr. */
  readonly verbose?: boolean;
}

export interface NabResult {
  readonly standard: number;
  readonly lowFp: number;
  readonly lowFn: number;
  readonly seconds: number;
  readonly rows: number;
  /** Wall time of scoreCsv per reading (includes waiting for the CPU on a shared box). */
  readonly usPerReading: number;
  /** CPU time (user + system) of this process per reading: scoring and every training. */
  readonly cpuUsPerReading: number;
  readonly perFile?: Record<string, number>;
  readonly detail?: Record<string, { tp: number; fn: number; fp: number; threshold: number }>;
}

/** One scoring profile of the NAB scorer's JSON output (../shared/tools/nab_score.py). */
export interface ScorerProfile {
  score: number;
  threshold: number;
  tp_windows: number;
  fn_windows: number;
  fp_rows: number;
  per_file?: Record<string, number>;
}

/** The Python that runs the NAB scorer. */
/** The NAB data folder: as given, else $SWARMGATE_NAB_DIR, else ../shared/data/nab beside the project. */
export function nabDataDir(given?: string): string {
  return given ?? process.env.SWARMGATE_NAB_DIR ?? join(repoRoot, '..', 'shared', 'data', 'nab');
}

/** The NAB scorer: as given, else ../shared/tools/nab_score.py beside the project. */
export function nabScorer(given?: string): string {
  return given ?? join(repoRoot, '..', 'shared', 'tools', 'nab_score.py');
}

export function python(): string {
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

export async function runNab(options: NabOptions = {}): Promise<NabResult> {
  const nabDir = nabDataDir(options.nabDir);
  const scorer = nabScorer(options.scorer);
  if (!existsSync(join(nabDir, 'data'))) throw new Error(`NAB data not found under ${nabDir} (set SWARMGATE_NAB_DIR)`);
  const outDir = options.outDir ?? (await mkdtemp(join(tmpdir(), 'swarmgate-nab-')));
  const started = Date.now();
  let rows = 0;
  let scoringMs = 0;
  const cpu0 = process.cpuUsage();
  try {
    for (const category of (await readdir(join(nabDir, 'data'))).sort()) {
      const files = (await readdir(join(nabDir, 'data', category))).filter((f) => f.endsWith('.csv')).sort();
      await mkdir(join(outDir, category), { recursive: true });
      for (const file of files) {
        const r = await scoreCsv(join(nabDir, 'data', category, file), join(outDir, category, file), { progress: false, detector: options.detector });
        rows += r.rows;
        scoringMs += r.seconds * 1000;
        if (options.verbose) process.stderr.write(`nab: ${category}/${file} ${r.rows} rows in ${r.seconds.toFixed(1)} s, max ${r.maxScore.toFixed(3)}\n`);
      }
    }
    const cpu = process.cpuUsage(cpu0);
    const jsonOut = join(outDir, 'nab_score.json');
    const args = [scorer, '--nab-dir', nabDir, '--results', outDir, '--profile', 'all', '--json', jsonOut];
    if (options.perFile) args.push('--per-file');
    await run(python(), args, { maxBuffer: 16 * 1024 * 1024 });
    const scored = JSON.parse(await readFile(jsonOut, 'utf8')) as { profiles: Record<string, ScorerProfile> };
    const p = scored.profiles;
    const get = (name: string): ScorerProfile => {
      const v = p[name];
      if (!v) throw new Error(`scorer output lacks profile ${name}`);
      return v;
    };
    const detail: NabResult['detail'] = {};
    for (const [name, v] of Object.entries(p)) detail[name] = { tp: v.tp_windows, fn: v.fn_windows, fp: v.fp_rows, threshold: v.threshold };
    return {
      standard: Number(get('standard').score.toFixed(2)),
      lowFp: Number(get('reward_low_FP_rate').score.toFixed(2)),
      lowFn: Number(get('reward_low_FN_rate').score.toFixed(2)),
      seconds: Number(((Date.now() - started) / 1000).toFixed(1)),
      rows,
      usPerReading: Number(((scoringMs * 1000) / Math.max(1, rows)).toFixed(1)),
      cpuUsPerReading: Number(((cpu.user + cpu.system) / Math.max(1, rows)).toFixed(1)),
      ...(options.perFile ? { perFile: get('standard').per_file ?? {} } : {}),
      detail,
    };
  } finally {
    if (!options.outDir) await rm(outDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2);
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const keep = arg('--keep');
  const json = arg('--options');
  const result = await runNab({
    ...(keep ? { outDir: keep } : {}),
    ...(json ? { detector: JSON.parse(json) as DetectorOptionsInput } : {}),
    perFile: argv.includes('--per-file'),
    verbose: argv.includes('--verbose'),
  });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
