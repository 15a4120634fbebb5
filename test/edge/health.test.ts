/**
 * The health agent: each check's thresholds, then the agent on a real gateway process against the
 * simulated building — a device that stays down gets its driver restarted and the hub hears of it
 * once; a gateway over its memory budget sheds anomaly scoring; the verdicts ride in the state.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFacility, type Facility } from '../../devices/facility.js';
import { startEdgeApp, type EdgeApp } from '../../edge/app.js';
import { loadConfig } from '../../edge/config/load.js';
import { builtinDrivers } from '../../edge/drivers/builtin.js';
import { evaluateHealth, worstStatus, type HealthSample } from '../../edge/health/checks.js';
import { healthLimits } from '../../edge/health/schema.js';
import type { GatewayEvent } from '../../shared/wire/messages.js';
import { writeAhuGateway } from '../support/ahu-gateway.js';
import { tempDir } from '../support/tmp.js';

const MB = 1024 * 1024;
const limits = healthLimits({ memoryBudgetMB: 200, minFreeDiskMB: 100, maxLoopDelayMs: 100, deviceDownRestartS: 600, maxClockSkewS: 5 });
const healthy: HealthSample = { loopDelayMs: 20, rssBytes: 100 * MB, diskFreeBytes: 10_000 * MB, outbox: { bytes: MB, maxBytes: 64 * MB, growingWhileConnected: false }, devicesDown: [], devicesTotal: 3, clockSkewMs: 300 };
const statusOf = (sample: Partial<HealthSample>, name: string): string | undefined => evaluateHealth({ ...healthy, ...sample }, limits).find((c) => c.name === name)?.status;

describe('health checks', () => {
  it('finds a healthy gateway healthy, every check ok', () => {
    const checks = evaluateHealth(healthy, limits);
    expect(checks.map((c) => c.name)).toEqual(['event-loop', 'memory', 'disk', 'outbox', 'devices', 'clock']);
    expect(worstStatus(checks)).toBe('ok');
  });

  it('outbox: dead letters are a warning naming how many and the command that lists them', () => {
    const outbox = evaluateHealth({ ...healthy, outbox: { bytes: MB, maxBytes: 64 * MB, growingWhileConnected: false, deadLetters: 1 } }, limits).find((c) => c.name === 'outbox');
    expect(outbox).toEqual({ name: 'outbox', status: 'warn', detail: '1 MB of 64 MB, 1 dead letter the broker refused (swarmgate edge dead-letters list)' });
  });

  it.each([
    ['event-loop', { loopDelayMs: 150 }, 'warn'],
    ['event-loop', { loopDelayMs: 500 }, 'critical'],
    ['memory', { rssBytes: 170 * MB }, 'warn'],
    ['memory', { rssBytes: 210 * MB }, 'critical'],
    ['disk', { diskFreeBytes: 150 * MB }, 'warn'],
    ['disk', { diskFreeBytes: 50 * MB }, 'critical'],
    ['outbox', { outbox: { bytes: 40 * MB, maxBytes: 64 * MB, growingWhileConnected: false } }, 'warn'],
    ['outbox', { outbox: { bytes: MB, maxBytes: 64 * MB, growingWhileConnected: true } }, 'warn'],
    ['outbox', { outbox: { bytes: 60 * MB, maxBytes: 64 * MB, growingWhileConnected: false } }, 'critical'],
    ['outbox', { outbox: { bytes: MB, maxBytes: 64 * MB, growingWhileConnected: false, deadLetters: 2 } }, 'warn'],
    ['devices', { devicesDown: [{ id: 'ahu1', downForMs: 60_000 }] }, 'ok'],
    ['devices', { devicesDown: [{ id: 'ahu1', downForMs: 700_000 }] }, 'warn'],
    ['devices', { devicesDown: [{ id: 'a', downForMs: 7e5 }, { id: 'b', downForMs: 7e5 }, { id: 'c', downForMs: 7e5 }] }, 'critical'],
    ['clock', { clockSkewMs: -8000 }, 'warn'],
    ['clock', { clockSkewMs: 120_000 }, 'critical'],
  ] as const)('%s: %j is %s', (name, sample, status) => {
    expect(statusOf(sample, name)).toBe(status);
  });

  it('leaves out what it cannot measure (no disk figure, no hub yet)', () => {
    const { diskFreeBytes: _d, clockSkewMs: _c, outbox: _o, ...rest } = healthy;
    expect(evaluateHealth(rest, limits).map((c) => c.name)).toEqual(['event-loop', 'memory', 'devices']);
  });

  it('names the device and how long it has been down', () => {
    const devices = evaluateHealth({ ...healthy, devicesDown: [{ id: 'ahu1', downForMs: 900_000 }] }, limits).find((c) => c.name === 'devices');
    expect(devices?.detail).toBe('down for long: ahu1 (15 min)');
  });
});

describe('health agent on a gateway process', () => {
  const dir = tempDir('swarmgate-health-');
  let facility: Facility;
  let app: EdgeApp;
  const events: GatewayEvent[] = [];

  beforeAll(async () => {
    facility = await startFacility({ dataDir: dir.path, seed: 9 });
    const file = writeAhuGateway(dir.path, facility, {
      id: 'gw-health',
      intervalMs: 200,
      extra: `analytics:
  points:
    - { point: ahu1/supply_air_temp, intervalMs: 200 }
health: { intervalS: 1, memoryBudgetMB: 32, deviceDownRestartS: 10 }
`,
    });
    app = await startEdgeApp(loadConfig(file, builtinDrivers()), builtinDrivers(), {
      log: pino({ level: 'silent' }),
      reporter: { event: (e) => void events.push(e), review: () => undefined },
    });
  });

  afterAll(async () => {
    await app?.stop(true);
    await facility?.stop();
    dir.remove();
  });

  const until = async (what: string, ok: () => boolean, timeoutMs: number): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  it('over its memory budget: reports memory critical once and sheds anomaly scoring', async () => {
    await until('a memory verdict', () => app.health?.checks.some((c) => c.name === 'memory') ?? false, 5000);
    expect(app.health?.checks.find((c) => c.name === 'memory')).toMatchObject({ status: 'critical', detail: expect.stringMatching(/of a 32 MB budget/) });
    expect(app.health?.status).toBe('critical');
    await until('shedding', () => app.local.monitor?.shedding === true, 5000);
    await new Promise((r) => setTimeout(r, 2500));
    const memoryEvents = events.filter((e) => e.data?.check === 'memory');
    expect(memoryEvents).toHaveLength(1);
    expect(memoryEvents[0]).toMatchObject({ kind: 'system', severity: 'critical', gateway: 'gw-health' });
    expect(events.some((e) => e.data?.remedy === 'shed-analytics')).toBe(true);
  });

  it('a device down for long: its driver is restarted, the hub hears of it, and it comes back', async () => {
    const id = facility.faults.inject({ kind: 'offline', device: 'ahu' });
    try {
      await until('the device to go down', () => app.gateway.deviceStates().ahu1?.state === 'down', 10_000);
      await until('a driver restart', () => events.some((e) => e.data?.remedy === 'restart-driver' && e.device === 'ahu1'), 20_000);
      // The check's verdict as reported (its current state may already be 'starting' again: the restarted driver).
      const critical = events.filter((e) => e.data?.check === 'devices' && e.severity === 'critical');
      expect(critical).toHaveLength(1);
      expect(critical[0]?.message).toMatch(/^health: devices critical: down for long: ahu1/);
    } finally {
      facility.faults.clear(id);
    }
    await until('the restarted driver to read again', () => app.gateway.deviceStates().ahu1?.state === 'up', 15_000);
    await until('devices ok again', () => app.health?.checks.find((c) => c.name === 'devices')?.status === 'ok', 5000);
    expect(events.some((e) => e.data?.check === 'devices' && e.severity === 'info')).toBe(true);
  });
});
