/**
 * BACnet/IP benchmarks. Points read per second by the gateway's driver, against the library's bare
 * ReadPropertyMultiple loop over the same objects and properties (present-value, status-flags,
 * reliability) on the same devices in the same run, on two sets of devices:
 *   - 3 bacnet-stack `bacserv` devices (the independent C peer, ../shared/peers/bacnet-stack);
 *   - the 3 simulated controllers of our BACnet building (devices/bacnet: VAV-1, VAV-2, CHW-PLANT),
 *     run in a child process so that they do not share the reader's event loop (as bacserv does not).
 * Both sides have one request in flight per device (one loop per device, one RPM per read: every
 * device's objects fit one APDU) and one UDP socket for all devices (the gateway shares one
 * BACnet/IP port per bind address; the bare loop one client). Rounds alternate and the best of each
 * side counts, so a burst of load from elsewhere on the machine hurts neither side alone.
 * Then COV notification → stored-at-hub latency (bench/bacnet-cov.ts).
 *
 *   npx tsx bench/bacnet.ts
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import BacnetModule, { PropertyIdentifier } from '@bacnet-js/client';
import { installPendingRequests } from '../edge/drivers/bacnet/pending-requests.js';
import { objectTypeName, type BacnetAddress } from '../edge/drivers/bacnet/settings.js';
import type { PointSpec } from '../edge/drivers/driver.js';
import { bacnetStackPeer, driverFor, freeUdpPort, point, startPeerDevice } from '../test/drivers/bacnet/bacnet-stack.js';
import { benchBacnetCov } from './bacnet-cov.js';
import { progress, ratioEntry, type BenchEntry } from './results.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const SECONDS = 4;
const ROUNDS = 3;
const ALL = 0xffffffff;
const READ_PROPERTIES = [PropertyIdentifier.PRESENT_VALUE, PropertyIdentifier.STATUS_FLAGS, PropertyIdentifier.RELIABILITY];
/** Point-like objects every bacserv has (instance 1 of each): analog/binary/multi-state input, output, value, integer-value. */
const BACSERV_OBJECT_TYPES = [0, 1, 2, 3, 4, 5, 13, 14, 19, 45];
const BACSERV_DEVICES = 3;

type ClientClass = typeof BacnetModule.default;
const BacnetClient: ClientClass = typeof BacnetModule === 'function' ? (BacnetModule as unknown as ClientClass) : BacnetModule.default;

interface ObjectId {
  readonly type: number;
  readonly instance: number;
}

/** A device to read: where it is and which objects' present-values. */
interface ReadDevice {
  readonly instance: number;
  readonly address: string;
  readonly objects: readonly ObjectId[];
}

/** Points read per second, and requests that got no answer (a loaded machine can hold a reply back). */
interface LoopResult {
  readonly rate: number;
  readonly failed: number;
}

async function bareLoop(devices: readonly ReadDevice[]): Promise<LoopResult> {
  const client = new BacnetClient({ port: await freeUdpPort(), interface: '127.0.0.1', apduTimeout: 2000 });
  // The library's own request table loses replies after 256 requests within one timeout and the loop
  // would hang (see edge/drivers/bacnet/pending-requests.ts): the baseline gets the same fix.
  installPendingRequests(client, 2000);
  await new Promise((resolve) => setTimeout(resolve, 50));
  let points = 0;
  let failed = 0;
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(
    devices.map(async (d) => {
      const spec = d.objects.map((objectId) => ({ objectId, properties: READ_PROPERTIES.map((id) => ({ id, index: ALL })) }));
      while (Date.now() < end) {
        try {
          const ack = await client.readPropertyMultiple({ address: d.address }, spec, { maxSegments: 0 });
          points += ack.values.length;
        } catch {
          // A reply held back while 255 other requests went out loses its 8-bit invoke id (the driver
          // retries such a request once; the bare loop goes on with the next).
          failed++;
        }
      }
    }),
  );
  client.close();
  return { rate: points / SECONDS, failed };
}

async function driverLoop(devices: readonly ReadDevice[]): Promise<LoopResult> {
  // One BACnet/IP port for all of them, as on a gateway whose devices share a bind address.
  const bind = `127.0.0.1:${await freeUdpPort()}`;
  const lists: PointSpec<BacnetAddress>[][] = devices.map((d) => d.objects.map((o) => point(`${objectTypeName(o.type)}-${o.instance}`, { objectType: objectTypeName(o.type), instance: o.instance })));
  const drivers = await Promise.all(devices.map((d, i) => driverFor(d, lists[i] ?? [], { bind, apduTimeoutMs: 2000 })));
  await Promise.all(drivers.map((d) => d.initialize()));
  let good = 0;
  let bad = 0;
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(
    drivers.map(async (driver, i) => {
      const points = lists[i] ?? [];
      while (Date.now() < end) {
        for (const r of await driver.read(points)) r.quality === 'good' ? good++ : bad++;
      }
    }),
  );
  await Promise.all(drivers.map((d) => d.stop()));
  // Bad readings only from requests that got no answer: anything more is a driver fault.
  if (bad > good / 100) throw new Error(`driver loop had ${bad} bad readings against ${good} good`);
  return { rate: good / SECONDS, failed: bad };
}

interface Comparison {
  readonly driver: number;
  readonly bare: number;
  /** Over all rounds: bare requests without an answer, driver readings bad for that reason. */
  readonly bareFailed: number;
  readonly driverBad: number;
}

async function compare(label: string, devices: readonly ReadDevice[]): Promise<Comparison> {
  let bare = 0;
  let driver = 0;
  let bareFailed = 0;
  let driverBad = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    const b = await bareLoop(devices);
    const d = await driverLoop(devices);
    bare = Math.max(bare, b.rate);
    driver = Math.max(driver, d.rate);
    bareFailed += b.failed;
    driverBad += d.failed;
    progress(`bacnet ${label} round ${round}: bare ${b.rate.toFixed(0)}, driver ${d.rate.toFixed(0)} points/s`);
  }
  return { driver, bare, bareFailed, driverBad };
}

const failures = (r: Comparison): string => `; requests without an answer over all rounds: bare ${r.bareFailed}, driver readings bad ${r.driverBad}`;

const BARE = 'bare @bacnet-js/client readPropertyMultiple loop';
const HOW = `present-value + status-flags + reliability per object, one RPM per device per read, one request in flight per device, one UDP socket on each side; best of ${ROUNDS} alternating rounds of ${SECONDS} s`;

async function benchPeer(): Promise<BenchEntry> {
  const peer = bacnetStackPeer();
  if (!peer.available) throw new Error(peer.reason);
  const started = await Promise.all(Array.from({ length: BACSERV_DEVICES }, (_, i) => startPeerDevice('bacserv', 3100 + i)));
  try {
    const devices = started.map((d) => ({ instance: d.instance, address: d.address, objects: BACSERV_OBJECT_TYPES.map((type) => ({ type, instance: 1 })) }));
    const r = await compare('bacserv', devices);
    return ratioEntry('bacnet_ip_read_rate', { value: Math.round(r.driver), unit: 'points/s' }, { name: BARE, value: Math.round(r.bare), unit: 'points/s' }, 0.9, `${BACSERV_DEVICES} bacnet-stack bacserv devices on loopback, ${BACSERV_OBJECT_TYPES.length} objects each; ${HOW}${failures(r)}`);
  } finally {
    await Promise.all(started.map((d) => d.stop()));
  }
}

/** The simulated BACnet building in a child process (this file in the --building role). */
async function startBuildingProcess(): Promise<{ devices: ReadDevice[]; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', SELF, '--building'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, SWARMGATE_LOG_LEVEL: 'warn' } });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`bench child --building exited with ${code} before it started`)));
  });
  lines.close();
  return {
    devices: JSON.parse(first) as ReadDevice[],
    stop: async () => {
      child.stdin.end();
      await exited;
    },
  };
}

/** Child role: the BACnet building alone; prints its devices as one JSON line, stops when stdin ends. */
async function buildingChild(): Promise<void> {
  const { startBacnetBuilding } = await import('../devices/bacnet/building.js');
  const building = await startBacnetBuilding({ host: '127.0.0.1' });
  const devices: ReadDevice[] = Object.entries(building.endpoints).map(([instance, address]) => ({ instance: Number(instance), address, objects: building.points(Number(instance)).map((p) => p.id) }));
  process.stdout.write(`${JSON.stringify(devices)}\n`);
  process.stdin.resume();
  await new Promise<void>((resolve) => process.stdin.once('end', () => resolve()));
  await building.stop();
}

async function benchSimulator(): Promise<BenchEntry> {
  const building = await startBuildingProcess();
  try {
    const r = await compare('simulator', building.devices);
    const objects = building.devices.map((d) => d.objects.length).join(' + ');
    return ratioEntry(
      'bacnet_ip_read_rate_simulator',
      { value: Math.round(r.driver), unit: 'points/s' },
      { name: BARE, value: Math.round(r.bare), unit: 'points/s' },
      0.9,
      `the ${building.devices.length} simulated controllers of the BACnet building (devices/bacnet; VAV-1, VAV-2, CHW-PLANT; ${objects} objects) in their own process on loopback; ${HOW}${failures(r)}`,
    );
  } finally {
    await building.stop();
  }
}

export async function benchBacnet(): Promise<BenchEntry[]> {
  const reads = [await benchPeer(), await benchSimulator()];
  return [...reads, ...(await benchBacnetCov())];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  if (process.argv[2] === '--building') await buildingChild();
  else console.log(JSON.stringify(await benchBacnet(), null, 2));
}
