/**
 * The young-detector regime of the NAB cross-validation (bench/nab-cv.ts): every series of the
 * shared split cut into pieces of about `size` readings, each piece scored as a series of its own,
 * so the detector starts from nothing on each.
 *
 * Why: NAB ignores the first 15 % of a series (at most 750 readings) as probationary. On the
 * 35 series here that is 600-750 readings, by when the detector has trained its forecaster and
 * calibrated every signal, so the cross-validation never sees what it does in its first few hundred
 * readings. The categories kept aside include many short series (about 1,100-2,500 readings), where
 * scoring starts after 165-375: there the detector's youth is scored. So is a gateway's first day
 * on a new point. A piece of 2000 readings starts scoring at reading 300.
 *
 * Cuts never fall inside a labelled window; a piece keeps the windows that do not end inside its
 * probationary part. Pieces are written in NAB's layout (data/<category>/<file>_p<k>.csv,
 * labels/combined_windows.json, profiles.json) under a folder of the cache, rewritten only when
 * the source or the size changes.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Readings per piece: scoring starts at 300, as on a series of NAB's short categories. */
export const YOUNG_PIECE = 2000;

/** NAB's probationary part of a series of n readings. */
export function probationOf(n: number): number {
  return Math.min(Math.floor(0.15 * n), 750);
}

export interface Piece {
  /** First row (inclusive) and end row (exclusive) in the series. */
  readonly from: number;
  readonly to: number;
  /** Its windows, as row indices within the series (inclusive ends). */
  readonly windows: ReadonlyArray<readonly [number, number]>;
}

/**
 * Cuts a series of `n` rows with labelled `windows` (inclusive row indices) into about
 * max(1, round(n / size)) pieces of equal length, never through a window: a cut that would fall
 * inside one moves to just after it (the last piece takes the remainder). A piece keeps the
 * windows inside it that do not end within its probationary part.
 */
export function cutSeries(n: number, windows: ReadonlyArray<readonly [number, number]>, size: number): Piece[] {
  if (!(size > 0)) throw new Error(`piece size must be positive, got ${size}`);
  const k = Math.max(1, Math.round(n / size));
  const len = Math.floor(n / k);
  const pieces: Piece[] = [];
  let from = 0;
  for (let i = 0; i < k && from < n; i++) {
    let to = i === k - 1 ? n : Math.min(n, (i + 1) * len);
    for (const [a, b] of windows) if (a < to && b >= to) to = Math.min(n, b + 1);
    if (to <= from) continue;
    const scoredFrom = from + probationOf(to - from);
    pieces.push({ from, to, windows: windows.filter(([a, b]) => a >= from && b < to && b >= scoredFrom) });
    from = to;
  }
  return pieces;
}

/** NAB's label timestamps carry microseconds ("2014-04-10 07:15:00.000000"); the data's do not. */
function labelTime(ts: string): string {
  return ts.includes('.') ? ts : `${ts}.000000`;
}

/**
 * Writes the pieces of every series under `nabDir` (the categories given) to a folder under
 * `baseDir` named by a digest of the source, the size and the cutting rule, and returns that
 * folder (outputs cached beside the pieces stay valid only as long as the pieces do). A labelled
 * window whose timestamps are not rows of its series is an error naming both.
 */
export async function writeYoungCorpus(nabDir: string, baseDir: string, categories: readonly string[], size = YOUNG_PIECE): Promise<string> {
  const labelsFile = join(nabDir, 'labels', 'combined_windows.json');
  const labelsText = await readFile(labelsFile, 'utf8');
  // The cutting rule is part of the key: a changed rule rewrites the pieces.
  const stamp = createHash('sha256').update(cutSeries.toString()).update(labelsText).update(String(size)).update(categories.join());
  const files: Array<{ category: string; file: string; text: string }> = [];
  for (const category of categories) {
    for (const file of (await readdir(join(nabDir, 'data', category))).filter((f) => f.endsWith('.csv')).sort()) {
      const text = await readFile(join(nabDir, 'data', category, file), 'utf8');
      stamp.update(file).update(text);
      files.push({ category, file, text });
    }
  }
  const digest = stamp.digest('hex');
  const outDir = join(baseDir, digest.slice(0, 16));
  if (existsSync(join(outDir, 'labels', 'combined_windows.json'))) return outDir;

  const labels = JSON.parse(labelsText) as Record<string, Array<[string, string]>>;
  const tmp = `${outDir}.tmp`;
  await rm(tmp, { recursive: true, force: true });
  const out: Record<string, Array<[string, string]>> = {};
  for (const { category, file, text } of files) {
    const lines = text.split(/\r?\n/).filter((l) => l.length > 0);
    const [header, ...rows] = lines;
    const times = rows.map((r) => r.slice(0, r.indexOf(',')));
    const row = new Map(times.map((t, i) => [labelTime(t), i]));
    const key = `${category}/${file}`;
    const windows = (labels[key] ?? []).map(([a, b]) => {
      const ia = row.get(labelTime(a));
      const ib = row.get(labelTime(b));
      if (ia === undefined || ib === undefined) throw new Error(`${labelsFile}: ${key}: window [${a}, ${b}] does not start and end on rows of ${join(nabDir, 'data', key)}`);
      return [ia, ib] as const;
    });
    await mkdir(join(tmp, 'data', category), { recursive: true });
    const pieces = cutSeries(rows.length, windows, size);
    for (const [i, p] of pieces.entries()) {
      const name = `${file.slice(0, -'.csv'.length)}_p${i}.csv`;
      await writeFile(join(tmp, 'data', category, name), `${[header, ...rows.slice(p.from, p.to)].join('\n')}\n`);
      out[`${category}/${name}`] = p.windows.map(([a, b]) => [labelTime(times[a] as string), labelTime(times[b] as string)]);
    }
  }
  await mkdir(join(tmp, 'labels'), { recursive: true });
  await writeFile(join(tmp, 'labels', 'combined_windows.json'), `${JSON.stringify(out, null, 1)}\n`);
  if (existsSync(join(nabDir, 'profiles.json'))) await copyFile(join(nabDir, 'profiles.json'), join(tmp, 'profiles.json'));
  await rename(tmp, outDir);
  return outDir;
}
