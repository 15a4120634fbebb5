/**
 * bacnet-ip on networks as found on sites, against the bacnet-stack peer (bacserv is built with a
 * full BBMD): foreign-device registration renewed before its time to live ends, a device found by
 * Who-Is through the BBMD, and ReadPropertyMultiple split into APDU-sized batches for many objects;
 * and, against a plain UDP socket standing where a BACnet router would be, that requests to a device
 * behind the router carry its DNET and DADR.
 */
import { createSocket } from 'node:dgram';
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

describe('bacnet-ip to a device behind a BACnet router', () => {
  it('sends requests to the router with the NPDU destination DNET/DADR of the device', async () => {
    const router = createSocket('udp4');
    await new Promise<void>((resolve) => router.bind(0, '127.0.0.1', resolve));
    const received = new Promise<Buffer>((resolve) => router.once('message', (msg) => resolve(msg)));
    const points = [point('av1', { objectType: 'analog-value', instance: 1 })];
    const driver = await driverFor({ instance: 77, address: `127.0.0.1:${router.address().port}` }, points, { network: { dnet: 5, dadr: 12 }, apduTimeoutMs: 200, apduRetries: 0 });
    try {
      const initialized = driver.initialize().catch((err: unknown) => err);
      const packet = await received;
      expect(packet[0]).toBe(0x81); // BVLC
      expect(packet[1]).toBe(0x0a); // original unicast
      expect(packet[4]).toBe(0x01); // NPDU version
      expect((packet[5] ?? 0) & 0x20).toBe(0x20); // destination present
      expect(packet.readUInt16BE(6)).toBe(5); // DNET
      expect(packet[8]).toBe(1); // DLEN
      expect(packet[9]).toBe(12); // DADR (MS/TP MAC)
      expect(await initialized).toMatchObject({ code: 'SWG_ERR_DEVICE_TIMEOUT' });
    } finally {
      await driver.stop(true);
      router.close();
    }
  });
});
