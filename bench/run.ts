/**
 * `npm run bench [-- --only name,name]`: runs the benchmarks and writes bench/results/latest.json.
 * Speed targets are ratios against a baseline measured in the same run where one exists, so the
 * figures mean the same on a Pi and on a CI box.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { atLeast, atMost, progress, type BenchEntry } from './results.js';

type Bench = () => Promise<BenchEntry[]>;

const benches: Record<string, Bench> = {
  modbus: async () => (await import('./modbus.js')).benchModbus(),
  bacnet: async () => (await import('./bacnet.js')).benchBacnet(),
  pipeline: async () => (await import('./pipeline.js')).benchPipeline(),
  rss: async () => (await import('./rss.js')).benchGatewayRss(),
  nab: async () => {
    const r = await (await import('./nab.js')).runNab({ verbose: true });
    const bytes = await (await import('./analytics.js')).memoryPerPoint();
    const note = `shared 35-series NAB split, one detector configuration; ${r.rows} readings in ${r.seconds.toFixed(0)} s`;
    return [
      atLeast('nab_standard_score', Number(r.standard.toFixed(1)), 'points', 68, `${note}; ARTime 67.85, Numenta HTM 66.59 on this split`),
      { name: 'nab_low_fp_score', value: Number(r.lowFp.toFixed(1)), unit: 'points', notes: note },
      { name: 'nab_low_fn_score', value: Number(r.lowFn.toFixed(1)), unit: 'points', notes: note },
      atMost('analytics_cost_per_reading', r.cpuUsPerReading, 'us', 150, `CPU per reading over the NAB run: scoring + every forecaster training (wall ${r.usPerReading} us)`),
      { name: 'nab_memory_per_point', value: Math.round(bytes / 1024), unit: 'KiB', notes: 'heap + array buffers per detector with a trained model, default options (as analytics_memory_per_point)' },
    ];
  },
  'fleet-prior': async () => (await import('./fleet-prior.js')).benchFleetPrior(),
  'nab-cv': async () => (await import('./nab-cv.js')).benchNabCv(),
  'nab-prior': async () => (await import('./nab-prior.js')).benchNabPrior(),
  analytics: async () => (await import('./analytics.js')).benchAnalytics(),
  agents: async () => (await import('./agents.js')).benchAgents(),
  review: async () => (await import('./review.js')).benchReview(),
  api: async () => (await import('./api.js')).benchApi(),
  federation: async () => (await import('./federation.js')).benchFederation(),
  deployment: async () => (await import('./deployment.js')).benchDeployment(),
  enrollment: async () => (await import('./enrollment.js')).benchEnrollment(),
  store: async () => (await import('./store.js')).benchStore(),
  connections: async () => (await import('./connections.js')).benchConnections(),
  'multi-hub': async () => (await import('./multi-hub.js')).benchMultiHub(),
  incidents: async () => (await import('./incidents.js')).benchIncidents(),
};

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { only: { type: 'string' }, out: { type: 'string' } } });
  const selected = values.only ? values.only.split(',') : Object.keys(benches);
  const results: BenchEntry[] = [];
  const failures: { bench: string; error: string }[] = [];
  for (const name of selected) {
    const bench = benches[name];
    if (!bench) throw new Error(`unknown bench "${name}"; known: ${Object.keys(benches).join(', ')}`);
    progress(`${name}: running`);
    const started = Date.now();
    try {
      const entries = await bench();
      results.push(...entries);
      for (const e of entries) progress(`${e.name}: ${e.value} ${e.unit}${e.ratio !== undefined ? ` (ratio ${e.ratio} vs ${e.baseline?.name})` : ''}${e.target ? ` target ${e.target}: ${e.meetsTarget ? 'met' : 'NOT met'}` : ''}`);
    } catch (err) {
      failures.push({ bench: name, error: err instanceof Error ? err.message : String(err) });
      progress(`${name}: FAILED ${err instanceof Error ? err.stack : String(err)}`);
    }
    progress(`${name}: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  const out = values.out ?? join(dirname(fileURLToPath(import.meta.url)), 'results', 'latest.json');
  mkdirSync(dirname(out), { recursive: true });
  const doc = { ranAt: new Date().toISOString(), node: process.version, cpus: (await import('node:os')).cpus().length, results, failures };
  writeFileSync(out, `${JSON.stringify(doc, null, 2)}\n`);
  progress(`wrote ${out}`);
  process.exitCode = failures.length > 0 ? 1 : 0;
}

await main();
