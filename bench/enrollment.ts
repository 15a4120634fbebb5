/**
 * Enrollment of 1,000 gateways against one hub (embedded broker, SQLite, the web API on
 * loopback): each one the real client (key generation, POST /api/v1/enroll, MAC check, files
 * written), 8 at a time. Reports the per-enrollment time (p50, p99) and the rate; the baseline in
 * the same run is what adding one broker user by hand costs (`swarmgate hub user add`: the same
 * fast hash of a generated secret and credentials-file write), which enrollment cannot go below.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { enrollGateway } from '../edge/enrollment/enroll.js';
import { upsertUser } from '../hub/broker/credentials.js';
import { generatePassword } from '../hub/broker/passwords.js';
import { parseHubConfig } from '../hub/config.js';
import { startHub } from '../hub/index.js';
import { createLogger } from '../shared/kit/log.js';
import { tempDir } from '../test/support/tmp.js';
import { atMost, progress, type BenchEntry } from './results.js';

const GATEWAYS = 1000;
const CONCURRENCY = 8;
const BASELINE_USERS = 200;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function baselineUserAddMs(dir: string): Promise<number> {
  const file = join(dir, 'baseline-users.yaml');
  const times: number[] = [];
  for (let i = 0; i < BASELINE_USERS; i++) {
    const t0 = performance.now();
    await upsertUser(file, { role: 'gateway', username: `base-${i}`, site: 'bench', gateway: `base-${i}` }, generatePassword(), { generated: true });
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return percentile(times, 50);
}

export async function benchEnrollment(): Promise<BenchEntry[]> {
  const dir = tempDir('swg-bench-enroll-');
  try {
    mkdirSync(join(dir.path, 'templates'));
    writeFileSync(join(dir.path, 'templates', 'default.yaml'), 'gateway: { id: x, site: y }\ndevices: []\n');
    const config = parseHubConfig(
      'broker: { embedded: { host: 127.0.0.1, port: 0, credentialsFile: users.yaml } }\nstore: { kind: sqlite, path: hub.db }\napi: { host: 127.0.0.1, port: 0 }\n' +
        'enrollment: { brokerUrl: "mqtts://hub.example:8883", templatesDir: templates }\n',
      join(dir.path, 'hub.yaml'),
    );
    const hub = await startHub(config, { retentionIntervalMs: 0, logger: createLogger('bench-hub', 'warn') });
    try {
      const url = hub.api?.url ?? '';
      const tokens = await hub.enrollment.createTokens({ site: 'bench', count: GATEWAYS, createdBy: 'bench', ttlMs: 3_600_000 });
      const times: number[] = [];
      let next = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          for (;;) {
            const i = next++;
            const token = tokens[i];
            if (!token) return;
            const t0 = performance.now();
            await enrollGateway({ hub: url, token: token.token, out: join(dir.path, 'gw', String(i)) });
            times.push(performance.now() - t0);
            if (times.length % 100 === 0) progress(`enrollment: ${times.length}/${GATEWAYS}`);
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      times.sort((a, b) => a - b);
      const baseline = await baselineUserAddMs(dir.path);
      const p50 = percentile(times, 50);
      const p99 = percentile(times, 99);
      const notes = `${GATEWAYS} gateways, ${CONCURRENCY} at a time, real client over HTTP on loopback; ${(GATEWAYS / seconds).toFixed(1)} enrollments/s; baseline: adding one broker user by hand (hash + credentials file) p50 ${baseline.toFixed(1)} ms`;
      return [
        { name: 'enrollment: per-gateway time p50', value: Number(p50.toFixed(1)), unit: 'ms', baseline: { name: 'hub user add (hash + credentials file) p50', value: Number(baseline.toFixed(1)), unit: 'ms' }, ratio: Number((p50 / baseline).toFixed(2)), notes },
        atMost('enrollment: per-gateway time p99', Number(p99.toFixed(1)), 'ms', 1000, notes),
        { name: 'enrollment: rate', value: Number((GATEWAYS / seconds).toFixed(1)), unit: 'enrollments/s', notes },
      ];
    } finally {
      await hub.stop();
    }
  } finally {
    dir.remove();
  }
}
