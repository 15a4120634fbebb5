/**
 * COV notification to stored-at-hub latency (p50/p99): a simulated BACnet controller (VAV-1 of the
 * BACnet building, devices/bacnet) changes the present-value of its zone setpoint; the gateway (the
 * edge app, its bacnet-ip device COV-subscribed to that object, federation on) carries it to a hub
 * (startHub: embedded broker on an ephemeral port, SQLite store in a temp folder); the sample ends
 * when the hub's ingest has stored the batch holding that value (its `telemetry` event, emitted once
 * the batch is journaled and acknowledged, as in the federation latency bench). Everything runs in
 * this process, on one clock. One change at a time, so each sample is one notification's trip.
 *
 * The controller checks for COV right after the change (as it does after a WriteProperty) rather
 * than at its next 1 s scan: the figure is the trip from notification to hub, not the
 * controller's scan period. Measured with the outbox's default flushMs (200: readings wait up to
 * that long to share one SQLite commit) and a small one (5).
 *
 *   npx tsx bench/bacnet-cov.ts      (also part of `npm run bench -- --only bacnet`)
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { startBacnetBuilding, type BacnetBuilding } from '../devices/bacnet/building.js';
import { VAV_INSTANCES } from '../devices/bacnet/building-map.js';
import { startEdgeApp } from '../edge/app.js';
import { builtinDrivers } from '../edge/drivers/builtin.js';
import type { BacnetAddress, BacnetConnection } from '../edge/drivers/bacnet/settings.js';
import type { DeviceSpec } from '../edge/drivers/driver.js';
import { freeUdpPort } from '../shared/kit/free-udp-port.js';
import { tempDir } from '../test/support/tmp.js';
import { embeddedHub, percentile, until } from './federation.js';
import { atMost, progress, type BenchEntry } from './results.js';

const SAMPLES = 200;
const WARMUP = 5;
const POINT = 'zone_setpoint';
/** The priority the bench commands the setpoint at (above the controller's own 16). */
const PRIORITY = 8;
/** The analog-value that changes: VAV-1's zone setpoint, COV increment 0.1. */
const OBJECT = { type: 2, instance: 1 };

interface CovLatency {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly samples: number;
}

/** Distinct successive values, each at least the COV increment from the last, exact in a REAL. */
const valueOf = (i: number): number => 15 + (i % 20) * 0.5;

async function covRun(building: BacnetBuilding, flushMs: number): Promise<CovLatency> {
  const instance = VAV_INSTANCES['VAV-1'];
  const server = building.devices.find((d) => d.instance === instance);
  const object = building.points(instance).find((p) => p.id.type === OBJECT.type && p.id.instance === OBJECT.instance);
  const address = building.endpoints[instance];
  if (!server || !object || !address) throw new Error(`bench: the BACnet building has no VAV-1 zone setpoint (analog-value 1 of device ${instance})`);

  const dir = tempDir('swg-bench-bacnet-cov-');
  const hub = await embeddedHub(dir.path);
  const gatewayId = `gw-bacnet-cov-${randomUUID().slice(0, 6)}`;
  let waiting: { value: number; resolve: () => void } | undefined;
  const off = hub.hub.events.on('telemetry', ({ batch }) => {
    if (waiting && batch.readings.some((r) => r.p === POINT && r.v === waiting?.value)) waiting.resolve();
  });
  try {
    const device: DeviceSpec<BacnetConnection, BacnetAddress> = {
      id: 'vav1',
      protocol: 'bacnet-ip',
      connection: { bind: `127.0.0.1:${await freeUdpPort()}`, deviceInstance: instance, deviceAddress: address },
      // Polled once a minute at most: a value within the bench's seconds can only come by COV.
      points: [{ name: POINT, address: { objectType: 'analog-value', instance: OBJECT.instance, cov: 'unconfirmed' }, writable: false, scale: 1, offset: 0, deadband: 0, pollIntervalMs: 60_000 }],
    };
    const federation = { mqtt: { url: hub.url, ...(await hub.user('bench', gatewayId)) }, stateIntervalS: 0, outbox: { flushMs } };
    const app = await startEdgeApp(
      { file: 'bench', dataDir: join(dir.path, 'gw'), devices: [device], profiles: new Map(), config: { gateway: { id: gatewayId, site: 'bench' }, devices: [], metrics: { enabled: false }, log: { level: 'warn' }, federation } },
      builtinDrivers(),
    );
    try {
      await until(() => server.cov.size > 0, 30_000, 'the gateway COV-subscribed to the zone setpoint');
      const latencies: number[] = [];
      for (let i = 0; i < WARMUP + SAMPLES; i++) {
        const value = valueOf(i);
        const stored = new Promise<void>((resolve) => (waiting = { value, resolve }));
        const t0 = performance.now();
        // The controller's present-value changes (a command above its own logic) and it looks for COV at once.
        object.command(PRIORITY, value);
        server.scanCov();
        await Promise.race([stored, sleep(10_000).then(() => Promise.reject(new Error(`bench: value ${value} not stored at the hub within 10 s`)))]);
        if (i >= WARMUP) latencies.push(performance.now() - t0);
        waiting = undefined;
      }
      latencies.sort((a, b) => a - b);
      const round = (ms: number): number => Number(ms.toFixed(1));
      return { p50: round(percentile(latencies, 50)), p99: round(percentile(latencies, 99)), max: round(latencies[latencies.length - 1] ?? Number.NaN), samples: latencies.length };
    } finally {
      await app.stop();
    }
  } finally {
    off();
    await hub.stop();
    dir.remove();
  }
}

export async function benchBacnetCov(): Promise<BenchEntry[]> {
  // Frozen clock: the physics moves no value, so every notification is one the bench caused.
  const building = await startBacnetBuilding({ host: '127.0.0.1', speed: 0 });
  try {
    const fast = await covRun(building, 5);
    progress(`bacnet COV → hub, flushMs 5: p50 ${fast.p50} ms, p99 ${fast.p99} ms, max ${fast.max} ms (${fast.samples} changes)`);
    const dflt = await covRun(building, 200);
    progress(`bacnet COV → hub, flushMs 200 (default): p50 ${dflt.p50} ms, p99 ${dflt.p99} ms, max ${dflt.max} ms (${dflt.samples} changes)`);
    const what = `simulated controller (VAV-1, in this process) changes a present-value and sends the unconfirmed COV notification → gateway (edge app, bacnet-ip COV subscription, exception filter, outbox) → embedded broker → hub ingest stored (telemetry event); one change at a time, ${SAMPLES} changes after ${WARMUP} warm-up ones, all in one process on loopback`;
    return [
      { name: 'bacnet_cov_to_hub_latency_p50_flush5ms', value: fast.p50, unit: 'ms', notes: `${what}; outbox flushMs 5` },
      atMost('bacnet_cov_to_hub_latency_p99_flush5ms', fast.p99, 'ms', 20, `${what}; outbox flushMs 5; max ${fast.max} ms (target as for federation_latency_p99_flush5ms)`),
      { name: 'bacnet_cov_to_hub_latency_p50_default_flush', value: dflt.p50, unit: 'ms', notes: `${what}; outbox flushMs 200 (the default)` },
      {
        name: 'bacnet_cov_to_hub_latency_p99_default_flush',
        value: dflt.p99,
        unit: 'ms',
        notes: `${what}; outbox flushMs 200 (the default): a reading waits up to flushMs before its batch is committed, so this is about the window by design; max ${dflt.max} ms`,
      },
    ];
  } finally {
    await building.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.log(JSON.stringify(await benchBacnetCov(), null, 2));
