/**
 * The anomaly detector's cost on each TensorFlow.js backend, in the same run: WASM (the default)
 * against the pure-JS CPU backend. Each backend runs in its own child process (TF.js picks one
 * backend per process): training time of one model, scoring cost per reading with a trained
 * model, and readings/s through the detector on one core including background retraining.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PointDetector, selectBackend, type BackendName } from '../edge/analytics/index.js';
import { progress, type BenchEntry } from './results.js';

interface ChildResult {
  readonly backend: BackendName;
  readonly trainMs: number;
  readonly scoreUs: number;
  readonly readingsPerS: number;
}

const READINGS = 4000;

/** A day-cycle signal with noise, one reading a minute. */
function series(n: number): { ts: number; value: number }[] {
  let seed = 7;
  const rand = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647) - 0.5;
  return Array.from({ length: n }, (_, i) => ({ ts: 1_700_000_000_000 + i * 60_000, value: 20 + 3 * Math.sin((2 * Math.PI * i) / 1440) + rand() }));
}

async function child(backend: BackendName): Promise<ChildResult> {
  const got = await selectBackend(backend);
  if (got !== backend) throw new Error(`backend ${backend} unavailable (got ${got})`);
  const data = series(READINGS);
  const detector = new PointDetector({}, 'bench');
  const { minTrain, adoptAfter } = detector.options;
  // Up to the first training, then time the training on its own.
  for (let i = 0; i < minTrain; i++) await detector.score(data[i]!.ts, data[i]!.value);
  const t0 = performance.now();
  await detector.idle();
  const trainMs = performance.now() - t0;
  for (let i = minTrain; i < minTrain + adoptAfter; i++) await detector.score(data[i]!.ts, data[i]!.value);
  // Steady state: scoring with a trained model (retraining runs in the background as on a gateway).
  const from = minTrain + adoptAfter;
  const cpu0 = process.cpuUsage();
  const t1 = performance.now();
  for (let i = from; i < READINGS; i++) await detector.score(data[i]!.ts, data[i]!.value);
  await detector.idle();
  const wallMs = performance.now() - t1;
  const cpu = process.cpuUsage(cpu0);
  const n = READINGS - from;
  return { backend, trainMs, scoreUs: ((cpu.user + cpu.system) / n), readingsPerS: n / (wallMs / 1000) };
}

export async function benchAnalytics(): Promise<BenchEntry[]> {
  const self = fileURLToPath(import.meta.url);
  const run = async (backend: BackendName): Promise<ChildResult> => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', self, backend], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, SWARMGATE_LOG_LEVEL: 'warn' } });
    return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as ChildResult;
  };
  const wasm = await run('wasm');
  const cpu = await run('cpu');
  for (const r of [wasm, cpu]) progress(`analytics ${r.backend}: training ${r.trainMs.toFixed(0)} ms, ${r.scoreUs.toFixed(1)} us CPU/reading, ${r.readingsPerS.toFixed(0)} readings/s`);
  return [
    { name: 'analytics_training_ms_wasm', value: Math.round(wasm.trainMs), unit: 'ms', notes: 'one forecaster training (first model, 400 readings, 3 networks) on the WASM backend' },
    { name: 'analytics_training_ms_cpu', value: Math.round(cpu.trainMs), unit: 'ms', notes: 'the same on the CPU backend' },
    {
      name: 'analytics_readings_per_s_wasm',
      value: Math.round(wasm.readingsPerS),
      unit: 'readings/s',
      baseline: { name: 'the same detector on the CPU backend', value: Math.round(cpu.readingsPerS), unit: 'readings/s' },
      ratio: Number((wasm.readingsPerS / cpu.readingsPerS).toFixed(3)),
      notes: `one detector on one core with background retraining every 800 readings; scoring runs in plain JS on the exported weights, so the backend matters for training only; CPU per reading: WASM ${wasm.scoreUs.toFixed(1)} us, CPU backend ${cpu.scoreUs.toFixed(1)} us`,
    },
    { name: 'analytics_cpu_us_per_reading_wasm', value: Number(wasm.scoreUs.toFixed(1)), unit: 'us', notes: 'scoring + amortised retraining, trained model' },
    { name: 'analytics_cpu_us_per_reading_cpu', value: Number(cpu.scoreUs.toFixed(1)), unit: 'us', notes: 'the same on the CPU backend' },
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const backend = process.argv[2] as BackendName | undefined;
  if (backend) process.stdout.write(`${JSON.stringify(await child(backend))}\n`);
  else process.stdout.write(`${JSON.stringify(await benchAnalytics(), null, 2)}\n`);
}
