/**
 * Fault: the gateway process is SIGKILLed mid-stream and started again on the same data folder.
 * The gateway runs as `swarmgate edge --config F --print` (a child process); what it printed is
 * what it reported, and the hub store must hold exactly that.
 *
 * The outbox trades durability for SD-card wear with flushMs:
 * - strict (flushMs 0): each reading is committed on arrival, so a SIGKILL loses nothing the
 *   gateway had reported: every printed reading is stored exactly once. (`--print` runs just
 *   before the outbox listener, in the same synchronous loop, so the kill is sent between polls:
 *   a kill landing between those two calls could lose the one reading being printed.)
 * - batched (the default 200 ms): readings wait in memory up to flushMs, so a SIGKILL may lose
 *   the last window: only readings from the final flushMs before the kill may be missing, never
 *   an older one, and nothing is stored twice.
 */
import { describe, expect, it } from 'vitest';
import type { Reading } from '../../edge/drivers/driver.js';
import { killHard, spawnEdge, writeEdgeConfig, type EdgeChild } from './support/edge.js';
import { addGatewayUser, credentialsFile } from './support/hub.js';
import { embeddedRig } from './support/rig.js';
import { PERFECT, checkStored, reportedInOrder, summary, waitStored } from './support/stored.js';
import { uniqueId, waitFor } from './support/util.js';

const rig = embeddedRig('swg-e2e-kill-', 5);
const { dir } = rig;

async function gatewayConfig(id: string, flushMs: number): Promise<string> {
  const site = 'site-kill';
  const auth = await addGatewayUser(credentialsFile(dir.path), site, id);
  return writeEdgeConfig(dir.path, {
    id,
    site,
    dataDir: `${dir.path}/${id}`,
    facility: rig.facility.endpoints,
    devices: ['ahu1', 'io'],
    pollMs: 100,
    federation: { mqtt: { url: rig.hub.broker!.url, ...auth, reconnectPeriodMs: 200, keepaliveS: 5 }, outbox: { flushMs, batchMs: 100 }, stateIntervalS: 0 },
  });
}

function start(file: string, reported: Reading[]): EdgeChild {
  const child = spawnEdge(file, reported);
  rig.cleanups.push(() => killHard(child));
  return child;
}

const status = async (id: string): Promise<string | undefined> => (await rig.hub.registry.get(id))?.status;

/** SIGKILL mid-stream; returns the kill time. */
async function killMidStream(child: EdgeChild): Promise<number> {
  const at = Date.now();
  child.process.kill('SIGKILL');
  const exit = await child.exited;
  expect(exit.signal).toBe('SIGKILL');
  return at;
}

// Each test starts two `node --import tsx` gateways (10-15 s apiece on a loaded 2-core box): the
// second test took 37 s of the suite's 60 s in a loaded run.
describe('gateway SIGKILL mid-stream and restart on the same data folder', { timeout: 150_000 }, () => {
  it('strict outbox (flushMs 0): every printed reading is stored exactly once; the will marks it offline', async () => {
    const id = uniqueId('gw-strict');
    const file = await gatewayConfig(id, 0);
    const reported: Reading[] = [];
    const first = start(file, reported);
    await first.waitForReadings(80);
    await waitFor(async () => (await status(id)) === 'online', 15_000, 'online');
    const bootBefore = (await rig.hub.registry.get(id))?.bootId;
    await first.waitQuiet(30);
    await killMidStream(first);
    const printedByFirst = reported.length;
    // The broker publishes the will when the TCP connection dies with the process.
    await waitFor(async () => (await status(id)) === 'offline', 10_000, 'offline after the kill');

    const second = start(file, reported);
    await waitFor(async () => (await rig.hub.registry.get(id))?.bootId !== bootBefore && (await status(id)) === 'online', 30_000, 'online with a new boot');
    await second.waitForReadings(printedByFirst + 60);
    second.process.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
    expect(await status(id)).toBe('offline');

    const check = await waitStored(rig.hub.store, id, reported);
    expect(reportedInOrder(reported)).toBe(true);
    expect(summary(check)).toEqual(PERFECT);
    expect(check.reported).toBeGreaterThanOrEqual(140);
  });

  it('batched outbox (flushMs 200): only readings of the last flushMs before the kill may be lost, none stored twice', async () => {
    const id = uniqueId('gw-batched');
    const flushMs = 200;
    const file = await gatewayConfig(id, flushMs);
    const reported: Reading[] = [];
    const first = start(file, reported);
    // Right after a poll's readings were printed: they are still inside the flush window.
    await first.waitForReadings(80);
    const killedAt = await killMidStream(first);
    const run1 = reported.slice();

    const second = start(file, reported);
    await second.waitForReadings(run1.length + 60);
    second.process.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
    const run2 = reported.slice(run1.length);

    // Run 2 is complete; run 1 may miss a tail no older than flushMs (+ poll and scheduling slack).
    const check2 = await waitStored(rig.hub.store, id, run2);
    expect(check2.missing).toEqual([]);
    const all = await checkStored(rig.hub.store, id, reported);
    expect(all.duplicated).toEqual([]);
    expect(all.unexpected).toEqual([]);
    const lost = await lostReadings(id, run1);
    const oldestLost = Math.min(...lost.map((r) => r.ts));
    if (lost.length > 0) expect(oldestLost).toBeGreaterThanOrEqual(killedAt - flushMs - 150);
    console.info(`batched SIGKILL: ${run1.length} readings printed before the kill, ${lost.length} lost (window ${flushMs} ms)`);
  });
});

/** Readings of `run` the store does not have. */
async function lostReadings(gateway: string, run: readonly Reading[]): Promise<Reading[]> {
  const lost: Reading[] = [];
  const byPoint = new Map<string, Reading[]>();
  for (const r of run) byPoint.set(`${r.device}/${r.point}`, [...(byPoint.get(`${r.device}/${r.point}`) ?? []), r]);
  for (const [point, readings] of byPoint) {
    const [device, name] = point.split('/') as [string, string];
    const stored = new Set((await rig.hub.store.history(gateway, device, name, 0, 8.64e15)).map((s) => s.ts));
    for (const r of readings) if (!stored.has(Math.round(r.ts))) lost.push(r);
  }
  return lost;
}
