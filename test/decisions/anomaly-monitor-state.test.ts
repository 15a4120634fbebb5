/**
 * The anomaly monitor's saved state and time base (review findings of edge/decisions/anomaly-monitor.ts):
 * a damaged monitor.json keeps the intact detector; NTP clock steps neither arm a point early nor
 * drop readings; the config's detector options apply to a saved detector; the readings waiting to
 * join the learned range stay bounded whatever the sample rate; a point still learning gives
 * rules no score and the advisor no weight. Short runs without forecaster training (minTrain
 * high) unless a test needs one.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AnalyticsConfig } from '../../edge/analytics/schema.js';
import { Advisor } from '../../edge/decisions/advisor/index.js';
import type { AnomalyEvidence } from '../../edge/decisions/advisor/index.js';
import { AnomalyMonitor } from '../../edge/decisions/anomaly-monitor.js';
import { MemoryReporter } from '../../edge/decisions/rules/reporter.js';
import type { GatewayPort } from '../../edge/runtime/ports.js';
import { createLogger } from '../../shared/kit/log.js';
import { tempDir } from '../support/tmp.js';

const log = createLogger('test', 'silent');
const noGateway = { id: 'gw-test', log, onSample: () => () => undefined, latest: () => undefined };
const MIN = 60_000;
const T0 = Date.UTC(2025, 5, 2, 6);
/** No forecaster training: these tests are about the monitor's own state. */
const NO_TRAINING = { minTrain: 1_000_000 };

function value(k: number): number {
  return 21 + 3 * Math.sin((2 * Math.PI * k) / 1440) + 0.05 * Math.sin(k * 7);
}

describe('anomaly monitor: saved state and time base', () => {
  const dirs: Array<{ path: string; remove: () => void }> = [];
  const dir = (): string => {
    const d = tempDir('swarmgate-anomaly-state-');
    dirs.push(d);
    return d.path;
  };
  afterAll(() => dirs.forEach((d) => d.remove()));

  const start = (dataDir: string, config: Partial<AnalyticsConfig> = {}, reporter = new MemoryReporter()): Promise<AnomalyMonitor> =>
    AnomalyMonitor.start({ gateway: noGateway, reporter, dataDir, log, config: { detector: NO_TRAINING, ...config, points: config.points ?? [{ point: 'ahu/t' }] } });

  async function feed(m: AnomalyMonitor, from: number, count: number, ts: (k: number) => number): Promise<void> {
    for (let k = from; k < from + count; k++) {
      m.ingest({ device: 'ahu', point: 't', value: value(k), quality: 'good', ts: ts(k) });
      if (k % 100 === 0) await m.idle();
    }
    await m.idle();
  }

  const modelDir = (dataDir: string): string => join(dataDir, 'models', 'ahu', 't');
  const savedDetector = (dataDir: string): { seen: number; values: number[]; options: { alertLevel: number; maxHistory: number; retrainEvery: number; warmup: number; forecaster: { epochs: number } } } =>
    JSON.parse(readFileSync(join(modelDir(dataDir), 'detector.json'), 'utf8')) as never;

  it.each([
    ['empty', ''],
    ['truncated', '{"v":2,"observed":1200000,"gaps":[60000,6'],
    ['not an object', '[1,2,3]'],
  ])('a damaged monitor.json (%s) keeps the intact detector, also after the next save', async (_name, text) => {
    const dataDir = dir();
    let m = await start(dataDir, { learningHours: 1 });
    await feed(m, 0, 200, (k) => T0 + k * MIN);
    await m.stop();
    writeFileSync(join(modelDir(dataDir), 'monitor.json'), text);

    m = await start(dataDir, { learningHours: 1 });
    // The detector continues; the monitor's own checks learn again (their state was lost).
    expect(m.status('ahu', 't')).toMatchObject({ readings: 200, learning: true });
    await feed(m, 200, 1, (k) => T0 + k * MIN);
    await m.stop();
    expect(savedDetector(dataDir).seen).toBe(201);
    expect(JSON.parse(readFileSync(join(modelDir(dataDir), 'monitor.json'), 'utf8'))).toMatchObject({ v: 2, firstTs: T0 + 200 * MIN });
  });

  it('an unreadable detector.json still keeps the monitor\'s own learning (range, learning time)', async () => {
    const dataDir = dir();
    let m = await start(dataDir, { learningHours: 1 });
    await feed(m, 0, 200, (k) => T0 + k * MIN);
    expect(m.status('ahu', 't')?.learning).toBe(false);
    await m.stop();
    writeFileSync(join(modelDir(dataDir), 'detector.json'), '{"version":1,');
    m = await start(dataDir, { learningHours: 1 });
    expect(m.status('ahu', 't')).toMatchObject({ readings: 0, learning: false });
    await m.stop();
  });

  it('saves leave no temp files behind', async () => {
    const dataDir = dir();
    const m = await start(dataDir);
    await feed(m, 0, 60, (k) => T0 + k * MIN);
    await m.save();
    await m.stop();
    const files = ['detector.json', 'monitor.json'].map((f) => join(modelDir(dataDir), f));
    expect(files.every((f) => existsSync(f))).toBe(true);
    expect(existsSync(`${files[1]}.${process.pid}.tmp`)).toBe(false);
  });

  it('a forward clock step (RTC-less gateway corrected by NTP) neither ends learning nor matures the range at once', async () => {
    const image = Date.UTC(2024, 0, 10);
    const reporter = new MemoryReporter();
    const m = await start(dir(), { learningHours: 2 }, reporter);
    await feed(m, 0, 90, (k) => image + k * MIN);
    // NTP steps the clock 17 months ahead.
    await feed(m, 90, 10, (k) => T0 + k * MIN);
    let s = m.status('ahu', 't');
    expect(s?.learning).toBe(true);
    expect(s?.range).toBeUndefined(); // no value waited its 6 h yet
    expect(m.score('ahu', 't')).toBeUndefined();
    // Two hours of readings in all (99 min + 21 min) end the learning period.
    await feed(m, 100, 21, (k) => T0 + k * MIN);
    s = m.status('ahu', 't');
    expect(s?.learning).toBe(false);
    expect(reporter.events).toEqual([]);
    await m.stop();
  });

  it('a backward clock step loses no reading, also across a restart with the saved later time', async () => {
    const dataDir = dir();
    let m = await start(dataDir, { learningHours: 24 });
    const ahead = 2 * 3_600_000;
    await feed(m, 0, 100, (k) => T0 + ahead + k * MIN);
    await feed(m, 100, 50, (k) => T0 + k * MIN); // stepped 2 h back
    expect(m.status('ahu', 't')?.readings).toBe(150);
    expect(m.status('ahu', 't')?.lastTs).toBe(T0 + 149 * MIN);
    await m.stop();

    // A clock ahead when the state was saved, right after the restart.
    const saved = dataDir;
    m = await start(saved);
    await feed(m, 150, 10, (k) => T0 - ahead + k * MIN);
    expect(m.status('ahu', 't')?.readings).toBe(160);
    await m.stop();
    // Learning time never went back: 159 readings a minute apart = 159 min observed.
    expect(JSON.parse(readFileSync(join(modelDir(saved), 'monitor.json'), 'utf8'))).toMatchObject({ observed: 159 * MIN });
  });

  it('a saved detector takes the configured threshold, maxHistory, retrainEvery and epochs', async () => {
    const dataDir = dir();
    let m = await start(dataDir, { threshold: 0.9 });
    await feed(m, 0, 300, (k) => T0 + k * MIN);
    await m.stop();
    expect(savedDetector(dataDir).options).toMatchObject({ alertLevel: 0.9, maxHistory: 2600 });

    m = await start(dataDir, { threshold: 0.6, detector: { ...NO_TRAINING, maxHistory: 200, retrainEvery: 500, epochs: 2 } });
    expect(m.status('ahu', 't')?.readings).toBe(300);
    await feed(m, 300, 1, (k) => T0 + k * MIN);
    await m.stop();
    const d = savedDetector(dataDir);
    expect(d.options).toMatchObject({ alertLevel: 0.6, maxHistory: 200, retrainEvery: 500, forecaster: { epochs: 2 } });
    expect(d.seen).toBe(301);
    expect(d.values).toHaveLength(200);
  });

  it('readings waiting to join the learned range stay bounded at 1 s sampling (per-minute buckets)', async () => {
    const dataDir = dir();
    const m = await start(dataDir);
    const n = 2 * 3600; // two hours at 1 s
    for (let i = 0; i < n; i++) {
      m.ingest({ device: 'ahu', point: 't', value: 20 + Math.sin(i / 100) + ((i * 7919) % 13) * 1e-3, quality: 'good', ts: T0 + i * 1000 });
      if (i % 1000 === 0) await m.idle();
    }
    await m.idle();
    await m.save();
    const file = join(modelDir(dataDir), 'monitor.json');
    const side = JSON.parse(readFileSync(file, 'utf8')) as { pending: unknown[] };
    expect(side.pending.length).toBeLessThanOrEqual(121);
    expect(statSync(file).size).toBeLessThan(20_000);
    await m.stop();
  });

  it('the learned range is the same from buckets: values join it 6 h later, as many as were read', async () => {
    const m = await start(dir());
    // Every 10 s for 6.5 h; a learned range needs values 6 h old.
    const n = 6.5 * 360;
    const v = (i: number): number => 20 + 2 * Math.sin(i / 50);
    for (let i = 0; i < n; i++) {
      m.ingest({ device: 'ahu', point: 't', value: v(i), quality: 'good', ts: T0 + i * 10_000 });
      if (i % 500 === 0) await m.idle();
    }
    await m.idle();
    // 2340 readings: the newest bucket 6 h old holds reading 179 (its minute's last), so exactly
    // readings 0..179 have joined, as they did one by one.
    const matured = Array.from({ length: 180 }, (_, i) => v(i));
    expect(m.status('ahu', 't')?.range).toEqual([Math.min(...matured), Math.max(...matured)]);
    await m.stop();
  });

  it('a point still learning gives rules no score and the advisor no weight; once learned, both', async () => {
    const m = await start(dir(), { learningHours: 4 });
    await feed(m, 0, 200, (k) => T0 + k * MIN);
    // A sudden jump while learning (a first defrost): the detector's score is high...
    m.ingest({ device: 'ahu', point: 't', value: 40, quality: 'good', ts: T0 + 200 * MIN });
    await m.idle();
    const status = m.status('ahu', 't');
    expect(status?.learning).toBe(true);
    // ...but rules see none ("anomaly above X" is never true while learning)...
    expect(m.score('ahu', 't')).toBeUndefined();
    // ...and the advisor's strategies get it at no weight.
    const seen: Array<AnomalyEvidence | undefined> = [];
    const gateway = {
      id: 'gw-test',
      log,
      config: { devices: [{ id: 'ahu', points: [{ name: 't', writable: false }] }] },
      latest: () => undefined,
      onSample: () => () => undefined,
      onWrite: () => () => undefined,
    } as unknown as GatewayPort;
    const probe = {
      kind: 'probe',
      description: 'records the anomaly evidence',
      actionClass: 'energy',
      roles: { required: ['t'], optional: [], written: [], kinds: { t: 'number' } },
      defaults: {},
      propose: (ctx: { anomaly(role: string): AnomalyEvidence | undefined }) => {
        seen.push(ctx.anomaly('t'));
        return [];
      },
    };
    const advisor = new Advisor({ gateway, anomaly: m, reporter: new MemoryReporter(), log, strategies: new Map([['probe', probe as never]]), config: { strategies: [{ kind: 'probe', bindings: { t: 'ahu/t' } }] } as never });
    await advisor.runOnce();
    expect(seen[0]).toMatchObject({ score: 0, learning: true });
    expect(status?.score).toBeGreaterThan(0.5);

    await feed(m, 201, 40, (k) => T0 + k * MIN);
    expect(m.status('ahu', 't')?.learning).toBe(false);
    expect(m.score('ahu', 't')).toBeTypeOf('number');
    await advisor.runOnce();
    expect(seen[1]?.learning).toBeUndefined();
    expect(seen[1]?.score).toBe(m.status('ahu', 't')?.score);
    await m.stop();
  });
});
