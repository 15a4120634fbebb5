/**
 * bacnet-ip on networks as found on sites, against the bacnet-stack peer (bacserv is built with a
 * full BBMD): foreign-device registration renewed before its time to live ends, a device found by
 * Who-Is through the BBMD, and ReadPropertyMultiple split into APDU-sized batches for many objects.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PointSpec } from '../../../edge/drivers/driver.js';
import { bacnetManifest, type BacnetAddress } from '../../../edge/drivers/bacnet/index.js';
import { peerOrSkip } from '../../support/peers.js';
import { capturedLog } from '../../support/captured-log.js';
import { waitFor } from '../support.js';
import { bacnetStackPeer, driverFor, freeUdpPort, point, startPeerDevice, tool, type PeerDevice } from './bacnet-stack.js';

const run = peerOrSkip(bacnetStackPeer());

describe.skipIf(!run)('bacnet-ip networks (bacnet-stack peer)', { timeout: 30_000 }, () => {
  let serv: PeerDevice;
  beforeAll(async () => {
    serv = await startPeerDevice('bacserv', 1900);
  });
  afterAll(async () => {
    await serv?.stop();
  });

  it('registers as a foreign device, renews before the TTL ends, and finds the device through the BBMD', async () => {
    const { log, lines } = capturedLog<{ msg: string }>('info');
    const points = [point('av1', { objectType: 'analog-value', instance: 1 })];
    // ttlSeconds below the schema minimum (30) so that the renewal at half of it happens within the test.
    const driver = bacnetManifest.create(
      {
        id: 'remote',
        protocol: 'bacnet-ip',
        connection: { bind: `127.0.0.1:${await freeUdpPort()}`, deviceInstance: 1900, bbmd: { address: serv.address, ttlSeconds: 2 }, apduTimeoutMs: 500, apduRetries: 1 },
        points,
      },
      { log, dataDir: '/tmp' },
    );
    try {
      await driver.initialize(); // no deviceAddress: Who-Is is distributed by the BBMD
      const [reading] = await driver.read(points);
      expect(reading?.quality).toBe('good');
      await waitFor(() => (lines.filter((l) => l.msg === 'registered as a foreign device').length >= 3 ? true : undefined), 10_000, 'two renewals of the registration');
    } finally {
      await driver.stop();
    }
  });

  it('reads many objects in several APDU-sized ReadPropertyMultiple batches', async () => {
    const created = 40; // with AV 1: 41 objects, more than one 1476-octet reply holds by the reader's estimate (36)
    for (let i = 0; i < created; i++) {
      await tool('bacco', ['1900', 'analog-value', '4194303', 'present-value', '0', '4', String(i + 0.5)], { BACNET_IP_BROADCAST_PORT: String(serv.port) });
    }
    const list = await tool('bacrp', ['--mac', serv.address, '--dnet', '0', '1900', 'device', '1900', 'object-list']);
    const instances = [...list.matchAll(/\(analog-value, (\d+)\)/g)].map((m) => Number(m[1]));
    expect(instances.length).toBeGreaterThan(created);
    const points: PointSpec<BacnetAddress>[] = instances.map((n) => point(`av${n}`, { objectType: 'analog-value', instance: n }));
    const driver = await driverFor(serv, points);
    try {
      await driver.initialize();
      const readings = await driver.read(points);
      expect(readings.filter((r) => r.quality !== 'good')).toEqual([]);
      // bacco gave instances 2.. the values 0.5, 1.5, ...: every batch's values land on their own points
      const byPoint = new Map(readings.map((r) => [r.point, r.value]));
      for (let i = 0; i < created; i++) expect(byPoint.get(`av${i + 2}`)).toBe(i + 0.5);
    } finally {
      await driver.stop();
    }
  });
});
