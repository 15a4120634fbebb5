/**
 * Review items/s the queue sustains on the default store (SQLite, WAL): submissions with evidence,
 * then technician decisions (approve/reject, each a conditional update plus an audit row).
 */
import { join } from 'node:path';
import { featureMigrations } from '../hub/features.js';
import { ReviewService } from '../hub/review/index.js';
import { SqliteStore } from '../hub/store/index.js';
import { tempDir } from '../test/support/tmp.js';
import { atLeast, progress, type BenchEntry } from './results.js';

const ITEMS = 2000;

export async function benchReview(): Promise<BenchEntry[]> {
  const dir = tempDir('swarmgate-bench-review-');
  const store = await SqliteStore.open({ path: join(dir.path, 'hub.db'), migrations: featureMigrations('sqlite') });
  try {
    const review = await ReviewService.open({ store });
    const samples = Array.from({ length: 60 }, (_, i) => ({ ts: 1_700_000_000_000 + i * 60_000, value: -18 + Math.sin(i / 10) }));
    const t0 = performance.now();
    for (let i = 0; i < ITEMS; i++) {
      await review.submit({
        id: `bench-item-${i}`,
        site: 'site-a',
        gateway: `gw-${i % 50}`,
        priority: i % 100,
        source: 'gateway',
        actionClass: 'energy',
        action: { kind: 'write', device: 'ahu1', point: 'fan_speed_setpoint', value: 30 + (i % 40) },
        confidence: 0.6,
        rationale: 'zone unoccupied and within band: lower the fan speed',
        evidence: { telemetry: [{ device: 'ahu1', point: 'return_air_temp', samples }] },
      });
    }
    const submitS = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    for (let i = 0; i < ITEMS; i++) {
      if (i % 2 === 0) await review.reject(`bench-item-${i}`, { user: 'tech', reason: 'not now' });
      else await review.approve(`bench-item-${i}`, { user: 'tech' });
    }
    const decideS = (performance.now() - t1) / 1000;
    const t2 = performance.now();
    for (let i = 0; i < 50; i++) await review.list({ state: 'pending', limit: 100 });
    const listMs = (performance.now() - t2) / 50;
    progress(`review: ${ITEMS} submits in ${submitS.toFixed(2)} s, ${ITEMS} decisions in ${decideS.toFixed(2)} s, list ${listMs.toFixed(1)} ms`);
    return [
      atLeast('review_submit_items_per_s', Math.round(ITEMS / submitS), 'items/s', 100, 'review items submitted with a 60-sample telemetry window as evidence, SQLite WAL'),
      atLeast('review_decisions_per_s', Math.round(ITEMS / decideS), 'decisions/s', 100, 'approve/reject: conditional update on (state, version) plus an audit row each (approvals without an executor stay approved)'),
    ];
  } finally {
    await store.close();
    dir.remove();
  }
}
