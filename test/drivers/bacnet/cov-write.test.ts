/**
 * bacnet-ip change of value and commands against the bacnet-stack peer: COV (unconfirmed and
 * confirmed) with renewal, resubscription after the device restarts, polling for objects without
 * COV; writes at the point's priority and relinquish, confirmed with bacrp reading priority-array.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRelinquishable, isSubscribable, type Reading } from '../../../edge/drivers/driver.js';
import { bacnetManifest } from '../../../edge/drivers/bacnet/index.js';
import { peerOrSkip } from '../../support/peers.js';
import { waitFor } from '../support.js';
import { at, bacnetStackPeer, driverFor, point, startPeerDevice, tool, type PeerDevice } from './bacnet-stack.js';

const run = peerOrSkip(bacnetStackPeer());

describe.skipIf(!run)('bacnet-ip COV and commands (bacnet-stack peer)', () => {
  let serv: PeerDevice;
  let basic: PeerDevice;
  beforeAll(async () => {
    [serv, basic] = await Promise.all([startPeerDevice('bacserv', 1300), startPeerDevice('bacbasic', 2300)]);
  });
  afterAll(async () => {
    await Promise.all([serv?.stop(), basic?.stop()]);
  });

  it('subscribes (unconfirmed and confirmed), renews before the lifetime lapses, and comes back after a device restart', async () => {
    const points = [
      point('av1', { objectType: 'analog-value', instance: 1, cov: 'unconfirmed' }),
      point('ao1', { objectType: 'analog-output', instance: 1, cov: 'confirmed' }),
      { ...point('bv1', { objectType: 'binary-value', instance: 1, cov: 'off' }), pollIntervalMs: 200 },
    ];
    const driver = await driverFor(serv, points, { covLifetimeSeconds: 2 });
    const seen: Reading[] = [];
    const latest = (name: string, value: unknown): Reading | undefined => seen.find((r) => r.point === name && r.value === value);
    if (!isSubscribable(driver)) throw new Error('bacnet-ip driver must be subscribable');
    try {
      await driver.initialize();
      const sub = await driver.subscribe(points, (r) => seen.push(r));
      expect((driver as unknown as { covSubscriptions: number }).covSubscriptions).toBe(2);
      await tool('bacwp', [...at(serv), '1300', 'analog-value', '1', 'present-value', '16', '-1', '4', '11']);
      await waitFor(() => latest('av1', 11), 5000, 'unconfirmed COV notification of av1 = 11');
      await tool('bacwp', [...at(serv), '1300', 'analog-output', '1', 'present-value', '16', '-1', '4', '33']);
      await waitFor(() => latest('ao1', 33), 5000, 'confirmed COV notification of ao1 = 33');
      await tool('bacwp', [...at(serv), '1300', 'binary-value', '1', 'present-value', '16', '-1', '9', '1']);
      await waitFor(() => latest('bv1', true), 5000, 'polled bv1 = true');

      // Renewal: after more than one lifetime (2 s) the subscription still delivers.
      const renewedBy = Date.now() + 3000;
      await waitFor(() => (Date.now() > renewedBy ? true : undefined), 5000, 'one lifetime to pass');
      await tool('bacwp', [...at(serv), '1300', 'analog-value', '1', 'present-value', '16', '-1', '4', '12']);
      await waitFor(() => latest('av1', 12), 5000, 'COV notification after the lifetime passed (renewed)');

      // Restart: a new bacserv process on the same port knows no subscriptions; renewal restores them.
      await serv.stop();
      serv = await startPeerDevice('bacserv', 1300, undefined, serv.port);
      await tool('bacwp', [...at(serv), '1300', 'analog-value', '1', 'present-value', '16', '-1', '4', '13']);
      await waitFor(() => latest('av1', 13), 8000, 'COV notification after the device restarted');
      await sub.close();
    } finally {
      await driver.stop();
    }
  });

  it('marks subscribed points bad when the device stops answering, polls meanwhile, and subscribes again when it is back', async () => {
    const own = await startPeerDevice('bacserv', 1310);
    const points = [point('av1', { objectType: 'analog-value', instance: 1 })];
    const driver = await driverFor(own, points, { covLifetimeSeconds: 300 });
    if (!isSubscribable(driver)) throw new Error('bacnet-ip driver must be subscribable');
    const seen: Reading[] = [];
    const subscribed = (): number => (driver as unknown as { covSubscriptions: number }).covSubscriptions;
    try {
      await driver.initialize();
      const sub = await driver.subscribe(points, (r) => seen.push(r));
      expect(subscribed()).toBe(1);
      await own.stop();
      await waitFor(() => seen.find((r) => r.quality === 'bad' && /not answering/.test(r.cause ?? '')), 10_000, 'a bad reading once the device is silent');
      expect(subscribed()).toBe(0);
      const restarted = await startPeerDevice('bacserv', 1310, undefined, own.port);
      try {
        await tool('bacwp', [...at(restarted), '1310', 'analog-value', '1', 'present-value', '16', '-1', '4', '77']);
        await waitFor(() => seen.find((r) => r.value === 77 && r.quality === 'good'), 10_000, 'av1 = 77 once the device is back');
        await waitFor(() => (subscribed() === 1 ? true : undefined), 10_000, 'the COV subscription made again');
        await sub.close();
      } finally {
        await restarted.stop();
      }
    } finally {
      await driver.stop(true);
    }
  });

  it('polls objects whose device has no COV (bacbasic rejects SubscribeCOV)', async () => {
    const points = [point('indoor_temp', { objectType: 'analog-input', instance: 1 })];
    const driver = await driverFor(basic, points);
    if (!isSubscribable(driver)) throw new Error('bacnet-ip driver must be subscribable');
    const seen: Reading[] = [];
    try {
      await driver.initialize();
      const sub = await driver.subscribe(points, (r) => seen.push(r));
      await waitFor(() => (seen.filter((r) => r.quality === 'good').length >= 2 ? true : undefined), 5000, 'two polled readings');
      expect((driver as unknown as { covSubscriptions: number }).covSubscriptions).toBe(0);
      await sub.close();
    } finally {
      await driver.stop();
    }
  });

  it('writes present-value at the point priority (default 12) and relinquishes it', async () => {
    const ao = point('ao1', { objectType: 'analog-output', instance: 1 }, true);
    const bo = point('bo1', { objectType: 'binary-output', instance: 1, priority: 10 }, true);
    const driver = await driverFor(serv, [ao, bo]);
    if (!isRelinquishable(driver)) throw new Error('bacnet-ip driver must be relinquishable');
    try {
      await driver.initialize();
      await driver.write(ao, 42.5);
      const slots = async (type: string): Promise<string[]> =>
        (await tool('bacrp', [...at(serv), '1300', type, '1', 'priority-array'])).replace(/[{}]/g, '').split(',');
      expect((await slots('analog-output'))[11]).toBe('42.500000');
      await driver.write(bo, true);
      expect((await slots('binary-output'))[9]).toBe('1'); // bacrp prints enumerations inside arrays as numbers
      expect(await tool('bacrp', [...at(serv), '1300', 'binary-output', '1', 'present-value'])).toBe('active');

      await driver.relinquish(ao);
      await driver.relinquish(bo);
      expect((await slots('analog-output'))[11]).toBe('Null');
      expect((await slots('binary-output'))[9]).toBe('Null');
      expect(await tool('bacrp', [...at(serv), '1300', 'binary-output', '1', 'present-value'])).toBe('inactive');
    } finally {
      await driver.stop();
    }
  });

  it('refuses priorities 1, 2 and 6 in validation', () => {
    const problems = bacnetManifest.validate({
      id: 'x',
      protocol: 'bacnet-ip',
      connection: { deviceInstance: 1 },
      points: [point('a', { objectType: 'analog-output', instance: 1, priority: 6 }, true), point('b', { objectType: 'analog-output', instance: 2, priority: 1 }, true)],
    });
    expect(problems.map((p) => p.path)).toEqual(['/points/0/address/priority', '/points/1/address/priority']);
  });

  it('refuses UDP ports over 65535 (and port 0 but for bind) in validation', () => {
    const problems = bacnetManifest.validate({
      id: 'x',
      protocol: 'bacnet-ip',
      connection: { deviceInstance: 1, bind: '0.0.0.0:0', deviceAddress: '10.0.0.5:99999', broadcastAddress: '10.0.0.255:0', bbmd: { address: '10.1.0.1:65535' } },
      points: [],
    });
    expect(problems).toEqual([
      { path: '/connection/deviceAddress', message: '"10.0.0.5:99999": UDP port 99999 is out of range (1-65535; BACnet/IP uses 47808)' },
      { path: '/connection/broadcastAddress', message: '"10.0.0.255:0": UDP port 0 is out of range (1-65535; BACnet/IP uses 47808)' },
    ]);
  });
});
