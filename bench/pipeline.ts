/**
 * Readings/s through the gateway's pipeline on one core: device runners, quality accounting,
 * latest values, report-by-exception and listeners — everything after the protocol I/O. The
 * source is a bench-only in-memory driver, so the figure is the pipeline's capacity, not a
 * device's speed (the Modbus bench measures that).
 */
import { tmpdir } from 'node:os';
import { createLogger } from '../shared/kit/log.js';
import type { DeviceSpec } from '../edge/drivers/driver.js';
import { DriverRegistry } from '../edge/drivers/registry.js';
import { Gateway } from '../edge/runtime/gateway.js';
import { GatewayMetrics } from '../edge/runtime/metrics.js';
import { atLeast, progress, type BenchEntry } from './results.js';
import { syntheticManifest } from './synthetic-driver.js';

const DEVICES = 20;
const POINTS = 1000;
const SECONDS = 5;

// Every 4th point moves beyond its deadband each poll; the rest jitter inside it.
const source = syntheticManifest((tick, i) => (i % 4 === 0 ? tick : 20 + (tick % 2) * 0.01));

export async function benchPipeline(): Promise<BenchEntry[]> {
  const devices: DeviceSpec[] = Array.from({ length: DEVICES }, (_, d) => ({
    id: `dev${d}`,
    protocol: 'bench-synthetic',
    connection: {},
    points: Array.from({ length: POINTS }, (_, p) => ({ name: `p${p}`, address: {}, writable: false, scale: 1, offset: 0, deadband: 0.5, pollIntervalMs: 10 })),
  }));
  const gateway = new Gateway({
    loaded: { file: 'bench', dataDir: tmpdir(), devices, profiles: new Map(), config: { gateway: { id: 'bench', site: 'bench' }, devices: [], metrics: { enabled: false } } },
    registry: new DriverRegistry([source]),
    log: createLogger('bench', 'warn'),
    metrics: new GatewayMetrics(false),
  });
  let samples = 0;
  let reports = 0;
  gateway.onSample(() => samples++);
  gateway.onReport(() => reports++);
  await gateway.start();
  await new Promise((r) => setTimeout(r, 500));
  const s0 = samples;
  const r0 = reports;
  const cpu0 = process.cpuUsage();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const cpu = process.cpuUsage(cpu0);
  const rate = (samples - s0) / SECONDS;
  const reportRate = (reports - r0) / SECONDS;
  await gateway.stop();
  const cpuShare = (cpu.user + cpu.system) / 1e6 / SECONDS;
  // The offered load (2M readings/s) saturates the thread; readings per CPU-second is the
  // capacity of one core whatever else the machine is doing.
  const perCore = rate / Math.max(cpuShare, 0.01);
  progress(`pipeline: ${rate.toFixed(0)} readings/s, ${reportRate.toFixed(0)} reported/s, CPU ${(cpuShare * 100).toFixed(0)}% of one core`);
  return [
    atLeast('gateway_pipeline_readings_per_core_s', Math.round(perCore), 'readings/s', 10_000, `readings per CPU-second of the gateway thread: ${DEVICES} devices x ${POINTS} points offered every 10 ms; achieved ${Math.round(rate)} readings/s at ${(cpuShare * 100).toFixed(0)}% CPU; ${Math.round(reportRate)} reported/s after deadband`),
  ];
}
