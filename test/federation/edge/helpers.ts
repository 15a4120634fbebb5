/**
 * Test peers for the federation suites: an in-process aedes broker on an ephemeral port that can
 * go away and come back on the same port (sessions survive, like a broker restart with
 * persistence), an in-process "hub" subscriber, and a gateway stand-in with the real write checks.
 */
import { createServer, type Server, type Socket } from 'node:net';
import Database from 'better-sqlite3';
import { Aedes } from 'aedes';
import { checkWrite } from '../../../edge/runtime/point-write.js';
import { SwarmgateError } from '../../../shared/kit/errors.js';
import type { PointSpec, Reading, WriteValue } from '../../../edge/drivers/driver.js';
import { startFederation, type Federation, type FederationDevice, type FederationGateway } from '../../../edge/federation/index.js';
import { Registry } from 'prom-client';
import type { DeviceState } from '../../../edge/runtime/device-runner.js';
import { GapRecordSchema, StoredReceiptSchema, TelemetryBatchSchema, decode, encode, messageDigest, type GapRecord, type StoredReceipt, type TelemetryBatch } from '../../../shared/wire/index.js';
import type { Outbox } from '../../../edge/federation/outbox.js';
import { tempDir } from '../../support/tmp.js';

export interface TestBroker {
  readonly broker: Aedes;
  readonly port: number;
  readonly url: string;
  /** Stops accepting and drops every connection; the broker (and its sessions) stay. */
  goDown(): Promise<void>;
  comeBack(): Promise<void>;
  close(): Promise<void>;
}

export async function startBroker(): Promise<TestBroker> {
  const broker = await Aedes.createBroker();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const listen = async (port: number): Promise<number> => {
    const s = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      broker.handle(socket);
    });
    server = s;
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
    const address = s.address();
    return typeof address === 'object' && address ? address.port : port;
  };
  const port = await listen(0);
  const down = async (): Promise<void> => {
    const s = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  return {
    broker,
    port,
    url: `mqtt://127.0.0.1:${port}`,
    goDown: down,
    comeBack: async () => {
      await listen(port);
    },
    close: async () => {
      await down();
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    },
  };
}

export interface Received {
  readonly topic: string;
  readonly payload: Buffer;
  readonly retain: boolean;
}

/**
 * In-process subscriber: unaffected by the network going down, like a hub next to the broker.
 * With `receipts` it answers every outbox message it keeps with a stored receipt, as the hub does.
 */
export function hubSubscriber(broker: Aedes, filter: string, options: { receipts?: boolean } = {}): { messages: Received[]; close(): Promise<void>; ready: Promise<void> } {
  const messages: Received[] = [];
  const deliver = (packet: { topic: string; payload: Buffer | string; retain?: boolean }, cb: () => void): void => {
    messages.push({ topic: packet.topic, payload: Buffer.from(packet.payload), retain: packet.retain === true });
    cb();
    const channel = /^swarmgate\/v1\/[^/]+\/[^/]+\/(telemetry|gaps|events|reviews|commands\/ack|config\/reported)$/.exec(packet.topic)?.[1];
    if (!options.receipts || !channel) return;
    const stored = packet.topic.slice(0, -channel.length) + 'stored';
    const payload = Buffer.from(packet.payload);
    let receipt: StoredReceipt = { v: 1, ts: Date.now(), batches: [], messages: [messageDigest(payload)] };
    if (channel === 'telemetry') {
      const batch = decode(TelemetryBatchSchema, packet.topic, payload);
      if (!batch.ok) return;
      receipt = { v: 1, ts: Date.now(), batches: [{ bootId: batch.value.bootId, from: batch.value.seq, to: batch.value.seq }] };
    }
    void publishTo(broker, stored, encode(StoredReceiptSchema, receipt));
  };
  const ready = new Promise<void>((resolve) => broker.subscribe(filter, deliver as never, () => resolve()));
  return {
    messages,
    ready,
    close: () => new Promise<void>((resolve) => broker.unsubscribe(filter, deliver as never, () => resolve())),
  };
}

export type Cleanup = () => Promise<void> | void;

/** A broker, a temp folder and a hub subscribed to `hubFilter`, each undone by `cleanups` (run in reverse). */
export async function startPeers(cleanups: Cleanup[], hubFilter: string, dirPrefix = 'swg-fed-', options: { receipts?: boolean } = {}): Promise<{ broker: TestBroker; dir: ReturnType<typeof tempDir>; hub: ReturnType<typeof hubSubscriber> }> {
  const broker = await startBroker();
  cleanups.push(() => broker.close());
  const dir = tempDir(dirPrefix);
  cleanups.push(() => dir.remove());
  const hub = hubSubscriber(broker.broker, hubFilter, { receipts: options.receipts ?? true });
  await hub.ready;
  cleanups.push(() => hub.close());
  return { broker, dir, hub };
}

export function publishTo(broker: Aedes, topic: string, payload: Buffer | string, retain = false): Promise<void> {
  return new Promise((resolve, reject) =>
    broker.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain, dup: false }, (err) => (err ? reject(err) : resolve())),
  );
}

export interface FakeGateway extends FederationGateway {
  emit(reading: Reading): void;
  /** Device connection states reported by deviceStates() (default every device up). */
  readonly states: Map<string, DeviceState>;
  readonly writes: { device: string; point: string; value: WriteValue; origin: string }[];
  readonly values: Map<string, Reading>;
}

const SETPOINT: PointSpec = { name: 'setpoint', address: {}, unit: 'degC', writable: true, scale: 1, offset: 0, limits: { min: 10, max: 30 }, deadband: 0, pollIntervalMs: 1000, valueType: 'double' };
const TEMP: PointSpec = { name: 'temp', address: {}, unit: 'degC', writable: false, scale: 1, offset: 0, deadband: 0, pollIntervalMs: 1000, valueType: 'double' };

/** A gateway stand-in with device ahu1 (temp, setpoint: double) and any `extra` devices (read-only, always up unless `states` says otherwise). */
export function fakeGateway(id: string, site: string, extra: readonly FederationDevice[] = []): FakeGateway {
  const listeners = new Set<(r: Reading) => void>();
  const writes: FakeGateway['writes'] = [];
  const values = new Map<string, Reading>();
  const states = new Map<string, DeviceState>();
  const points = [TEMP, SETPOINT];
  const devices: FederationDevice[] = [
    { id: 'ahu1', protocol: 'modbus-tcp', points: points.map((p) => ({ name: p.name, unit: p.unit ?? '', writable: p.writable, ...(p.limits ? { limits: p.limits } : {}), ...(p.valueType ? { valueType: p.valueType } : {}) })) },
    ...extra,
  ];
  return {
    id,
    site,
    devices,
    writes,
    values,
    onReport(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    emit(reading) {
      values.set(`${reading.device}/${reading.point}`, reading);
      for (const l of listeners) l(reading);
    },
    async write(device, point, value, origin = 'local') {
      const spec = device === 'ahu1' ? points.find((p) => p.name === point) : undefined;
      if (!spec) throw new SwarmgateError('SWG_ERR_POINT_UNKNOWN', `device "${device}" has no point "${point}"`);
      checkWrite(device, spec, value);
      writes.push({ device, point, value, origin });
    },
    states,
    deviceStates: () => Object.fromEntries(devices.map((d) => [d.id, { state: states.get(d.id) ?? 'up' }])),
    latest: (device, point) => values.get(`${device}/${point}`),
  };
}

export async function waitFor(condition: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function uniqueId(prefix: string): string {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/** The gap records an outbox holds, decoded, with their seqs. */
export function queuedGaps(box: Outbox): { seq: number; gap: GapRecord }[] {
  return box
    .all()
    .filter((r) => r.kind === 'gap')
    .map((r) => {
      const d = decode(GapRecordSchema, r.topic, r.payload);
      if (!d.ok) throw new Error(d.error);
      return { seq: r.seq, gap: d.value };
    });
}

/** The telemetry batches an outbox holds (JSON encoding), decoded, oldest first. */
export function queuedBatches(box: Outbox): TelemetryBatch[] {
  return box
    .all()
    .filter((r) => r.kind === 'telemetry')
    .map((r) => {
      const d = decode(TelemetryBatchSchema, r.topic, r.payload);
      if (!d.ok) throw new Error(d.error);
      return d.value;
    });
}

/** Telemetry batches the hub subscriber received, decoded. */
export function receivedBatches(hub: { messages: Received[] }): TelemetryBatch[] {
  return hub.messages.filter((m) => m.topic.endsWith('/telemetry')).flatMap((m) => {
    const d = decode(TelemetryBatchSchema, m.topic, m.payload);
    return d.ok ? [d.value] : [];
  });
}

/**
 * A broker with a message size limit (64 KiB, refused as aedes refuses: by closing the connection)
 * and a gateway connected to it that has just read a burst of long text values (a device's status
 * strings): one batch of some 100 kB the broker will keep refusing. `lift()` lifts the limit.
 */
export async function oversizeBurst(
  cleanups: Cleanup[],
  dirPrefix: string,
  options: { refusal: { minSpanMs: number } },
): Promise<{ broker: TestBroker; dir: ReturnType<typeof tempDir>; hub: ReturnType<typeof hubSubscriber>; gw: FakeGateway; fed: Federation; registry: Registry; t0: number; lift(): void }> {
  const { broker, dir, hub } = await startPeers(cleanups, 'swarmgate/v1/site-a/gw-1/#', dirPrefix);
  const limit = 64 * 1024;
  broker.broker.authorizePublish = (_client, packet, done) => done(packet.payload.length > limit ? new Error('too large') : null);
  const gw = fakeGateway('gw-1', 'site-a');
  const registry = new Registry();
  const fed = await startFederation({ gateway: gw, dataDir: dir.path, registry, refusal: options.refusal, config: { mqtt: { url: broker.url, reconnectPeriodMs: 100, reconnectMaxPeriodMs: 1000, inflight: 10 }, outbox: { flushMs: 20, batchMax: 100 }, stateIntervalS: 0 } });
  cleanups.push(() => fed.stop());
  await waitFor(() => fed.publisher.connected, 10_000, 'connect');
  const t0 = Date.now();
  for (let i = 0; i < 100; i++) gw.emit({ device: 'ahu1', point: 'temp', value: `status ${i} ${'x'.repeat(1000)}`, quality: 'good', ts: t0 + i });
  await new Promise((r) => setTimeout(r, 200));
  return { broker, dir, hub, gw, fed, registry, t0, lift: () => (broker.broker.authorizePublish = (_client, _packet, done) => done(null)) };
}

/**
 * Makes every insert into the outbox file's queue (and strict mode's staging table) fail, as a
 * read-only or failing SD card does; returns the cure.
 */
export function failOutboxWrites(path: string): () => void {
  const side = new Database(path);
  side.exec("CREATE TRIGGER fail_outbox BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'disk I/O error (simulated)'); END");
  side.exec("CREATE TRIGGER fail_staging BEFORE INSERT ON staging BEGIN SELECT RAISE(ABORT, 'disk I/O error (simulated)'); END");
  side.close();
  return () => {
    const s = new Database(path);
    s.exec('DROP TRIGGER fail_outbox; DROP TRIGGER fail_staging');
    s.close();
  };
}

