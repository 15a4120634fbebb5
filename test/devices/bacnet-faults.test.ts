/**
 * Faults of the simulated BACnet controllers, observed as a client would: @bacnet-js/client (and,
 * where the peer is present, the bacnet-stack tools). bacnet-offline stops answering,
 * bacnet-slow delays, bacnet-no-segmentation aborts replies longer than its small max-APDU, and
 * bacnet-restart goes silent, drops COV subscriptions and broadcasts I-Am when back. The faults
 * also go through the facility's control API.
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBacnetBuilding, type BacnetBuilding } from '../../devices/bacnet/building.js';
import { newBacnetClient, ObjectType, PropertyIdentifier, type BacnetClient } from '../../devices/bacnet/bacnet-lib.js';
import { startFacility } from '../../devices/facility.js';
import { bacnetStackPeer, freeUdpPort, runTool } from '../support/bacnet-stack.js';
import { waitFor } from './support.js';

const AI1 = { type: ObjectType.ANALOG_INPUT, instance: 1 };
const AV1 = { type: ObjectType.ANALOG_VALUE, instance: 1 };

describe('BACnet device faults', () => {
  let building: BacnetBuilding;
  let client: BacnetClient;
  let announcements: Socket;
  let announced: Buffer[] = [];
  const at = (instance: number) => ({ address: building.endpoints[instance] ?? '' });

  beforeAll(async () => {
    const [clientPort, announcePort] = await Promise.all([freeUdpPort(), freeUdpPort()]);
    // I-Am broadcasts go to 127.255.255.255:announcePort; only a socket bound to the broadcast
    // address (or 0.0.0.0) receives them on Linux.
    announcements = createSocket('udp4');
    announcements.on('message', (msg) => announced.push(msg));
    await new Promise<void>((resolve) => announcements.bind({ address: '127.255.255.255', port: announcePort }, () => resolve()));
    building = await startBacnetBuilding({ speed: 0, broadcastPort: announcePort });
    // @bacnet-js/client binds 47808 when given port 0, so it gets a free port explicitly.
    client = newBacnetClient({ port: clientPort, interface: '127.0.0.1', apduTimeout: 400 });
    client.on('error', () => undefined);
  });
  afterEach(() => building.faults.clear());
  afterAll(async () => {
    client?.close();
    announcements?.close();
    await building?.stop();
  });

  it('bacnet-offline: the device stops answering; the others still do; clearing brings it back', async () => {
    const id = building.faults.inject({ kind: 'bacnet-offline', device: 1001 });
    await expect(client.readProperty(at(1001), AI1, PropertyIdentifier.PRESENT_VALUE)).rejects.toThrow('ERR_TIMEOUT');
    const other = await client.readProperty(at(1002), AI1, PropertyIdentifier.PRESENT_VALUE);
    expect(other.values[0]?.value).toBeCloseTo(building.plant.vavs['VAV-2'].zoneC, 3);
    building.faults.clear(id);
    const back = await client.readProperty(at(1001), AI1, PropertyIdentifier.PRESENT_VALUE);
    expect(back.values[0]?.value).toBeCloseTo(building.plant.vavs['VAV-1'].zoneC, 3);
  });

  it('bacnet-slow: answers arrive, but later than a short client timeout', async () => {
    building.faults.inject({ kind: 'bacnet-slow', device: 2001, delayMs: 800 });
    await expect(client.readProperty(at(2001), AI1, PropertyIdentifier.PRESENT_VALUE)).rejects.toThrow('ERR_TIMEOUT');
    const patient = newBacnetClient({ port: await freeUdpPort(), interface: '127.0.0.1', apduTimeout: 5000 });
    try {
      const slow = await patient.readProperty(at(2001), AI1, PropertyIdentifier.PRESENT_VALUE);
      expect(slow.values[0]?.value).toBeCloseTo(building.plant.plant.chwSupplyC, 3);
    } finally {
      patient.close();
    }
  });

  it('bacnet-no-segmentation: small max-APDU in I-Am and device object; a long RPM is aborted, short reads work', async () => {
    building.faults.inject({ kind: 'bacnet-no-segmentation', device: 1002, maxApdu: 128 });
    const iAm = new Promise<number>((resolve) => {
      const onIAm = (m: { payload: { deviceId: number; maxApdu: number } }): void => {
        if (m.payload.deviceId !== 1002) return;
        client.off('iAm', onIAm);
        resolve(m.payload.maxApdu);
      };
      client.on('iAm', onIAm);
    });
    client.whoIs(at(1002));
    expect(await iAm).toBe(128);
    const device = { type: ObjectType.DEVICE, instance: 1002 };
    const maxApdu = await client.readProperty(at(1002), device, PropertyIdentifier.MAX_APDU_LENGTH_ACCEPTED);
    expect(maxApdu.values[0]?.value).toBe(128);
    // Every property of every object does not fit 128 octets: Abort, segmentation-not-supported (4).
    const all = [device, AI1, { type: ObjectType.ANALOG_INPUT, instance: 2 }, { type: ObjectType.ANALOG_OUTPUT, instance: 1 }, AV1].map((objectId) => ({
      objectId,
      properties: [{ id: PropertyIdentifier.ALL, index: 0xffffffff }],
    }));
    await expect(client.readPropertyMultiple(at(1002), all)).rejects.toThrow('BacnetAbort - Reason:4');
    // Split into small requests, the same data comes back.
    const small = await client.readPropertyMultiple(at(1002), [{ objectId: AV1, properties: [{ id: PropertyIdentifier.PRESENT_VALUE, index: 0xffffffff }] }]);
    expect(small.values[0]?.values[0]?.value[0]?.value).toBe(22);
    // Without the fault the big request fits the 1476-octet APDU.
    building.faults.clear();
    const big = await client.readPropertyMultiple(at(1002), all);
    expect(big.values).toHaveLength(5);
  });

  it('bacnet-restart: silent for downMs, COV subscriptions dropped, I-Am broadcast when back (one-shot)', async () => {
    const notifications: number[] = [];
    const onCov = (m: { payload: { monitoredObjectId: { instance: number } } }): void => {
      notifications.push(m.payload.monitoredObjectId.instance);
    };
    client.on('covNotifyUnconfirmed', onCov);
    try {
      await client.subscribeCov(at(1001), AV1, 42, false, false, 300);
      await waitFor(() => notifications.length >= 1);
      expect(building.devices.find((d) => d.instance === 1001)?.cov.size).toBe(1);
      announced = [];
      const id = building.faults.inject({ kind: 'bacnet-restart', device: 1001, downMs: 600 });
      await expect(client.readProperty(at(1001), AI1, PropertyIdentifier.PRESENT_VALUE)).rejects.toThrow('ERR_TIMEOUT');
      // Back: an I-Am for 1001 (BVLC original-broadcast 0x0b, unconfirmed I-Am 10 00, device 1001).
      await waitFor(() => announced.some((m) => m[1] === 0x0b && m.subarray(4).toString('hex').includes('10 00 c4 02 00 03 e9'.replace(/ /g, ''))), 5000);
      expect(building.faults.list().some((f) => f.id === id)).toBe(false);
      expect(building.devices.find((d) => d.instance === 1001)?.cov.size).toBe(0);
      // A change no longer reaches the old subscriber; a new subscription does.
      const before = notifications.length;
      await client.writeProperty(at(1001), AV1, PropertyIdentifier.PRESENT_VALUE, [{ type: 4, value: 25 }], { priority: 8 });
      await new Promise((r) => setTimeout(r, 300));
      expect(notifications.length).toBe(before);
      await client.subscribeCov(at(1001), AV1, 42, false, false, 300);
      await waitFor(() => notifications.length > before);
    } finally {
      client.off('covNotifyUnconfirmed', onCov);
      await client.writeProperty(at(1001), AV1, PropertyIdentifier.PRESENT_VALUE, [{ type: 0, value: null }], { priority: 8 }).catch(() => undefined);
    }
  });

  it.skipIf(!bacnetStackPeer().available)('bacnet-no-segmentation seen by bacrpm: abort on "all", plain answer for one property', async () => {
    building.faults.inject({ kind: 'bacnet-no-segmentation', device: 2001, maxApdu: 128 });
    const port = await freeUdpPort();
    const mac = ['--mac', building.endpoints[2001] ?? '', '--dnet', '0'];
    const all = await runTool('bacrpm', [...mac, '2001', 'device', '2001', 'all'], { port });
    expect((all.stdout + all.stderr).toLowerCase()).toContain('segmentation');
    const one = await runTool('bacrpm', [...mac, '2001', 'device', '2001', 'object-name'], { port });
    expect(one.stdout).toContain('object-name: "CHW-PLANT"');
  });
});

describe('BACnet building in the facility', () => {
  it('starts with the bacnet option, exposes its endpoints and takes faults through the control API', async () => {
    const facility = await startFacility({ speed: 0, bacnet: {} });
    const client = newBacnetClient({ port: await freeUdpPort(), interface: '127.0.0.1', apduTimeout: 400 });
    client.on('error', () => undefined);
    try {
      expect(Object.keys(facility.endpoints.bacnet ?? {}).sort()).toEqual(['1001', '1002', '2001']);
      const oat = await client.readProperty({ address: facility.endpoints.bacnet?.[2001] ?? '' }, { type: ObjectType.ANALOG_INPUT, instance: 3 }, PropertyIdentifier.PRESENT_VALUE);
      expect(oat.values[0]?.value).toBeCloseTo(facility.model.outdoorC, 3);
      const res = await fetch(`${facility.endpoints.control.url}/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'bacnet-offline', device: 2001 }) });
      expect(res.status).toBe(201);
      await expect(client.readProperty({ address: facility.endpoints.bacnet?.[2001] ?? '' }, { type: ObjectType.ANALOG_INPUT, instance: 3 }, PropertyIdentifier.PRESENT_VALUE)).rejects.toThrow('ERR_TIMEOUT');
      const bad = await fetch(`${facility.endpoints.control.url}/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'bacnet-no-segmentation', maxApdu: 10 }) });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { field?: string }).field).toBe('maxApdu');
    } finally {
      client.close();
      await facility.stop();
    }
  });
});
