/**
 * CLI core: replays a `timestamp,value` CSV through exactly the gateway's PointDetector, in time
 * order as if the readings arrived live, and writes `timestamp,value,anomaly_score,state`
 * (state: `learning` while the detector is still calibrating, then `scoring`; see detector.ts).
 * The whole file is validated before scoring so a bad row fails fast with file, line and field.
 */
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { SwarmgateError } from '../../shared/kit/errors.js';
import { PointDetector, type DetectorOptionsInput, type ModelSource } from './detector.js';

export interface ScoreCsvOptions {
  readonly detector?: DetectorOptionsInput;
  /** Progress lines on stderr (default true). */
  readonly progress?: boolean;
  /** Save the detector state here after scoring (optional). */
  readonly saveDir?: string;
  /** Where forecaster trainings come from (default: trained here; see ModelSource). */
  readonly modelSource?: ModelSource;
}

export interface ScoreCsvResult {
  readonly rows: number;
  readonly seconds: number;
  readonly maxScore: number;
  readonly alerts: number;
  /** Rows scored while the detector was still learning (always the first ones). */
  readonly learningRows: number;
}

export interface CsvRow {
  readonly timestamp: string;
  readonly ts: number;
  readonly value: number;
}

function csvError(file: string, line: number, field: string, message: string): SwarmgateError {
  return new SwarmgateError('SWG_ERR_INPUT_CSV', `${file}:${line}: ${field}: ${message}`, { details: { file, line, field } });
}

/** Parses a timestamp: ISO 8601 (zone-less means UTC, as NAB's files) or epoch seconds/ms. */
export function parseTimestamp(text: string): number {
  const t = text.trim();
  if (/^-?\d+(\.\d+)?$/.test(t)) {
    const n = Number(t);
    return Math.abs(n) < 1e11 ? n * 1000 : n;
  }
  const iso = t.replace(' ', 'T');
  const zoned = /(Z|[+-]\d\d:?\d\d)$/i.test(iso) ? iso : `${iso}Z`;
  return Date.parse(zoned);
}

/** Reads and validates a `timestamp,value` CSV (optional header row). */
export async function readSeriesCsv(file: string, warn?: (message: string) => void): Promise<CsvRow[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new SwarmgateError('SWG_ERR_INPUT_CSV', `cannot read ${file}: ${(err as Error).message}`, { cause: err, details: { file } });
  }
  const lines = text.split(/\r?\n/);
  const rows: CsvRow[] = [];
  const backwards: number[] = [];
  let prevTs = -Infinity;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line.trim() === '') continue;
    const lineNo = i + 1;
    const cells = line.split(',');
    if (rows.length === 0 && i === firstContentLine(lines) && /^\s*"?timestamp"?\s*$/i.test(cells[0] ?? '')) continue;
    if (cells.length < 2) throw csvError(file, lineNo, 'value', `expected 2 fields "timestamp,value", found ${cells.length}`);
    const stamp = (cells[0] ?? '').trim();
    const ts = parseTimestamp(stamp);
    if (!Number.isFinite(ts)) throw csvError(file, lineNo, 'timestamp', `not a date/time: "${stamp}"`);
    const raw = (cells[1] ?? '').trim();
    const value = raw === '' ? NaN : Number(raw);
    if (!Number.isFinite(value)) throw csvError(file, lineNo, 'value', `not a number: "${raw}"`);
    // Real logs step back now and then (clock corrections, repeated hours): keep file order, as a
    // live feed would deliver it, and tell the user once.
    if (ts < prevTs && backwards.length < 1) backwards.push(lineNo);
    prevTs = ts;
    rows.push({ timestamp: stamp, ts, value });
  }
  if (backwards.length > 0 && warn) warn(`${file}:${backwards[0] ?? 0}: timestamp goes back in time; rows are scored in file order`);
  return rows;
}

function firstContentLine(lines: readonly string[]): number {
  return lines.findIndex((l) => l.trim() !== '');
}

async function write(out: Writable, chunk: string): Promise<void> {
  if (!out.write(chunk)) await once(out, 'drain');
}

/**
 * Scores `inputPath` and writes `timestamp,value,anomaly_score,state` to `outputPath` (stdout when
 * undefined). Throws SwarmgateError('SWG_ERR_INPUT_CSV') naming file, line and field on bad input.
 */
export async function scoreCsv(inputPath: string, outputPath: string | undefined, options: ScoreCsvOptions = {}): Promise<ScoreCsvResult> {
  const started = Date.now();
  const progress = options.progress ?? true;
  const rows = await readSeriesCsv(inputPath, progress ? (m) => process.stderr.write(`warning: ${m}\n`) : undefined);
  const detector = new PointDetector(options.detector, inputPath, options.modelSource);
  const out: Writable = outputPath ? createWriteStream(outputPath) : process.stdout;
  const step = Math.max(1, Math.floor(rows.length / 10));
  let maxScore = 0;
  let alerts = 0;
  let learningRows = 0;
  let buffer = 'timestamp,value,anomaly_score,state\n';
  try {
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i] as CsvRow;
      const s = await detector.score(row.ts, row.value);
      if (s > maxScore) maxScore = s;
      if (s >= detector.options.alertLevel) alerts++;
      const { phase } = detector.detail;
      if (phase === 'learning') learningRows++;
      buffer += `${row.timestamp},${row.value},${s.toPrecision(8)},${phase}\n`;
      if (buffer.length > 65536) {
        await write(out, buffer);
        buffer = '';
      }
      if (progress && (i + 1) % step === 0) {
        process.stderr.write(`score ${inputPath}: ${i + 1}/${rows.length} rows (${Math.round(((i + 1) / rows.length) * 100)}%)\n`);
      }
    }
    await write(out, buffer);
  } finally {
    if (outputPath) {
      out.end();
      await once(out, 'finish');
    }
  }
  if (options.saveDir) await detector.save(options.saveDir);
  else await detector.idle();
  return { rows: rows.length, seconds: (Date.now() - started) / 1000, maxScore, alerts, learningRows };
}
