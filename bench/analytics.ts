/**
 * The anomaly detector's cost on each TensorFlow.js backend, in the same run: WASM (the default)
 * against the pure-JS CPU backend. Each backend runs in its own child process (TF.js picks one
 * backend per process): training time of one model, scoring cost per reading with a trained
 * model, and readings/s through the detector on one core including background retraining.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PointDetector, selectBackend, type BackendName } from '../edge/analytics/index.js';
import { atMost, progress, type BenchEntry } from './results.js';

interface ChildResult {
  readonly backend: BackendName;
  readonly trainMs: number;
  readonly scoreUs: number;
  readonly readingsPerS: number;
  /** Heap + array buffers per monitored point (detectors with a trained model, after GC). */
  readonly bytesPerPoint: number;
}

/** Detectors built for the memory figure (their rings are allocated in full at construction). */
const MEMORY_POINTS = 16;

/** The global gc(), exposed on demand (a bench may run without --expose-gc). */
function collector(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

function heapBytes(): number {
  const gc = collector();
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/**
 * Memory per point: MEMORY_POINTS detectors, each past its first training (so it holds a model),
 * measured as the growth of heap + array buffers after GC, divided by the count. The rings
 * (history, pattern memories, calibration histories) are allocated at their full capacity at
 * construction, so this is the steady-state figure, not one that grows with the readings seen.
 */
export async function memoryPerPoint(data: readonly { ts: number; value: number }[] = series(READINGS)): Promise<number> {
  const before = heapBytes();
  const detectors: PointDetector[] = [];
  for (let k = 0; k < MEMORY_POINTS; k++) {
    const d = new PointDetector({}, `mem${k}`);
    const n = d.options.minTrain + d.options.adoptAfter + 1;
    for (let i = 0; i < n; i++) await d.score(data[i]!.ts, data[i]!.value);
    await d.idle();
    detectors.push(d);
  }
  const after = heapBytes();
  if (detectors.some((d) => !d.hasModel)) throw new Error('memory bench: a detector has no model');
  return (after - before) / MEMORY_POINTS;
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
  const bytesPerPoint = await memoryPerPoint(data);
  return { backend, trainMs, scoreUs: (cpu.user + cpu.system) / n, readingsPerS: n / (wallMs / 1000), bytesPerPoint };
}

export async function benchAnalytics(): Promise<BenchEntry[]> {
  const self = fileURLToPath(import.meta.url);
  const run = async (backend: BackendName): Promise<ChildResult> => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--import', 'tsx', self, backend], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, SWARMGATE_LOG_LEVEL: 'warn' } });
    return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as ChildResult;
  };
  const wasm = await run('wasm');
  const cpu = await run('cpu');
  for (const r of [wasm, cpu]) progress(`analytics ${r.backend}: training ${r.trainMs.toFixed(0)} ms, ${r.scoreUs.toFixed(1)} us CPU/reading, ${r.readingsPerS.toFixed(0)} readings/s, ${Math.round(r.bytesPerPoint / 1024)} KiB/point`);
  return [
    { name: 'analytics_training_ms_wasm', value: Math.round(wasm.trainMs), unit: 'ms', notes: 'one forecaster training (first model, 400 readings, default options) on the WASM backend' },
    { name: 'analytics_training_ms_cpu', value: Math.round(cpu.trainMs), unit: 'ms', notes: 'the same on the CPU backend' },
    {
      name: 'analytics_readings_per_s_wasm',
      value: Math.round(wasm.readingsPerS),
      unit: 'readings/s',
      baseline: { name: 'the same detector on the CPU backend', value: Math.round(cpu.readingsPerS), unit: 'readings/s' },
      ratio: Number((wasm.readingsPerS / cpu.readingsPerS).toFixed(3)),
      notes: `one detector on one core with background retraining (default options); scoring runs in plain JS on the exported weights, so the backend matters for training only; CPU per reading: WASM ${wasm.scoreUs.toFixed(1)} us, CPU backend ${cpu.scoreUs.toFixed(1)} us`,
    },
    atMost('analytics_cpu_us_per_reading_wasm', Number(wasm.scoreUs.toFixed(1)), 'us', 150, 'CPU (user + system) per reading: scoring + its share of the background retraining, trained model, default options'),
    {
      name: 'analytics_memory_per_point',
      value: Math.round(wasm.bytesPerPoint / 1024),
      unit: 'KiB',
      notes: `heap + array buffers per detector with a trained model (${MEMORY_POINTS} detectors, after GC; rings allocated at full capacity, so steady state); CPU backend ${Math.round(cpu.bytesPerPoint / 1024)} KiB`,
    },
    { name: 'analytics_cpu_us_per_reading_cpu', value: Number(cpu.scoreUs.toFixed(1)), unit: 'us', notes: 'the same on the CPU backend' },
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const backend = process.argv[2] as BackendName | undefined;
  if (backend) process.stdout.write(`${JSON.stringify(await child(backend))}\n`);
  else process.stdout.write(`${JSON.stringify(await benchAnalytics(), null, 2)}\n`);
}
