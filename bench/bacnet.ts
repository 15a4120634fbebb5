/**
 * BACnet/IP points read per second by the gateway's driver from N bacnet-stack bacserv devices,
 * against the library's bare ReadPropertyMultiple loop over the same objects and properties
 * (present-value, status-flags, reliability) on the same devices in the same run.
 */
import BacnetModule, { PropertyIdentifier } from '@bacnet-js/client';
import { bacnetStackPeer, driverFor, freeUdpPort, point, startPeerDevice, type PeerDevice } from '../test/drivers/bacnet/bacnet-stack.js';
import { installPendingRequests } from '../edge/drivers/bacnet/pending-requests.js';
import { progress, ratioEntry, type BenchEntry } from './results.js';

const SECONDS = 5;
const DEVICES = 3;
const ALL = 0xffffffff;
/** Point-like objects every bacserv has (instance 1 of each). */
const OBJECTS = ['analog-input', 'analog-output', 'analog-value', 'binary-input', 'binary-output', 'binary-value', 'multi-state-input', 'multi-state-output', 'multi-state-value', 'integer-value'] as const;
const TYPE_IDS: Record<(typeof OBJECTS)[number], number> = {
  'analog-input': 0,
  'analog-output': 1,
  'analog-value': 2,
  'binary-input': 3,
  'binary-output': 4,
  'binary-value': 5,
  'multi-state-input': 13,
  'multi-state-output': 14,
  'multi-state-value': 19,
  'integer-value': 45,
};

type ClientClass = typeof BacnetModule.default;
const BacnetClient: ClientClass = typeof BacnetModule === 'function' ? (BacnetModule as unknown as ClientClass) : BacnetModule.default;

async function bareLoop(devices: readonly PeerDevice[]): Promise<number> {
  const client = new BacnetClient({ port: await freeUdpPort(), interface: '127.0.0.1', apduTimeout: 2000 });
  // The library's own request table loses replies after 256 requests within one timeout and the loop
  // would hang (see edge/drivers/bacnet/pending-requests.ts): the baseline gets the same fix.
  installPendingRequests(client, 2000);
  await new Promise((resolve) => setTimeout(resolve, 50));
  const spec = OBJECTS.map((o) => ({
    objectId: { type: TYPE_IDS[o], instance: 1 },
    properties: [PropertyIdentifier.PRESENT_VALUE, PropertyIdentifier.STATUS_FLAGS, PropertyIdentifier.RELIABILITY].map((id) => ({ id, index: ALL })),
  }));
  let points = 0;
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(
    devices.map(async (d) => {
      while (Date.now() < end) {
        const ack = await client.readPropertyMultiple({ address: d.address }, spec, { maxSegments: 0 });
        points += ack.values.length;
      }
    }),
  );
  client.close();
  return points / SECONDS;
}

async function driverLoop(devices: readonly PeerDevice[]): Promise<number> {
  const points = OBJECTS.map((o) => point(o, { objectType: o, instance: 1 }));
  const drivers = await Promise.all(devices.map((d) => driverFor(d, points, { apduTimeoutMs: 2000 })));
  await Promise.all(drivers.map((d) => d.initialize()));
  let good = 0;
  let bad = 0;
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(
    drivers.map(async (driver) => {
      while (Date.now() < end) {
        for (const r of await driver.read(points)) r.quality === 'good' ? good++ : bad++;
      }
    }),
  );
  await Promise.all(drivers.map((d) => d.stop()));
  if (bad > 0) throw new Error(`driver loop had ${bad} bad readings`);
  return good / SECONDS;
}

export async function benchBacnet(): Promise<BenchEntry[]> {
  const peer = bacnetStackPeer();
  if (!peer.available) throw new Error(peer.reason);
  const devices = await Promise.all(Array.from({ length: DEVICES }, (_, i) => startPeerDevice('bacserv', 3100 + i)));
  try {
    let bare = 0;
    let driver = 0;
    for (let round = 0; round < 2; round++) {
      bare = Math.max(bare, await bareLoop(devices));
      progress(`bacnet round ${round + 1}: bare ${bare.toFixed(0)} points/s`);
      driver = Math.max(driver, await driverLoop(devices));
      progress(`bacnet round ${round + 1}: driver ${driver.toFixed(0)} points/s`);
    }
    return [
      ratioEntry(
        'bacnet_ip_read_rate',
        { value: Math.round(driver), unit: 'points/s' },
        { name: 'bare @bacnet-js/client readPropertyMultiple loop', value: Math.round(bare), unit: 'points/s' },
        0.9,
        `${DEVICES} bacnet-stack bacserv devices on loopback, ${OBJECTS.length} objects each (present-value, status-flags, reliability), one loop per device`,
      ),
    ];
  } finally {
    await Promise.all(devices.map((d) => d.stop()));
  }
}
