/**
 * Web API and review page benchmarks on loopback:
 *   - latency p50/p99 of the review list (200 items) under concurrent load;
 *   - latency p50/p99 of a point's history over 30 days at 1-minute resolution (43,200 readings in
 *     the store) downsampled to 1-hour buckets, under the same load;
 *   - page weight: bytes transferred on the first load of the review page for a logged-in
 *     technician (headers + bodies of every response, measured by chromium), target <= 150 kB.
 *
 *   npx tsx bench/api.ts
 */
import { performance } from 'node:perf_hooks';
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Accounts, startApi, type RunningApi } from '../hub/api/index.js';
import { sqlFor } from '../hub/db/sql.js';
import { CommandService } from '../hub/commands/service.js';
import { HubEvents } from '../hub/events.js';
import { featureMigrations } from '../hub/features.js';
import { GatewayRegistry } from '../hub/registry/registry.js';
import { ReviewService } from '../hub/review/index.js';
import { SqliteStore } from '../hub/store/sqlite/sqlite.js';
import { buildWeb } from '../hub/web/build.js';
import { tempDir } from '../test/support/tmp.js';
import { atMost, progress, type BenchEntry } from './results.js';

const DAY = 86_400_000;
const CONCURRENCY = 16;
const PASSWORD = 'bench-password-1';

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

const ms2 = (x: number): number => Math.round(x * 100) / 100;

/** `total` requests with at most `concurrency` in flight; latencies in ms, sorted. */
async function load(url: string, headers: Record<string, string>, total: number, concurrency = CONCURRENCY): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      next += 1;
      const t0 = performance.now();
      const res = await fetch(url, { headers });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return latencies.sort((a, b) => a - b);
}

async function seed(store: SqliteStore, review: ReviewService, now: number): Promise<void> {
  await store.upsertGateway({ gateway: 'gw-1', site: 'site-a', status: 'online', lastSeen: now }, now);
  const minutes = 30 * 24 * 60;
  const start = now - minutes * 60_000;
  for (let seq = 0, i = 0; i < minutes; seq += 1) {
    const readings = [];
    for (let k = 0; k < 5000 && i < minutes; k += 1, i += 1) readings.push({ d: 'ahu1', p: 'temp', v: 21 + 2 * Math.sin(i / 720), q: 'good' as const, ts: start + i * 60_000 });
    await store.ingestBatch({ v: 1, gateway: 'gw-1', bootId: 'boot-bench', seq, sentAt: now, historical: true, readings });
  }
  for (let i = 0; i < 200; i += 1) {
    await review.submit({
      id: `rv-${String(i).padStart(4, '0')}`,
      site: 'site-a',
      gateway: 'gw-1',
      priority: (i * 37) % 101,
      source: 'gateway',
      actionClass: 'setpoint',
      action: { kind: 'write', device: 'ahu1', point: 'setpoint', value: 20 + (i % 5) },
      confidence: 0.5,
      rationale: 'bench item',
      evidence: { telemetry: [{ device: 'ahu1', point: 'temp', samples: Array.from({ length: 60 }, (_, k) => ({ ts: now - k * 60_000, value: 21 + k / 60 })) }] },
    });
  }
}

async function pageWeight(api: RunningApi): Promise<number | undefined> {
  if (!existsSync('/usr/bin/chromium')) {
    progress('api: chromium not found (apt-get install -y chromium): page weight skipped');
    return undefined;
  }
  const { chromium } = await import('playwright-core');
  const profile = tempDir('swarmgate-bench-chromium-');
  const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
  const context = await chromium.launchPersistentContext(profile.path, { executablePath: '/usr/bin/chromium', headless: true, args, viewport: { width: 390, height: 844 } });
  try {
    const login = await context.request.post(`${api.url}/api/v1/auth/login`, { data: { username: 'tech', password: PASSWORD } });
    if (!login.ok()) throw new Error(`bench login failed: ${login.status()}`);
    const page = context.pages()[0] ?? (await context.newPage());
    const finished: Promise<number>[] = [];
    page.on('requestfinished', (request) => {
      finished.push(request.sizes().then((s) => s.responseBodySize + s.responseHeadersSize));
    });
    await page.goto(api.url, { waitUntil: 'load' });
    await page.locator('.cards a.card').first().waitFor();
    await page.waitForTimeout(300);
    return (await Promise.all(finished)).reduce((a, b) => a + b, 0);
  } finally {
    await context.close();
    profile.remove();
  }
}

export async function benchApi(): Promise<BenchEntry[]> {
  const dir = tempDir('swarmgate-bench-api-');
  const store = SqliteStore.open({ path: `${dir.path}/hub.db`, migrations: featureMigrations('sqlite') });
  const events = new HubEvents();
  const commands = new CommandService({ store, events, timeoutMs: 60_000, retries: 0, publish: async () => undefined });
  const review = await ReviewService.open({ store, commands });
  let api: RunningApi | undefined;
  try {
    const now = Date.now();
    progress('api: seeding 43,200 readings and 200 review items');
    await seed(store, review, now);
    await buildWeb();
    api = await startApi({ store, commands, registry: new GatewayRegistry({ store, events }), events, review, config: { host: '127.0.0.1', port: 0 } });
    const accounts = new Accounts(sqlFor(store), { sessionTtlMs: 3_600_000 });
    await accounts.createUser('tech', 'technician', PASSWORD);
    const headers = { authorization: `Bearer ${(await accounts.createToken('bench', 'viewer', 'bench')).token}` };

    const listUrl = `${api.url}/api/v1/reviews?state=pending&limit=200`;
    const historyUrl = `${api.url}/api/v1/gateways/gw-1/points/ahu1/temp/history?from=${now - 30 * DAY}&to=${now}&bucketMs=3600000`;
    const check = (await (await fetch(historyUrl, { headers })).json()) as { buckets: { count: number }[] };
    const counted = check.buckets.reduce((s, b) => s + b.count, 0);
    await load(listUrl, headers, 100); // warm-up
    let t0 = performance.now();
    const list = await load(listUrl, headers, 2000);
    const listRps = Math.round(2000 / ((performance.now() - t0) / 1000));
    await load(historyUrl, headers, 50);
    t0 = performance.now();
    const history = await load(historyUrl, headers, 1000);
    const historyRps = Math.round(1000 / ((performance.now() - t0) / 1000));
    const weight = await pageWeight(api);
    const note = `${CONCURRENCY} concurrent clients on loopback, API token auth, SQLite, load average ${loadavg()[0]?.toFixed(1)} on ${cpus().length} CPUs`;
    const entries: BenchEntry[] = [
      { name: 'api_review_list_p50', value: ms2(quantile(list, 0.5)), unit: 'ms', notes: `200 items per response; ${note}` },
      { name: 'api_review_list_throughput', value: listRps, unit: 'req/s', notes: note },
      atMost('api_review_list_p99', ms2(quantile(list, 0.99)), 'ms', 250, `200 items per response; ${note}`),
      { name: 'api_point_history_30d_p50', value: ms2(quantile(history, 0.5)), unit: 'ms', notes: `${counted} readings → ${check.buckets.length} 1-hour buckets; ${note}` },
      { name: 'api_point_history_30d_throughput', value: historyRps, unit: 'req/s', notes: note },
      atMost('api_point_history_30d_p99', ms2(quantile(history, 0.99)), 'ms', 500, `${counted} readings → ${check.buckets.length} 1-hour buckets; ${note}`),
    ];
    if (weight !== undefined) entries.push(atMost('review_page_first_load', Math.round(weight / 100) / 10, 'kB', 150, 'logged-in first load at 390x844: html, js, css, me, review list (headers + bodies as transferred), measured by chromium'));
    return entries;
  } finally {
    await api?.close();
    commands.stop();
    await review.stop();
    await store.close();
    dir.remove();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const r of await benchApi()) console.log(`${r.name.padEnd(32)} ${String(r.value).padStart(10)} ${r.unit}${r.target ? `  (target ${r.target}: ${r.meetsTarget ? 'met' : 'NOT met'})` : ''}  ${r.notes ?? ''}`);
}
