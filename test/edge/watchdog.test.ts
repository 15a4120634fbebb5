/**
 * The gateway under a service manager (Type=notify, WatchdogSec=): READY=1 once its devices are
 * started, WATCHDOG=1 only while it makes progress, STOPPING=1 on the way out. The notify socket
 * is a real AF_UNIX datagram socket read by a separate process, as systemd reads it.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFacility, type Facility } from '../../devices/facility.js';
import { startEdgeApp, type EdgeApp } from '../../edge/app.js';
import { loadConfig } from '../../edge/config/load.js';
import { builtinDrivers } from '../../edge/drivers/builtin.js';
import type { StalledPoll } from '../../edge/runtime/device-runner.js';
import { encodeNotifyState, openServiceNotifier, watchdogTimeoutMs } from '../../edge/runtime/systemd-notify.js';
import { startWatchdog } from '../../edge/runtime/watchdog.js';
import { listenNotifySocket, python3Peer, type NotifySocket } from '../support/notify-socket.js';
import { peerOrSkip, type PeerStatus } from '../support/peers.js';
import { writeAhuGateway } from '../support/ahu-gateway.js';
import { tempDir } from '../support/tmp.js';

const WATCHDOG_MS = 600;

function unixDgramBuilt(): PeerStatus {
  try {
    createRequire(import.meta.url)('unix-dgram');
    return { available: true, reason: '' };
  } catch {
    return { available: false, reason: 'the optional dependency unix-dgram is not built: npm install (needs make and g++)' };
  }
}

const runs = peerOrSkip(python3Peer()) && peerOrSkip(unixDgramBuilt());

describe('sd_notify message and watchdog settings', () => {
  it('encodes KEY=VALUE lines and refuses a key that is not a name', () => {
    expect(encodeNotifyState({ READY: '1', STATUS: 'two\nlines' }).toString()).toBe('READY=1\nSTATUS=two lines');
    expect(() => encodeNotifyState({ 'bad key': '1' })).toThrow(/bad key/);
  });

  it('refuses to start under a notify socket it cannot address, naming it', () => {
    expect(() => openServiceNotifier({ NOTIFY_SOCKET: '@/org/systemd/notify' }, pino({ level: 'silent' }))).toThrow(/SWG_ERR_SERVICE_NOTIFY|abstract socket/);
    expect(openServiceNotifier({}, pino({ level: 'silent' }))).toBeUndefined();
  });

  it('reads WatchdogSec= from WATCHDOG_USEC, only for the process WATCHDOG_PID names', () => {
    expect(watchdogTimeoutMs({ WATCHDOG_USEC: '30000000' }, 42)).toBe(30_000);
    expect(watchdogTimeoutMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42)).toBe(30_000);
    expect(watchdogTimeoutMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '7' }, 42)).toBeUndefined();
    expect(watchdogTimeoutMs({ WATCHDOG_USEC: 'soon' }, 42)).toBeUndefined();
    expect(watchdogTimeoutMs({}, 42)).toBeUndefined();
  });
});

describe.runIf(runs)('gateway under systemd: readiness and watchdog', () => {
  const dir = tempDir('swarmgate-notify-');
  let facility: Facility;
  let app: EdgeApp | undefined;
  let socket: NotifySocket;

  beforeAll(async () => {
    facility = await startFacility({ dataDir: dir.path, seed: 3 });
    socket = await listenNotifySocket(join(dir.path, 'notify.sock'));
    const file = writeAhuGateway(dir.path, facility, { id: 'gw-notify', intervalMs: 100 });
    app = await startEdgeApp(loadConfig(file, builtinDrivers()), builtinDrivers(), {
      log: pino({ level: 'silent' }),
      env: { NOTIFY_SOCKET: socket.path, WATCHDOG_USEC: String(WATCHDOG_MS * 1000), WATCHDOG_PID: String(process.pid) },
    });
  });

  afterAll(async () => {
    await app?.stop(true);
    await socket?.close();
    await facility?.stop();
    dir.remove();
  });

  it('reports READY=1 with the devices in STATUS once started, then pets the watchdog', async () => {
    const ready = await socket.waitFor('READY');
    expect(ready.fields.READY).toBe('1');
    expect(ready.fields.STATUS).toMatch(/^\d+\/1 devices up$/);
    const first = socket.messages.indexOf(ready);
    const pet = await socket.waitFor('WATCHDOG', 5000, first + 1);
    expect(pet.fields.WATCHDOG).toBe('1');
    expect(pet.fields.STATUS).toBe('1/1 devices up');
  });

  it('stops petting while the event loop is blocked, and resumes after', async () => {
    await socket.waitFor('WATCHDOG');
    const before = socket.messages.length;
    const blockedFrom = Date.now();
    while (Date.now() - blockedFrom < 4 * WATCHDOG_MS) {
      // a wedged event loop: no timer can fire
    }
    const blockedUntil = Date.now();
    // The first period after the block measured its delay: withheld, not petted.
    await new Promise((r) => setTimeout(r, WATCHDOG_MS));
    const metrics = await app!.gateway.metrics.registry.metrics();
    expect(metrics).toMatch(/swarmgate_watchdog_withheld_total\{reason="event-loop"\} [1-9]/);
    const resumed = await socket.waitFor('WATCHDOG', 5000, before);
    const during = socket.messages.slice(before).filter((m) => 'WATCHDOG' in m.fields && m.at > blockedFrom + 50 && m.at < blockedUntil);
    expect(during).toEqual([]);
    expect(resumed.at).toBeGreaterThan(blockedUntil);
  });

  it('says STOPPING=1 when it stops', async () => {
    const from = socket.messages.length;
    await app!.stop();
    app = undefined;
    const stopping = await socket.waitFor('STOPPING', 5000, from);
    expect(stopping.fields.STOPPING).toBe('1');
  });
});

describe('watchdog: a poll that never comes back', () => {
  it('withholds the pet while a poll is stalled and pets again once it returns', () => {
    const pets: Record<string, string>[] = [];
    let stalled: StalledPoll[] = [{ device: 'ahu1', intervalMs: 1000, runningForMs: 90_000 }];
    const watchdog = startWatchdog({
      notifier: { notify: (state) => void pets.push({ ...state }), close: () => undefined },
      timeoutMs: 60_000,
      progress: { stalledPolls: () => stalled, status: () => '1/1 devices up' },
      log: pino({ level: 'silent' }),
      maxLoopDelayMs: 60_000,
    });
    try {
      expect(watchdog.check()).toBe('stalled-poll');
      expect(pets).toEqual([]);
      stalled = [];
      expect(watchdog.check()).toBeUndefined();
      expect(pets).toEqual([{ WATCHDOG: '1', STATUS: '1/1 devices up' }]);
    } finally {
      watchdog.stop();
    }
  });
});
