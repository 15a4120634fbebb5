/**
 * Expiry of hub commands on a gateway whose clock is behind: an RTC-less board back from a power
 * cut boots with an old time and reaches the broker before NTP, which hands it the commands the
 * hub sent (and timed out) meanwhile. Judged on the hub's clock once measured (stored receipts,
 * kept on the monotonic clock, not pulled back by receipts the broker kept through the outage);
 * before that, a command stamped ahead of the local clock is refused as "gateway clock not
 * synchronised". A gateway whose clock agrees with the hub's works as before.
 */
import { Registry } from 'prom-client';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startFederation, type FederationGateway } from '../../../edge/federation/index.js';
import { CommandSchema, StoredReceiptSchema, encode, type Command } from '../../../shared/wire/index.js';
import { startCommandHub, untilStatus } from './command-hub.js';
import { fakeGateway, publishTo, startPeers, waitFor, type Cleanup } from './helpers.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const PREFIX = 'swarmgate/v1/site-a/gw-1';
const H = 3_600_000;

async function start(gateway: FederationGateway, url: string, dataDir: string, clock: () => number) {
  const fed = await startFederation({ gateway, dataDir, registry: new Registry(), clock, config: { mqtt: { url, reconnectPeriodMs: 100, reconnectMaxPeriodMs: 200 }, outbox: { flushMs: 20 }, stateIntervalS: 0 } });
  cleanups.push(() => fed.stop());
  await waitFor(() => fed.publisher.connected, 5000, 'connect');
  await new Promise((r) => setTimeout(r, 100)); // the SUBACK of the commands topic
  return fed;
}

const setpoint = (value: number) => ({ kind: 'write' as const, device: 'ahu1', point: 'setpoint', value });

describe('hub commands on a gateway clock 3 h behind', () => {
  it('before any hub clock is measured, a command the hub timed out is refused as "gateway clock not synchronised", not written', async () => {
    const { broker, dir } = await startPeers(cleanups, `${PREFIX}/#`, 'swg-cmd-clock-', { receipts: false });
    const hub = await startCommandHub(cleanups, broker.broker, dir.path, 'site-a', 'gw-1', { timeoutMs: 200, retries: 0 });
    const gw = fakeGateway('gw-1', 'site-a');
    const fed = await start(gw, broker.url, join(dir.path, 'gw'), () => Date.now() - 3 * H);
    expect(fed.publisher.clockSkewMs).toBeUndefined();

    await broker.goDown();
    const record = await hub.commands.create({ gateway: 'gw-1', site: 'site-a', action: setpoint(16), origin: 'user:alice' });
    await untilStatus(hub, record.id, 'timed-out');
    await broker.comeBack();
    await waitFor(() => hub.acks.some((a) => a.id === record.id && a.status !== 'delivered'), 10_000, 'the final ack');

    expect(gw.writes).toEqual([]);
    const final = hub.acks.find((a) => a.id === record.id && a.status !== 'delivered');
    expect(final).toMatchObject({ status: 'rejected', code: 'SWG_ERR_COMMAND_EXPIRED' });
    expect(final?.reason).toMatch(/^gateway clock not synchronised: the command was sent at .*, 108\d\d s ahead of this gateway's clock/);
    await untilStatus(hub, record.id, 'rejected', 2000);
  });

  it('once the hub clock is measured: a fresh command is applied, one the hub timed out is refused as expired, also when receipts kept through the outage arrive first', async () => {
    const { broker, dir } = await startPeers(cleanups, `${PREFIX}/#`, 'swg-cmd-clock-measured-');
    const hub = await startCommandHub(cleanups, broker.broker, dir.path, 'site-a', 'gw-1', { timeoutMs: 200, retries: 0 });
    const gw = fakeGateway('gw-1', 'site-a');
    const fed = await start(gw, broker.url, join(dir.path, 'gw'), () => Date.now() - 3 * H);
    gw.emit({ device: 'ahu1', point: 'temp', value: 20, quality: 'good', ts: Date.now() - 3 * H });
    await waitFor(() => fed.publisher.clockSkewMs !== undefined, 5000, 'a stored receipt');

    // The hub's clock agrees with itself: a fresh command is applied as always.
    const fresh = await hub.commands.create({ gateway: 'gw-1', site: 'site-a', action: setpoint(21), origin: 'user:alice' });
    expect(await hub.commands.settled(fresh.id, 5000)).toMatchObject({ status: 'applied' });
    expect(gw.writes.map((w) => w.value)).toEqual([21]);

    // An outage: the broker keeps a receipt of then (its ts hours old when it arrives), then a command the hub timed out.
    await broker.goDown();
    const now = Date.now();
    await publishTo(broker.broker, `${PREFIX}/stored`, encode(StoredReceiptSchema, { v: 1, ts: now - 3 * H, batches: [] }));
    const late: Command = { v: 1, id: 'cmd-late-000001', ts: now - 3 * H + 1000, expiresAt: now - 3 * H + 61_000, origin: 'user:alice', action: setpoint(16) };
    await publishTo(broker.broker, `${PREFIX}/commands`, encode(CommandSchema, late));
    const timedOut = await hub.commands.create({ gateway: 'gw-1', site: 'site-a', action: setpoint(17), origin: 'user:alice' });
    await untilStatus(hub, timedOut.id, 'timed-out');
    await broker.comeBack();
    const final = (id: string) => hub.acks.find((a) => a.id === id && a.status !== 'delivered');
    await waitFor(() => final(late.id) !== undefined && final(timedOut.id) !== undefined, 10_000, 'the final acks');

    expect(gw.writes.map((w) => w.value)).toEqual([21]);
    expect(final(late.id)).toMatchObject({ status: 'rejected', code: 'SWG_ERR_COMMAND_EXPIRED' });
    expect(final(timedOut.id)).toMatchObject({ status: 'rejected', code: 'SWG_ERR_COMMAND_EXPIRED' });
    expect(final(timedOut.id)?.reason).toContain("the hub's clock as measured from its receipts");
    expect(Math.abs((fed.publisher.hubNow() ?? 0) - Date.now())).toBeLessThan(2000);
  });

  it('a gateway whose clock agrees with the hub applies its commands as before, measured or not', async () => {
    const { broker, dir } = await startPeers(cleanups, `${PREFIX}/#`, 'swg-cmd-clock-agrees-', { receipts: false });
    const hub = await startCommandHub(cleanups, broker.broker, dir.path, 'site-a', 'gw-1', { timeoutMs: 2000, retries: 0 });
    const gw = fakeGateway('gw-1', 'site-a');
    await start(gw, broker.url, join(dir.path, 'gw'), Date.now);
    const record = await hub.commands.create({ gateway: 'gw-1', site: 'site-a', action: setpoint(22), origin: 'user:alice' });
    expect(await hub.commands.settled(record.id, 5000)).toMatchObject({ status: 'applied' });
    // A command stamped a little ahead (within maxClockSkewMs: transit, a clock a second off) is applied too.
    await publishTo(broker.broker, `${PREFIX}/commands`, encode(CommandSchema, { v: 1, id: 'cmd-ahead-00001', ts: Date.now() + 3000, expiresAt: Date.now() + 60_000, origin: 'user:alice', action: setpoint(23) }));
    await waitFor(() => gw.writes.length === 2, 5000, 'the second write');
    expect(gw.writes.map((w) => w.value)).toEqual([22, 23]);
  });
});
