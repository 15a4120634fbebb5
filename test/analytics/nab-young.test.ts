import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cutSeries, probationOf, writeYoungCorpus } from '../../bench/nab-young.js';

describe('young-detector pieces of the NAB series (bench/nab-young.ts)', () => {
  it('cuts a series into pieces of about the size asked, covering every row once', () => {
    const pieces = cutSeries(4032, [], 2000);
    expect(pieces.map((p) => [p.from, p.to])).toEqual([[0, 2016], [2016, 4032]]);
    expect(cutSeries(1882, [], 2000).map((p) => [p.from, p.to])).toEqual([[0, 1882]]);
  });

  it('never cuts through a labelled window, and drops windows that end inside a piece\'s probation', () => {
    // A window across the first cut (2016) moves the cut after it; one early in the second piece
    // ends inside its probationary part (15 % of its length) and cannot be scored there.
    const pieces = cutSeries(6000, [[1900, 2100], [2150, 2200], [4500, 4600]], 2000);
    expect(pieces.map((p) => [p.from, p.to])).toEqual([[0, 2101], [2101, 4000], [4000, 6000]]);
    expect(pieces[0]?.windows).toEqual([[1900, 2100]]);
    expect(2200).toBeLessThan(2101 + probationOf(4000 - 2101));
    expect(pieces[1]?.windows).toEqual([]);
    expect(pieces[2]?.windows).toEqual([[4500, 4600]]);
    expect(() => cutSeries(10, [], 0)).toThrow(/piece size must be positive/);
  });

  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('writes the pieces in NAB\'s layout with their windows, and names a window off the series\' rows', async () => {
    const nab = await mkdtemp(join(tmpdir(), 'swg-nab-young-'));
    dirs.push(nab);
    const t = (i: number): string => new Date(Date.UTC(2014, 0, 1) + i * 300_000).toISOString().slice(0, 19).replace('T', ' ');
    await mkdir(join(nab, 'data', 'realX'), { recursive: true });
    await mkdir(join(nab, 'labels'));
    const rows = Array.from({ length: 4000 }, (_, i) => `${t(i)},${i % 7}`);
    await writeFile(join(nab, 'data', 'realX', 's.csv'), `timestamp,value\n${rows.join('\n')}\n`);
    await writeFile(join(nab, 'labels', 'combined_windows.json'), JSON.stringify({ 'realX/s.csv': [[`${t(3000)}.000000`, `${t(3100)}.000000`]] }));
    const out = await writeYoungCorpus(nab, join(nab, 'young'), ['realX'], 2000);
    expect((await readdir(join(out, 'data', 'realX'))).sort()).toEqual(['s_p0.csv', 's_p1.csv']);
    const p1 = (await readFile(join(out, 'data', 'realX', 's_p1.csv'), 'utf8')).trim().split('\n');
    expect(p1[0]).toBe('timestamp,value');
    expect(p1[1]).toBe(`${t(2000)},${2000 % 7}`);
    expect(p1).toHaveLength(2001);
    const labels = JSON.parse(await readFile(join(out, 'labels', 'combined_windows.json'), 'utf8')) as Record<string, unknown>;
    expect(labels).toEqual({ 'realX/s_p0.csv': [], 'realX/s_p1.csv': [[`${t(3000)}.000000`, `${t(3100)}.000000`]] });
    // Same source, same folder (nothing rewritten); another size, another folder.
    expect(await writeYoungCorpus(nab, join(nab, 'young'), ['realX'], 2000)).toBe(out);
    expect(await writeYoungCorpus(nab, join(nab, 'young'), ['realX'], 1000)).not.toBe(out);

    await writeFile(join(nab, 'labels', 'combined_windows.json'), JSON.stringify({ 'realX/s.csv': [[`${t(3000)}.500000`, `${t(3100)}.000000`]] }));
    await expect(writeYoungCorpus(nab, join(nab, 'young'), ['realX'], 2000)).rejects.toThrow(/combined_windows\.json: realX\/s\.csv: window \[.*\] does not start and end on rows of .*s\.csv/);
  });
});

describe('pieces scored from a prior (bench/nab-prior.ts)', () => {
  it('pairs every piece after the first with the piece before it, and nothing else', async () => {
    const { followingPieces } = await import('../../bench/nab-prior.js');
    expect(followingPieces(['b_p1.csv', 'a_p0.csv', 'a_p2.csv', 'a_p1.csv', 'b_p0.csv', 'c_p0.csv', 'd_p3.csv', 'notes.txt'])).toEqual([
      { previous: 'a_p0.csv', current: 'a_p1.csv' },
      { previous: 'a_p1.csv', current: 'a_p2.csv' },
      { previous: 'b_p0.csv', current: 'b_p1.csv' },
    ]);
  });
});
