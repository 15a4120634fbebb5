import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isSwarmgateError } from '../../shared/kit/errors.js';
import { scoreCsv, parseTimestamp } from '../../edge/analytics/index.js';
import { tempDir } from '../support/tmp.js';
import { dailySeries, STEP_MS, T0 } from './synthetic.js';

describe('scoreCsv', () => {
  const dir = tempDir('swarmgate-csv-');
  afterAll(() => dir.remove());

  function csvOf(values: readonly number[]): string {
    const stamp = (i: number): string => new Date(T0 + i * STEP_MS).toISOString().replace('T', ' ').slice(0, 19);
    return `timestamp,value\n${values.map((v, i) => `${stamp(i)},${v}`).join('\n')}\n`;
  }

  it('writes timestamp,value,anomaly_score,state for every row, flagging an injected spike', async () => {
    const values = dailySeries(800, 11);
    values[700] = 200;
    const input = join(dir.path, 'in.csv');
    const output = join(dir.path, 'out.csv');
    await writeFile(input, csvOf(values));
    const result = await scoreCsv(input, output, { progress: false, detector: { minTrain: 300, retrainEvery: 400 } });
    expect(result.rows).toBe(800);
    const lines = (await readFile(output, 'utf8')).trim().split('\n');
    expect(lines[0]).toBe('timestamp,value,anomaly_score,state');
    expect(lines).toHaveLength(801);
    const states = lines.slice(1).map((l) => l.split(',')[3]);
    expect(states.slice(0, result.learningRows).every((s) => s === 'learning')).toBe(true);
    expect(states.slice(result.learningRows).every((s) => s === 'scoring')).toBe(true);
    expect(result.learningRows).toBeGreaterThan(150);
    expect(result.learningRows).toBeLessThan(700);
    const scores = lines.slice(1).map((l) => Number(l.split(',')[2]));
    expect(scores.every((s) => s >= 0 && s <= 1)).toBe(true);
    expect(scores[700]).toBeGreaterThanOrEqual(0.5);
    expect(lines[701]?.startsWith('2024-01-03 10:20:00,200,')).toBe(true);
  });

  it.each([
    ['a bad number', 'timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:05:00,abc\n', 3, 'value'],
    ['a bad date', 'timestamp,value\n2024-01-01 00:00:00,1\nyesterday,2\n', 3, 'timestamp'],
    ['a missing field', '2024-01-01 00:00:00,1\n2024-01-01 00:05:00\n', 2, 'value'],
  ])('names file, line and field for %s', async (_what, text, line, field) => {
    const input = join(dir.path, `bad-${line}-${field}.csv`);
    await writeFile(input, text);
    const err = await scoreCsv(input, undefined, { progress: false }).catch((e: unknown) => e);
    expect(isSwarmgateError(err, 'SWG_ERR_INPUT_CSV')).toBe(true);
    if (!isSwarmgateError(err)) return;
    expect(err.message).toContain(`${input}:${line}: ${field}:`);
    expect(err.details).toMatchObject({ file: input, line, field });
  });

  it('reports a missing file as an input error', async () => {
    const err = await scoreCsv(join(dir.path, 'nope.csv'), undefined, { progress: false }).catch((e: unknown) => e);
    expect(isSwarmgateError(err, 'SWG_ERR_INPUT_CSV')).toBe(true);
  });

  it('parses NAB-style, ISO and epoch timestamps', () => {
    expect(parseTimestamp('2014-04-01 00:05:00')).toBe(Date.UTC(2014, 3, 1, 0, 5));
    expect(parseTimestamp('2014-04-01T00:05:00+01:00')).toBe(Date.UTC(2014, 3, 1, 0, 5) - 3_600_000);
    expect(parseTimestamp('1396310700')).toBe(Date.UTC(2014, 3, 1, 0, 5));
    expect(parseTimestamp('1396310700000')).toBe(Date.UTC(2014, 3, 1, 0, 5));
  });
});
