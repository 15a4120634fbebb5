/**
 * `npm run bench [-- --only name,name]`: runs the benchmarks and writes bench/results/latest.json.
 * Speed targets are ratios against a baseline measured in the same run where one exists, so the
 * figures mean the same on a Pi and on a CI box.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { progress, type BenchEntry } from './results.js';

type Bench = () => Promise<BenchEntry[]>;

const benches: Record<string, Bench> = {
  modbus: async () => (await import('./modbus.js')).benchModbus(),
  pipeline: async () => (await import('./pipeline.js')).benchPipeline(),
  rss: async () => (await import('./rss.js')).benchGatewayRss(),
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
