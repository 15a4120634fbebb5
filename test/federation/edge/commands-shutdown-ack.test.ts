/**
 * A shutdown while a command's write runs longer than federation.stop() waits (2 s: a Modbus or
 * BACnet write with its retries): the write finishes after the outbox closed, so its final ack
 * cannot be queued then. It is kept in the federation state as not yet acked and queued at the
 * next start, so the hub records what the equipment holds (applied) instead of a time-out; the
 * broker took the command already and will not deliver it again.
 */
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { startFederation, type FederationGateway } from '../../../edge/federation/index.js';
import { FederationState } from '../../../edge/federation/state.js';
import { startCommandHub, untilStatus } from './command-hub.js';
import { fakeGateway, startPeers, waitFor, type Cleanup } from './helpers.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const PREFIX = 'swarmgate/v1/site-a/gw-1';

async function start(gateway: FederationGateway, url: string, dataDir: string) {
  const fed = await startFederation({ gateway, dataDir, registry: new Registry(), config: { mqtt: { url, reconnectPeriodMs: 100, reconnectMaxPeriodMs: 200 }, outbox: { flushMs: 20 }, stateIntervalS: 0 } });
  cleanups.push(() => fed.stop());
  await waitFor(() => fed.publisher.connected, 5000, 'connect');
  await new Promise((r) => setTimeout(r, 100)); // the SUBACK of the commands topic
  return fed;
}

describe('a shutdown during a long command write', () => {
  it('keeps the final ack and sends it at the next start: the hub records applied', async () => {
    const { broker, dir } = await startPeers(cleanups, `${PREFIX}/#`, 'swg-cmd-shutdown-');
    const hub = await startCommandHub(cleanups, broker.broker, dir.path, 'site-a', 'gw-1', { timeoutMs: 1000, retries: 0 });
    const gw = fakeGateway('gw-1', 'site-a');
    let writing = false;
    const slow: FederationGateway = {
      ...gw,
      write: async (device, point, value, origin) => {
        writing = true;
        await new Promise((r) => setTimeout(r, 2500));
        await gw.write(device, point, value, origin);
      },
    };
    const dataDir = join(dir.path, 'gw');
    const fed = await start(slow, broker.url, dataDir);
    const record = await hub.commands.create({ gateway: 'gw-1', site: 'site-a', action: { kind: 'write', device: 'ahu1', point: 'setpoint', value: 19 }, origin: 'user:alice' });
    await waitFor(() => writing, 5000, 'the write under way');

    await fed.stop(); // waits 2 s for the command, then closes the outbox
    await fed.commands.idle(); // the write ends 0.5 s later
    expect(gw.writes.map((w) => w.value)).toEqual([19]);
    await untilStatus(hub, record.id, 'timed-out', 5000);
    const kept = await FederationState.open({ path: join(dataDir, 'federation.json'), gateway: 'gw-1', site: 'site-a' });
    expect(kept.hasApplied(record.id)).toBe(true);
    await kept.close();

    // The next start: the ack goes out, the hub's record follows the equipment; nothing is written again.
    const again = await start(slow, broker.url, dataDir);
    await untilStatus(hub, record.id, 'applied', 10_000);
    expect(hub.acks.filter((a) => a.id === record.id).map((a) => [a.status, a.duplicate ?? false])).toEqual([
      ['delivered', false],
      ['applied', false],
    ]);
    expect(again.state.unacked()).toEqual([]);
    expect(gw.writes.length).toBe(1);
  }, 20_000);
});
