/**
 * Sparkplug B edge node, for SCADA/IIoT platforms (Ignition and friends) on the same broker.
 *
 * Its own MQTT connection: Sparkplug wants a clean session and NDEATH as the will, while the hub
 * link keeps a persistent session with GatewayState as its will, and MQTT allows one will per
 * connection. Semantics follow Sparkplug 3.0 (Eclipse Tahu):
 * - bdSeq 0-255, persisted, +1 for every CONNECT; the will NDEATH and the NBIRTH of that
 *   connection carry the same value, so a host can pair them.
 * - seq 0-255 wrapping on every NBIRTH/DBIRTH/DDATA; an NBIRTH resets it to 0.
 * - NBIRTH, then one DBIRTH per device with all its metrics (current values), then DDATA on
 *   changes (report-by-exception readings, grouped per device per tick).
 * - A device the gateway reports down gets a DDEATH (and no DDATA until it is back); when it is up
 *   again, a fresh DBIRTH. A device down at NBIRTH time gets its DBIRTH once it comes up.
 * - With a primary host id (Sparkplug 3.0 STATE): subscribe to spBv1.0/STATE/<host> and publish
 *   the births only once the host says it is online; when it says offline (a newer timestamp
 *   than the last STATE seen), publish NDEATH, reconnect (new bdSeq) and wait for it again.
 * - With aliases on, every metric of a birth carries an alias unique across the node (stable for
 *   a point while the node is connected); DDATA then sends only the alias, and a DCMD may name a
 *   metric by alias or by name.
 * - NCMD "Node Control/Rebirth" republishes every birth; DCMD writes go through the gateway's
 *   write function (writable check, limits), refusals are reported by `onRefused`.
 * Metric quality uses the common "Quality" property (192 good, 64 uncertain, 0 bad).
 */
import { Type } from '@sinclair/typebox';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import sparkplugPayload from 'sparkplug-payload';
import type { TypeStr, UMetric, UPayload } from 'sparkplug-payload/lib/sparkplugbpayload.js';
import { errorMessage, isSwarmgateError } from '../../shared/errors.js';
import { decode } from '../../shared/wire/codec.js';
import type { PointValue, Reading } from '../drivers/driver.js';
import type { DeviceState } from '../runtime/device-runner.js';
import type { WriteFn } from './commands.js';
import type { FederationMetrics } from './metrics.js';
import { clientOptions } from './mqtt-link.js';
import type { ResolvedFederationConfig } from './schema.js';
import type { FederationState } from './state.js';

const codec = sparkplugPayload.get('spBv1.0');
if (!codec) throw new Error('sparkplug-payload has no spBv1.0 codec');
const spb = codec;

export const REBIRTH_METRIC = 'Node Control/Rebirth';
/** A Sparkplug 3.0 host application's STATE payload (JSON, not protobuf). */
const HostStateSchema = Type.Object({ online: Type.Boolean(), timestamp: Type.Number({ minimum: 0 }) });
const QUALITY = { good: 192, uncertain: 64, bad: 0 } as const;

export interface SparkplugDevice {
  readonly id: string;
  readonly points: readonly { readonly name: string; readonly unit?: string; readonly writable?: boolean }[];
}

export interface SparkplugNodeOptions {
  readonly mqtt: ResolvedFederationConfig['mqtt'];
  readonly clientId: string;
  readonly groupId: string;
  readonly edgeNodeId: string;
  /** Sparkplug 3.0 primary host application: births wait for its STATE online. */
  readonly primaryHostId?: string;
  /** Metric aliases in births, DDATA by alias only. */
  readonly aliases?: boolean;
  readonly devices: () => readonly SparkplugDevice[];
  readonly latest: (device: string, point: string) => Reading | undefined;
  /** The device's connection state; 'down' means DDEATH. Default: always up. */
  readonly deviceState?: (device: string) => DeviceState | undefined;
  /** How often device states are checked for DDEATH/DBIRTH; default 1000 ms. */
  readonly deviceCheckMs?: number;
  readonly write: WriteFn;
  readonly state: FederationState;
  readonly onRefused: (device: string, point: string, code: string, message: string) => void;
  readonly metrics: FederationMetrics;
  readonly log: Logger;
  readonly clock?: () => number;
}

export class SparkplugNode {
  private client: MqttClient | undefined;
  private bdSeq = 0;
  private seq = 0;
  private birthed = false;
  private readonly births = new Map<string, Map<string, TypeStr>>();
  private readonly pending = new Map<string, Map<string, Reading>>();
  /** Devices not born (down at NBIRTH) or dead (DDEATH sent) since the last NBIRTH. */
  private readonly dead = new Set<string>();
  private deviceTimer: NodeJS.Timeout | undefined;
  /** Aliases by device and point, and the reverse for DCMDs; renumbered at every NBIRTH. */
  private readonly aliasOf = new Map<string, Map<string, number>>();
  private readonly byAlias = new Map<number, { device: string; point: string }>();
  /** The primary host's last STATE: online, and its timestamp (older messages are ignored). */
  private host: { online: boolean; timestamp: number } | undefined;
  private flushQueued = false;
  private readonly clock: () => number;
  private readonly base: string;

  constructor(private readonly options: SparkplugNodeOptions) {
    this.clock = options.clock ?? Date.now;
    this.base = `spBv1.0/${options.groupId}`;
  }

  get currentBdSeq(): number {
    return this.bdSeq;
  }

  topic(type: 'NBIRTH' | 'NDEATH' | 'NCMD'): string;
  topic(type: 'DBIRTH' | 'DDATA' | 'DCMD' | 'DDEATH', device: string): string;
  topic(type: string, device?: string): string {
    return `${this.base}/${type}/${this.options.edgeNodeId}${device === undefined ? '' : `/${device}`}`;
  }

  start(): void {
    if (this.client) return;
    this.bdSeq = this.options.state.nextBdSeq();
    const client = mqtt.connect(this.options.mqtt.url, clientOptions(this.options.mqtt, this.options.clientId, { clean: true, will: this.deathWill() }));
    this.client = client;
    client.on('reconnect', () => {
      this.bdSeq = this.options.state.nextBdSeq();
      client.options.will = this.deathWill();
    });
    client.on('connect', () => this.onConnect());
    client.on('close', () => {
      this.birthed = false;
      this.options.metrics.connected.set({ link: 'sparkplug' }, 0);
    });
    client.on('error', (err) => this.options.log.warn({ err: errorMessage(err) }, 'sparkplug broker connection error'));
    client.on('message', (topic, payload) => void this.onMessage(topic, payload));
    this.deviceTimer = setInterval(() => this.checkDevices(), this.options.deviceCheckMs ?? 1000);
    this.deviceTimer.unref();
  }

  private isDown(device: string): boolean {
    return this.options.deviceState?.(device) === 'down';
  }

  /** DDEATH for devices that went down, DBIRTH for those back up. */
  private checkDevices(): void {
    if (!this.birthed || !this.client?.connected) return;
    for (const device of this.options.devices()) {
      const down = this.isDown(device.id);
      if (down && !this.dead.has(device.id)) {
        this.dead.add(device.id);
        this.pending.delete(device.id);
        this.publish(this.topic('DDEATH', device.id), { timestamp: this.clock(), seq: this.nextSeq() });
        this.options.log.info({ device: device.id }, 'sparkplug DDEATH: device down');
      } else if (!down && this.dead.has(device.id)) {
        this.dead.delete(device.id);
        this.publishDeviceBirth(device);
      }
    }
  }

  onReading(r: Reading): void {
    let device = this.pending.get(r.device);
    if (!device) this.pending.set(r.device, (device = new Map()));
    device.set(r.point, r);
    if (this.flushQueued) return;
    this.flushQueued = true;
    setImmediate(() => {
      this.flushQueued = false;
      this.flushData();
    });
  }

  /** NDEATH first (a clean disconnect does not fire the will), then disconnect. */
  async stop(): Promise<void> {
    if (this.deviceTimer) clearInterval(this.deviceTimer);
    const client = this.client;
    if (!client) return;
    if (client.connected) {
      await timeout(client.publishAsync(this.topic('NDEATH'), this.deathPayload(), { qos: 1 }), 1000).catch(() => undefined);
      await timeout(client.endAsync(), 2000).catch(() => client.end(true));
    } else {
      client.end(true);
    }
    this.options.metrics.connected.set({ link: 'sparkplug' }, 0);
  }

  private deathPayload(): Buffer {
    return Buffer.from(spb.encodePayload({ timestamp: this.clock(), metrics: [{ name: 'bdSeq', type: 'UInt64', value: this.bdSeq }] }));
  }

  private deathWill(): { topic: string; payload: Buffer; qos: 1; retain: false } {
    return { topic: this.topic('NDEATH'), payload: this.deathPayload(), qos: 1, retain: false };
  }

  private nextSeq(): number {
    const s = this.seq;
    this.seq = (this.seq + 1) % 256;
    return s;
  }

  private onConnect(): void {
    const client = this.client;
    if (!client) return;
    this.options.metrics.connected.set({ link: 'sparkplug' }, 1);
    // Subscribe before the birth: a host answering the NBIRTH with an NCMD must reach us.
    const topics = [this.topic('NCMD'), this.topic('DCMD', '+'), ...(this.stateTopic ? [this.stateTopic] : [])];
    client.subscribe(topics, { qos: 1 }, (err) => {
      if (err) this.options.log.error({ err: errorMessage(err) }, 'sparkplug command subscribe failed');
    });
    // With a primary host, the births wait for its (retained) STATE online.
    if (!this.stateTopic || this.host?.online) this.publishBirths();
    else this.options.log.info({ host: this.options.primaryHostId }, 'sparkplug waiting for the primary host to be online');
  }

  private get stateTopic(): string | undefined {
    return this.options.primaryHostId === undefined ? undefined : `spBv1.0/STATE/${this.options.primaryHostId}`;
  }

  /** The primary host's STATE: births when it comes online; NDEATH and a new session when it goes offline. */
  private async onHostState(payload: Buffer): Promise<void> {
    const r = decode(HostStateSchema, this.stateTopic ?? 'STATE', payload);
    if (!r.ok) {
      this.options.metrics.rejected.inc({ source: 'sparkplug', reason: 'state' });
      this.options.log.warn({ topic: this.stateTopic, err: r.error }, 'unreadable sparkplug STATE ignored');
      return;
    }
    const state = { online: r.value.online, timestamp: r.value.timestamp };
    if (this.host && state.timestamp < this.host.timestamp) return; // an older STATE arriving late
    this.host = state;
    const client = this.client;
    if (!client?.connected) return;
    if (state.online && !this.birthed) {
      this.options.log.info({ host: this.options.primaryHostId }, 'sparkplug primary host online');
      this.publishBirths();
    } else if (!state.online && this.birthed) {
      this.options.log.warn({ host: this.options.primaryHostId }, 'sparkplug primary host offline: ending the session');
      this.birthed = false;
      await timeout(client.publishAsync(this.topic('NDEATH'), this.deathPayload(), { qos: 1 }), 1000).catch(() => undefined);
      // A new session (and bdSeq, see the reconnect handler); births wait for the host again.
      client.reconnect();
    }
  }

  /** NBIRTH (seq reset to 0) and a DBIRTH for every device. */
  publishBirths(): void {
    if (!this.client?.connected) return;
    this.seq = 0;
    const nbirth: UPayload = {
      timestamp: this.clock(),
      seq: this.nextSeq(),
      metrics: [
        { name: 'bdSeq', type: 'UInt64', value: this.bdSeq },
        { name: REBIRTH_METRIC, type: 'Boolean', value: false },
      ],
    };
    this.publish(this.topic('NBIRTH'), nbirth);
    this.births.clear();
    this.pending.clear();
    this.dead.clear();
    this.aliasOf.clear();
    this.byAlias.clear();
    for (const device of this.options.devices()) {
      if (this.isDown(device.id)) this.dead.add(device.id);
      else this.publishDeviceBirth(device);
    }
    this.birthed = true;
    this.options.log.info({ bdSeq: this.bdSeq, devices: this.births.size }, 'sparkplug births published');
  }

  private publishDeviceBirth(device: SparkplugDevice): void {
    const types = new Map<string, TypeStr>();
    const metrics: UMetric[] = [];
    for (const p of device.points) {
      const r = this.options.latest(device.id, p.name);
      const type = typeOf(r?.value) ?? 'Double';
      types.set(p.name, type);
      metrics.push({ ...this.metric(p.name, type, r), ...(this.options.aliases ? { alias: this.aliasFor(device.id, p.name) } : {}) });
    }
    this.births.set(device.id, types);
    this.publish(this.topic('DBIRTH', device.id), { timestamp: this.clock(), seq: this.nextSeq(), metrics });
  }

  private flushData(): void {
    if (!this.birthed) {
      // Births on (re)connect carry the latest values; nothing to replay.
      this.pending.clear();
      return;
    }
    for (const [deviceId, readings] of this.pending) {
      if (this.dead.has(deviceId)) continue;
      const types = this.births.get(deviceId);
      const device = this.options.devices().find((d) => d.id === deviceId);
      if (!types || !device) continue;
      const metrics: UMetric[] = [];
      let rebirth = false;
      for (const r of readings.values()) {
        const declared = types.get(r.point);
        const actual = typeOf(r.value);
        // A metric not in the DBIRTH or changing type needs a new DBIRTH, not a DDATA.
        if (declared === undefined || (actual !== undefined && actual !== declared)) rebirth = true;
        else if (this.options.aliases) {
          // By alias only: the name went out in the birth.
          const { name: _name, ...byAlias } = this.metric(r.point, declared, r);
          metrics.push({ ...byAlias, alias: this.aliasFor(deviceId, r.point) });
        } else metrics.push(this.metric(r.point, declared, r));
      }
      if (rebirth) this.publishDeviceBirth(device);
      else if (metrics.length > 0) this.publish(this.topic('DDATA', deviceId), { timestamp: this.clock(), seq: this.nextSeq(), metrics });
    }
    this.pending.clear();
  }

  /** The point's alias, numbered from 1 in birth order across the node. */
  private aliasFor(device: string, point: string): number {
    let points = this.aliasOf.get(device);
    if (!points) this.aliasOf.set(device, (points = new Map()));
    let alias = points.get(point);
    if (alias === undefined) {
      alias = this.byAlias.size + 1;
      points.set(point, alias);
      this.byAlias.set(alias, { device, point });
    }
    return alias;
  }

  private metric(name: string, type: TypeStr, r: Reading | undefined): UMetric {
    const value = r && typeOf(r.value) === type ? r.value : null;
    return {
      name,
      type,
      value,
      timestamp: r?.ts ?? this.clock(),
      properties: { Quality: { type: 'Int32', value: r ? QUALITY[r.quality] : QUALITY.bad } },
    };
  }

  private publish(topic: string, payload: UPayload): void {
    this.client?.publish(topic, Buffer.from(spb.encodePayload(payload)), { qos: 0 }, (err) => {
      if (err) this.options.log.debug({ topic, err: errorMessage(err) }, 'sparkplug publish failed');
    });
  }

  private async onMessage(topic: string, payload: Buffer): Promise<void> {
    if (topic === this.stateTopic) return this.onHostState(payload);
    let decoded: UPayload;
    try {
      decoded = spb.decodePayload(payload);
    } catch (err) {
      this.options.metrics.rejected.inc({ source: 'sparkplug', reason: 'decode' });
      this.options.log.warn({ topic, err: errorMessage(err) }, 'undecodable sparkplug command');
      return;
    }
    const metrics = decoded.metrics ?? [];
    if (topic === this.topic('NCMD')) {
      if (metrics.some((m) => m.name === REBIRTH_METRIC && m.value === true)) this.publishBirths();
      return;
    }
    const device = topic.split('/')[4];
    if (!device || topic !== this.topic('DCMD', device)) return;
    for (const m of metrics) await this.applyDeviceCommand(device, m);
  }

  private async applyDeviceCommand(device: string, m: UMetric): Promise<void> {
    // A host may address a metric by alias instead of name (it must belong to this device).
    const alias = toPointValue(m.alias ?? null);
    const aliased = typeof alias === 'number' ? this.byAlias.get(alias) : undefined;
    const point = m.name ?? (aliased?.device === device ? aliased.point : `alias ${String(alias ?? '?')}`);
    const value = toPointValue(m.value);
    if (value === undefined) {
      this.refuse(device, point, 'SWG_ERR_POINT_TYPE', `DCMD ${device}/${point}: unsupported value of type ${m.type}`);
      return;
    }
    try {
      await this.options.write(device, point, value, 'sparkplug');
    } catch (err) {
      this.refuse(device, point, isSwarmgateError(err) ? err.code : 'SWG_ERR_INTERNAL', errorMessage(err));
    }
  }

  private refuse(device: string, point: string, code: string, message: string): void {
    this.options.metrics.rejected.inc({ source: 'sparkplug', reason: code });
    this.options.log.warn({ device, point, code, err: message }, 'sparkplug DCMD refused');
    this.options.onRefused(device, point, code, message);
  }
}

function typeOf(value: PointValue | null | undefined): TypeStr | undefined {
  if (typeof value === 'number') return 'Double';
  if (typeof value === 'boolean') return 'Boolean';
  if (typeof value === 'string') return 'String';
  return undefined;
}

function toPointValue(value: UMetric['value']): PointValue | undefined {
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'string') return value;
  if (value && typeof value === 'object' && 'toNumber' in value && typeof value.toNumber === 'function') return (value as { toNumber(): number }).toNumber();
  return undefined;
}

async function timeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), ms)))]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}
