/**
 * Sparkplug B edge node, for SCADA/IIoT platforms (Ignition and friends) on the same broker.
 *
 * Its own MQTT connection: Sparkplug wants a clean session and NDEATH as the will, while the hub
 * link keeps a persistent session with GatewayState as its will, and MQTT allows one will per
 * connection. Semantics follow Sparkplug 3.0 (Eclipse Tahu):
 * - bdSeq 0-255, persisted, +1 for every new session: a connect attempt the broker never accepted
 *   (no CONNACK) registered no will, so it keeps the bdSeq; the will NDEATH and the NBIRTH of that
 *   connection carry the same value, so a host can pair them.
 * - Births are QoS 0 as Sparkplug requires (tck-id-topics-nbirth-mqtt), so no PUBACK can say the
 *   broker refused them. Refusals are found instead: the NCMD/DCMD(/STATE) subscription, made
 *   before the births, must be granted (SUBACK 0x80 = refused: the broker's ACL does not give this
 *   gateway the group), and the node's own NBIRTH, to which it subscribes too, must come back to it
 *   (a broker delivers a publish it took to every matching subscription; one that refuses it drops
 *   it silently, as Mosquitto does, or closes the connection, as an MQTT 3.1.1 broker like the
 *   embedded one does). A refusal is logged as an error with topic, reason and the fix, counted in
 *   swarmgate_federation_sparkplug_refused_total, and the node retries after a backoff (30 s
 *   doubling to 10 min) instead of reconnecting, and spending a bdSeq, every few seconds. "births
 *   published" is logged only once the NBIRTH came back.
 * - seq 0-255 wrapping on every NBIRTH/DBIRTH/DDATA; an NBIRTH resets it to 0.
 * - NBIRTH, then one DBIRTH per device with all its metrics (current values), then DDATA on
 *   changes (report-by-exception readings, grouped per device per tick). Metric datatypes come
 *   from the profile (sparkplug-datatypes.ts); a value not known yet goes out null of that type.
 *   A device is born again only after its DDEATH or with a new NBIRTH.
 * - A device the gateway reports down gets a DDEATH (and no DDATA until it is back); when it is up
 *   again, a fresh DBIRTH. A device down at NBIRTH time gets its DBIRTH once it comes up.
 * - With a primary host id (Sparkplug 3.0 STATE): subscribe to spBv1.0/STATE/<host> and publish
 *   the births only once the host says it is online; when it says offline (a newer timestamp
 *   than the last STATE seen), publish NDEATH, reconnect (new bdSeq) and wait for it again.
 * - With aliases on, every metric of a birth carries an alias unique across the node (stable for
 *   a point while the node is connected); DDATA then sends only the alias, and a DCMD may name a
 *   metric by alias or by name.
 * - NCMD "Node Control/Rebirth" republishes every birth; DCMD writes go through the gateway's
 *   write function (writable check, limits), refusals are reported by `onRefused`. One birth is
 *   confirmed at a time: rebirth requests arriving while the last births wait for their echo are
 *   answered by one more rebirth once it came back.
 * - A node whose births went out and that ends its session itself (host offline, a refusal, stop)
 *   publishes NDEATH with the session's bdSeq first (tck-id-operational-behavior-edge-node-
 *   intentional-disconnect-ndeath); when the broker does not acknowledge it, the socket is dropped
 *   without a DISCONNECT so that the will, the same NDEATH, goes out instead.
 * Metric quality uses the common "Quality" property (192 good, 64 uncertain, 0 bad).
 */
import { Type } from '@sinclair/typebox';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import sparkplugPayload from 'sparkplug-payload';
import type { TypeStr, UMetric, UPayload } from 'sparkplug-payload/lib/sparkplugbpayload.js';
import { errorMessage, isSwarmgateError } from '../../shared/kit/errors.js';
import { decode } from '../../shared/wire/codec.js';
import type { PointValueType, Reading } from '../drivers/driver.js';
import type { DeviceState } from '../runtime/device-runner.js';
import type { WriteFn } from './commands.js';
import type { FederationMetrics } from './metrics.js';
import { clientOptions } from './mqtt-link.js';
import { metricValue, sparkplugType, toPointValue } from './sparkplug-datatypes.js';
import type { ResolvedFederationConfig } from './schema.js';
import type { FederationState } from './state.js';

const codec = sparkplugPayload.get('spBv1.0');
if (!codec) throw new Error('sparkplug-payload has no spBv1.0 codec');
const spb = codec;

export const REBIRTH_METRIC = 'Node Control/Rebirth';
/** A Sparkplug 3.0 host application's STATE payload (JSON, not protobuf). */
const HostStateSchema = Type.Object({ online: Type.Boolean(), timestamp: Type.Number({ minimum: 0 }) });
const QUALITY = { good: 192, uncertain: 64, bad: 0 } as const;
/** The DBIRTH metric property holding a point's Project Haystack markers ("discharge air temp sensor"). */
export const TAGS_PROPERTY = 'haystackTags';
/** Retry after a refusal: first wait, doubled per further refusal up to the last. */
const REFUSED_RETRY_MS = { first: 30_000, max: 600_000 } as const;

export interface SparkplugDevice {
  readonly id: string;
  /** Points without a valueType (the profile declares none) are left out of the births. */
  readonly points: readonly { readonly name: string; readonly unit?: string; readonly writable?: boolean; readonly valueType?: PointValueType; readonly tags?: readonly string[] }[];
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
  /** First wait before a new session after the broker refused one; default 30 s (doubles up to 10 min). */
  readonly refusedRetryMs?: number;
}

export class SparkplugNode {
  private client: MqttClient | undefined;
  private bdSeq = 0;
  /** Whether the broker accepted a CONNECT carrying the current bdSeq (its will is registered). */
  private bdSeqUsed = false;
  private seq = 0;
  private birthed = false;
  /** Connection count, so callbacks of an ended connection change nothing. */
  private session = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs: number;
  private stopping = false;
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
  /** Called when the node's own NBIRTH comes back (see confirmBirths); set while a birth is unconfirmed. */
  private birthEcho: (() => void) | undefined;
  /** A rebirth was requested while a birth was being confirmed: one more follows its confirmation. */
  private rebirthQueued = false;
  /** The node is ending this session itself (retryLater): nothing more is born on it. */
  private leaving = false;
  private readonly clock: () => number;
  private readonly base: string;

  constructor(private readonly options: SparkplugNodeOptions) {
    this.clock = options.clock ?? Date.now;
    this.base = `spBv1.0/${options.groupId}`;
    this.retryMs = options.refusedRetryMs ?? REFUSED_RETRY_MS.first;
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
    for (const device of this.options.devices()) {
      const untyped = device.points.filter((p) => p.valueType === undefined).map((p) => p.name);
      if (untyped.length > 0) this.options.log.error({ device: device.id, points: untyped }, 'sparkplug: points without a data type in their profile are left out of the births (add address.dataType)');
    }
    this.options.log.info({ groupId: this.options.groupId, edgeNodeId: this.options.edgeNodeId }, 'sparkplug edge node starting; on a Swarmgate hub the gateway\'s broker user must carry this group (hub user add … --sparkplug-group, default: the site)');
    this.bdSeq = this.options.state.nextBdSeq();
    // Subscriptions are made on every connect (onConnect), so MQTT.js must not repeat them.
    const client = mqtt.connect(this.options.mqtt.url, clientOptions(this.options.mqtt, this.options.clientId, { clean: true, resubscribe: false, will: this.deathWill() }));
    this.client = client;
    client.on('reconnect', () => {
      // A new bdSeq only when the last one reached the broker: attempts without a CONNACK
      // registered no will, and counting them would race bdSeq up while the broker is away.
      if (this.bdSeqUsed) {
        this.bdSeq = this.options.state.nextBdSeq();
        this.bdSeqUsed = false;
      }
      client.options.will = this.deathWill();
    });
    client.on('connect', () => {
      this.bdSeqUsed = true;
      this.session++;
      this.leaving = false;
      this.onConnect();
    });
    client.on('close', () => {
      this.session++;
      this.birthed = false;
      this.options.metrics.sparkplugBorn.set(0);
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
    this.stopping = true;
    if (this.deviceTimer) clearInterval(this.deviceTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const client = this.client;
    if (!client) return;
    if (client.connected) {
      await this.publishDeath(client);
      await timeout(client.endAsync(), 2000).catch(() => client.end(true));
    } else {
      client.end(true);
    }
    this.options.metrics.connected.set({ link: 'sparkplug' }, 0);
  }

  /** NDEATH at QoS 1 with the session's bdSeq (what the will says): true once the broker acknowledged it. */
  private async publishDeath(client: MqttClient): Promise<boolean> {
    return timeout(client.publishAsync(this.topic('NDEATH'), this.deathPayload(), { qos: 1 }), 1000).then(
      () => true,
      () => false,
    );
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
    const session = this.session;
    // Subscribe before the birth: a host answering the NBIRTH with an NCMD must reach us, and a
    // refused subscription is the broker saying this gateway may not use the group.
    // Its own NBIRTH too: the echo is how the node knows the broker took its births.
    const topics = [this.topic('NCMD'), this.topic('DCMD', '+'), this.topic('NBIRTH'), ...(this.stateTopic ? [this.stateTopic] : [])];
    client.subscribe(topics, { qos: 1 }, (err, _grants, packet) => {
      if (session !== this.session) return;
      const codes = packet && 'granted' in packet ? packet.granted : [];
      const refused = topics.flatMap((topic, i) => {
        const code = codes[i];
        return typeof code === 'number' && (code & 0x80) !== 0 ? [{ topic, code }] : [];
      });
      if (refused.length > 0) {
        for (const r of refused) this.refused('subscribe', 'suback', r.topic, `the broker refused the subscription (SUBACK 0x${r.code.toString(16)}): its ACL does not give this gateway Sparkplug group "${this.options.groupId}"`);
        return this.retryLater(client);
      }
      if (err) {
        this.options.log.warn({ err: errorMessage(err) }, 'sparkplug command subscribe failed; births wait for the next connection');
        return;
      }
      // With a primary host, the births wait for its (retained) STATE online.
      if (!this.stateTopic || this.host?.online) this.publishBirths();
      else this.options.log.info({ host: this.options.primaryHostId }, 'sparkplug waiting for the primary host to be online');
    });
  }

  /** What the credential needs, for every refusal message. */
  private get hint(): string {
    return `the gateway's broker user must carry the group: swarmgate hub user add --credentials FILE --role gateway --site SITE --gateway ${this.options.edgeNodeId} --sparkplug-group ${this.options.groupId}; or set integration.sparkplug.groupId to a group it has (default: the site)`;
  }

  private refused(operation: 'subscribe' | 'publish', reason: 'suback' | 'closed' | 'no-echo', topic: string, message: string): void {
    this.options.metrics.sparkplugRefused.inc({ operation, reason });
    this.options.log.error({ topic, operation, reason: message, hint: this.hint, bdSeq: this.bdSeq }, `sparkplug ${operation} refused by the broker`);
  }

  /**
   * Ends this session and starts a new one after a backoff, not at once. A node never born in it
   * ends with a DISCONNECT (the broker drops the will: no NDEATH without a birth); one whose births
   * went out, which a host may show online, publishes its NDEATH first, or drops the socket so the
   * broker publishes the will.
   */
  private retryLater(client: MqttClient): void {
    const born = this.birthed;
    this.birthed = false;
    this.leaving = true;
    const wait = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, REFUSED_RETRY_MS.max);
    this.options.log.warn({ retryInS: Math.round(wait / 1000), bdSeq: this.bdSeq, ndeath: born }, 'sparkplug node offline until the broker allows it; trying again later');
    void this.endSession(client, born).then(() => {
      if (this.stopping) return;
      if (this.retryTimer) clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        if (!this.stopping) client.reconnect();
      }, wait);
      this.retryTimer.unref();
    });
  }

  private async endSession(client: MqttClient, born: boolean): Promise<void> {
    if (!client.connected) return void client.end(true);
    if (!born) return void client.end(false);
    const acknowledged = await this.publishDeath(client);
    if (!acknowledged) this.options.log.warn({ bdSeq: this.bdSeq }, 'sparkplug NDEATH not acknowledged: dropping the connection so the broker publishes the will');
    if (this.stopping) return; // stop() ends the connection itself
    client.end(!acknowledged);
  }

  /**
   * The births went out at QoS 0: the broker took them when the node's own NBIRTH comes back on its
   * subscription. A closed connection is a refusal by an MQTT 3.1.1 broker; no echo within the
   * connect timeout is a refusal by a broker that drops what its ACL refuses (Mosquitto).
   */
  private confirmBirths(client: MqttClient, devices: number): void {
    // One confirmation per session: any NBIRTH of it coming back shows the broker takes the births.
    if (this.birthEcho) return;
    const session = this.session;
    const timeoutMs = Math.max(this.options.mqtt.connectTimeoutMs, 1000);
    let settled = false;
    const settle = (outcome: 'confirmed' | 'closed' | 'timeout'): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.off('close', onClose);
      if (this.birthEcho === onEcho) this.birthEcho = undefined;
      const rebirth = this.rebirthQueued;
      this.rebirthQueued = false;
      if (outcome === 'closed') {
        if (this.stopping || client.disconnecting) return; // we ended it (stop, host offline)
        this.refused('publish', 'closed', this.topic('NBIRTH'), 'the broker closed the connection on the births instead of taking them (an MQTT 3.1.1 broker closes the connection on a publish its ACL refuses)');
        this.retryLater(client);
      } else if (session !== this.session || this.stopping) {
        return;
      } else if (outcome === 'timeout') {
        this.refused('publish', 'no-echo', this.topic('NBIRTH'), `the broker did not deliver the node's own NBIRTH back to it within ${timeoutMs} ms: it dropped the births (a broker such as Mosquitto silently drops a publish its ACL refuses)`);
        this.retryLater(client);
      } else {
        this.retryMs = this.options.refusedRetryMs ?? REFUSED_RETRY_MS.first;
        this.options.metrics.sparkplugBorn.set(1);
        this.options.log.info({ bdSeq: this.bdSeq, devices }, 'sparkplug births published');
        if (rebirth) this.publishBirths();
      }
    };
    const onClose = (): void => settle('closed');
    const onEcho = (): void => settle('confirmed');
    const timer = setTimeout(() => settle('timeout'), timeoutMs);
    timer.unref();
    client.once('close', onClose);
    this.birthEcho = onEcho;
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
      await this.publishDeath(client);
      // A new session (and bdSeq, see the reconnect handler); births wait for the host again.
      client.reconnect();
    }
  }

  /** NBIRTH (seq reset to 0) and a DBIRTH for every device. */
  publishBirths(): void {
    const client = this.client;
    if (!client?.connected || this.leaving) return;
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
    this.confirmBirths(client, this.births.size);
  }

  private publishDeviceBirth(device: SparkplugDevice): void {
    const types = new Map<string, TypeStr>();
    const metrics: UMetric[] = [];
    for (const p of device.points) {
      if (p.valueType === undefined) continue;
      const r = this.options.latest(device.id, p.name);
      const type = sparkplugType(p.valueType);
      types.set(p.name, type);
      const metric = this.metric(p.name, type, r);
      // Haystack markers ride in the birth only (DDATA carries values): one String property, space-separated.
      const properties = p.tags && p.tags.length > 0 ? { ...metric.properties, [TAGS_PROPERTY]: { type: 'String' as const, value: p.tags.join(' ') } } : metric.properties;
      metrics.push({ ...metric, ...(properties ? { properties } : {}), ...(this.options.aliases ? { alias: this.aliasFor(device.id, p.name) } : {}) });
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
      if (!types) continue;
      const metrics: UMetric[] = [];
      for (const r of readings.values()) {
        // The birth declared every metric this device has, with its profile's datatype.
        const declared = types.get(r.point);
        if (declared === undefined) continue;
        if (this.options.aliases) {
          // By alias only: the name went out in the birth.
          const { name: _name, ...byAlias } = this.metric(r.point, declared, r);
          metrics.push({ ...byAlias, alias: this.aliasFor(deviceId, r.point) });
        } else metrics.push(this.metric(r.point, declared, r));
      }
      if (metrics.length > 0) this.publish(this.topic('DDATA', deviceId), { timestamp: this.clock(), seq: this.nextSeq(), metrics });
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
    const value = metricValue(type, r?.value);
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
    if (topic === this.topic('NBIRTH')) return this.birthEcho?.();
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
      if (metrics.some((m) => m.name === REBIRTH_METRIC && m.value === true)) this.rebirth();
      return;
    }
    const device = topic.split('/')[4];
    if (!device || topic !== this.topic('DCMD', device)) return;
    for (const m of metrics) await this.applyDeviceCommand(device, m);
  }

  /** A host's rebirth request; while the last births wait for their echo, one more rebirth follows it. */
  private rebirth(): void {
    if (!this.birthEcho) return this.publishBirths();
    if (!this.rebirthQueued) this.options.log.debug({ bdSeq: this.bdSeq }, 'sparkplug rebirth requested while the last births are being confirmed: rebirth once they are');
    this.rebirthQueued = true;
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

async function timeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), ms)))]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}
