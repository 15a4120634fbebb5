/**
 * bacnet-ip reads against the bacnet-stack peer: ReadPropertyMultiple batches, the ReadProperty
 * path, quality from out-of-service and unknown objects, and a dead device that does not stall
 * another device's reads.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peerOrSkip } from '../../support/peers.js';
import { at, bacnetStackPeer, driverFor, freeUdpPort, point, startPeerDevice, tool, type PeerDevice } from './bacnet-stack.js';

const run = peerOrSkip(bacnetStackPeer());

describe.skipIf(!run)('bacnet-ip reads (bacnet-stack peer)', () => {
  let serv: PeerDevice;
  let basic: PeerDevice;
  beforeAll(async () => {
    [serv, basic] = await Promise.all([startPeerDevice('bacserv', 1234, 'Peer Device'), startPeerDevice('bacbasic', 2345)]);
  });
  afterAll(async () => {
    await Promise.all([serv?.stop(), basic?.stop()]);
  });

  const SERV_POINTS = [
    point('av1', { objectType: 'analog-value', instance: 1 }),
    point('ai1', { objectType: 'analog-input', instance: 1 }),
    point('bv1', { objectType: 'binary-value', instance: 1 }),
    point('ao1_relinquish_default', { objectType: 'analog-output', instance: 1, property: 'relinquish-default' }),
    point('missing', { objectType: 'analog-value', instance: 999 }),
  ];

  it('reads with ReadPropertyMultiple: values, and a bad reading naming an unknown object', async () => {
    await tool('bacwp', [...at(serv), '1234', 'analog-value', '1', 'present-value', '16', '-1', '4', '21.5']);
    const driver = await driverFor(serv, SERV_POINTS);
    try {
      await driver.initialize();
      const readings = await driver.read(SERV_POINTS);
      expect((driver as unknown as { usesReadPropertyMultiple: boolean }).usesReadPropertyMultiple).toBe(true);
      const by = new Map(readings.map((r) => [r.point, r]));
      expect(by.get('av1')).toMatchObject({ value: 21.5, quality: 'good' });
      expect(by.get('ai1')).toMatchObject({ value: 0, quality: 'good' });
      expect(by.get('bv1')).toMatchObject({ value: false, quality: 'good' });
      expect(by.get('ao1_relinquish_default')).toMatchObject({ value: 0, quality: 'good' });
      expect(by.get('missing')).toMatchObject({ value: null, quality: 'bad', cause: 'unknown-object' });
    } finally {
      await driver.stop();
    }
  });

  it('reads with ReadPropertyMultiple: out-of-service as uncertain, a property the object lacks as bad, in the points\' order on every read', async () => {
    await tool('bacwp', [...at(serv), '1234', 'analog-input', '1', 'out-of-service', '0', '-1', '1', '1']);
    const points = [
      point('ai1', { objectType: 'analog-input', instance: 1 }),
      point('unknown_type', { objectType: 'no-such-type', instance: 1 }),
      point('ai1_priority_array', { objectType: 'analog-input', instance: 1, property: 'priority-array' }),
      point('av1', { objectType: 'analog-value', instance: 1 }),
    ];
    const driver = await driverFor(serv, points);
    try {
      await driver.initialize();
      for (let i = 0; i < 2; i++) {
        const readings = await driver.read(points);
        expect(readings.map((r) => r.point)).toEqual(points.map((p) => p.name));
        const by = new Map(readings.map((r) => [r.point, r]));
        expect(by.get('ai1')).toMatchObject({ value: 0, quality: 'uncertain' });
        expect(by.get('ai1')?.cause).toMatch(/out-of-service/);
        expect(by.get('ai1_priority_array')).toMatchObject({ value: null, quality: 'bad', cause: 'unknown-property' });
        expect(by.get('unknown_type')).toMatchObject({ quality: 'bad' });
        expect(by.get('unknown_type')?.cause).toMatch(/SWG_ERR_CONFIG_INVALID/);
        expect(by.get('av1')).toMatchObject({ quality: 'good' });
      }
    } finally {
      await tool('bacwp', [...at(serv), '1234', 'analog-input', '1', 'out-of-service', '0', '-1', '1', '0']);
      await driver.stop();
    }
  });

  it('reads with ReadProperty when RPM is off, with out-of-service as uncertain quality', async () => {
    await tool('bacwp', [...at(serv), '1234', 'analog-input', '1', 'out-of-service', '0', '-1', '1', '1']);
    const driver = await driverFor(serv, SERV_POINTS, { readPropertyMultiple: false });
    try {
      await driver.initialize();
      const readings = await driver.read(SERV_POINTS);
      expect((driver as unknown as { usesReadPropertyMultiple: boolean }).usesReadPropertyMultiple).toBe(false);
      const by = new Map(readings.map((r) => [r.point, r]));
      expect(by.get('av1')).toMatchObject({ value: 21.5, quality: 'good' });
      expect(by.get('ai1')).toMatchObject({ value: 0, quality: 'uncertain' });
      expect(by.get('ai1')?.cause).toMatch(/out-of-service/);
      expect(by.get('missing')).toMatchObject({ quality: 'bad', cause: 'unknown-object' });
    } finally {
      await tool('bacwp', [...at(serv), '1234', 'analog-input', '1', 'out-of-service', '0', '-1', '1', '0']);
      await driver.stop();
    }
  });

  it('finds a device by Who-Is when no address is configured', async () => {
    const points = [point('indoor_temp', { objectType: 'analog-input', instance: 1 })];
    const driver = await driverFor({ instance: 2345 }, points, { broadcastAddress: `127.0.0.1:${basic.port}` });
    try {
      await driver.initialize();
      const [reading] = await driver.read(points);
      expect(reading?.quality).toBe('good');
      expect(typeof reading?.value).toBe('number');
    } finally {
      await driver.stop();
    }
  });

  it('a dead device gives bad readings and does not stall reads of a live one on the same port', async () => {
    const bind = `127.0.0.1:${await freeUdpPort()}`;
    const deadPort = await freeUdpPort();
    const livePoints = [point('av1', { objectType: 'analog-value', instance: 1 })];
    const deadPoints = [point('x', { objectType: 'analog-value', instance: 1 })];
    const live = await driverFor(serv, livePoints, { bind });
    const dead = await driverFor({ instance: 4000, address: `127.0.0.1:${deadPort}` }, deadPoints, { bind, apduTimeoutMs: 2000, apduRetries: 2 });
    try {
      await live.initialize();
      await expect(dead.initialize()).rejects.toMatchObject({ code: 'SWG_ERR_DEVICE_TIMEOUT' });
      const deadRead = dead.read(deadPoints);
      // While the dead device's request waits out its 3 x 2 s, the live device answers several polls.
      let liveReads = 0;
      let deadDone = false;
      void deadRead.then(() => (deadDone = true));
      while (liveReads < 5) {
        const [r] = await live.read(livePoints);
        expect(r?.quality).toBe('good');
        liveReads++;
      }
      expect(deadDone).toBe(false);
      const [d] = await deadRead;
      expect(d).toMatchObject({ quality: 'bad' });
      expect(d?.cause).toMatch(/SWG_ERR_DEVICE_(TIMEOUT|NOT_CONNECTED)/);
    } finally {
      await Promise.all([live.stop(), dead.stop(true)]);
    }
  });
});
