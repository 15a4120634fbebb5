/**
 * One simulated BACnet/IP controller on its own UDP port: answers Who-Is (unicast I-Am),
 * ReadProperty, ReadPropertyMultiple (within the smaller of its own and the requester's max-APDU;
 * it never segments, so a longer reply is an Abort "segmentation-not-supported"), WriteProperty
 * (priority array, NULL relinquishes) and SubscribeCOV (confirmed or unconfirmed notifications,
 * lifetimes). @bacnet-js/client decodes the requests; replies are built by codec.ts.
 * Faults (by device instance): bacnet-offline and the silent part of bacnet-restart drop all
 * traffic, bacnet-slow delays each request, bacnet-no-segmentation lowers the max-APDU.
 */
import type { Logger } from 'pino';
import { createLogger } from '../../shared/kit/log.js';
import type { FaultRegistry } from '../faults/registry.js';
import {
  AbortReason,
  ConfirmedServiceChoice,
  ErrorClass,
  ErrorCode,
  MAX_APDU_OCTETS,
  newBacnetClient,
  ObjectType,
  PropertyIdentifier as P,
  type AppValue,
  type BACNetObjectID,
  type BACNetReadAccess,
  type BacnetClient,
  type Receiver,
} from './bacnet-lib.js';
import { abortFrame, covValues, errorFrame, iAmFrame, readPropertyAckFrame, readPropertyMultipleAckFrame, rejectFrame, simpleAckFrame, unconfirmedCovFrame, type Frame } from './codec.js';

/** Reject reason 9: the device does not implement the service. */
const REJECT_UNRECOGNIZED_SERVICE = 9;
import { CovTable, type CovObservation, type CovSubscription } from './cov.js';
import { DeviceObject, SIM_VENDOR_ID, type DeviceIdentity } from './device-object.js';
import type { BacnetObjectLike, BacnetPoint } from './objects.js';
import { UdpBinding } from './udp-binding.js';

export const DEFAULT_MAX_APDU = 1476;
const WILDCARD_DEVICE = 4_194_303;
const SPECIAL_PROPERTIES = new Set<number>([P.ALL, P.REQUIRED, P.OPTIONAL]);

export interface DeviceServerOptions {
  readonly identity: DeviceIdentity;
  readonly points: readonly BacnetPoint[];
  readonly host: string;
  readonly port: number;
  readonly broadcastAddress?: string;
  readonly broadcastPort?: number;
  readonly faults: FaultRegistry;
}

interface Request {
  readonly sender: Receiver;
  readonly invokeId: number;
  /** Max-APDU the requester accepts, octets. */
  readonly maxApdu: number;
}

export class BacnetDeviceServer {
  readonly instance: number;
  readonly device: DeviceObject;
  readonly cov = new CovTable();
  private readonly objects = new Map<string, BacnetObjectLike>();
  private readonly binding: UdpBinding;
  private client: BacnetClient | undefined;
  private silentUntil = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private readonly log: Logger;

  constructor(private readonly options: DeviceServerOptions) {
    this.instance = options.identity.instance;
    this.log = createLogger('sim-bacnet').child({ device: this.instance });
    this.device = new DeviceObject(options.identity, () => options.points.map((p) => p.id), () => this.maxApdu(), () => !options.faults.bacnetNoRpm(this.instance));
    for (const o of [this.device, ...options.points]) this.objects.set(key(o.id), o);
    this.binding = new UdpBinding({ host: options.host, port: options.port, broadcastAddress: options.broadcastAddress, broadcastPort: options.broadcastPort });
    this.binding.setGate(() => ({ silent: this.silent(), delayMs: options.faults.bacnetDelayMs(this.instance) }));
  }

  get endpoint(): string {
    return `${this.binding.host}:${this.binding.port}`;
  }

  get port(): number {
    return this.binding.port;
  }

  /** Max-APDU in effect (a bacnet-no-segmentation fault lowers it). */
  maxApdu(): number {
    return this.options.faults.bacnetMaxApdu(this.instance) ?? DEFAULT_MAX_APDU;
  }

  silent(): boolean {
    return Date.now() < this.silentUntil || this.options.faults.isBacnetOffline(this.instance);
  }

  async start(): Promise<void> {
    const client = newBacnetClient({ transport: this.binding, apduTimeout: 3000 });
    this.client = client;
    client.on('error', (err: Error) => this.log.warn({ err }, 'BACnet transport error'));
    client.on('whoIs', (c) => this.safe(() => this.onWhoIs(c.header?.sender, c.payload.lowLimit, c.payload.highLimit)));
    client.on('readProperty', (c) => this.safe(() => this.onReadProperty(request(c), c.payload.objectId, c.payload.property.id, c.payload.property.index)));
    client.on('readPropertyMultiple', (c) => this.safe(() => this.onReadPropertyMultiple(request(c), c.payload.properties)));
    client.on('writeProperty', (c) => this.safe(() => this.onWriteProperty(request(c), c.payload.objectId, c.payload.value.property.id, c.payload.value.value, c.payload.value.priority)));
    client.on('subscribeCov', (c) => this.safe(() => this.onSubscribeCov(request(c), c.payload as unknown as SubscribeCovRequest)));
    await this.binding.ready;
    this.expiryTimer = setInterval(() => this.scanCov(), 1000);
    this.expiryTimer.unref();
    this.announce();
  }

  /** Broadcasts I-Am (at start and after a restart). */
  announce(): void {
    if (!this.options.broadcastAddress) return;
    this.send(iAmFrame(undefined, this.instance, this.maxApdu(), SIM_VENDOR_ID));
  }

  /** Goes silent for downMs, forgets every COV subscription, then announces itself again. */
  restart(downMs: number): Promise<void> {
    this.silentUntil = Date.now() + downMs;
    this.cov.clear();
    this.log.info({ downMs }, 'BACnet device restarting');
    return new Promise((resolve) => {
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined;
        this.silentUntil = 0;
        if (!this.silent()) this.announce();
        resolve();
      }, downMs);
    });
  }

  /** Sends the COV notifications that are due and drops lapsed subscriptions. */
  scanCov(): void {
    this.cov.expire();
    if (this.cov.size === 0 || this.silent()) return;
    for (const obj of this.options.points) {
      for (const sub of this.cov.due(obj.id, observe(obj))) this.notify(sub, obj);
    }
  }

  async stop(): Promise<void> {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    this.cov.clear();
    this.client?.close();
    this.binding.close();
  }

  private safe(handler: () => void): void {
    try {
      handler();
    } catch (err) {
      this.log.error({ err }, 'BACnet request handler failed');
    }
  }

  private send(frame: Frame, receiver?: Receiver): void {
    this.binding.sendBytes(frame.bytes, receiver?.address);
  }

  /** A confirmed reply, or an Abort when it is longer than both sides accept. */
  private reply(req: Request, frame: Frame): void {
    const limit = Math.min(this.maxApdu(), req.maxApdu);
    if (frame.apduLength > limit) {
      this.log.debug({ apduLength: frame.apduLength, limit }, 'reply too long and no segmentation: abort');
      this.send(abortFrame(req.sender, req.invokeId, AbortReason.SEGMENTATION_NOT_SUPPORTED), req.sender);
      return;
    }
    this.send(frame, req.sender);
  }

  private lookup(id: BACNetObjectID): BacnetObjectLike | undefined {
    if (id.type === ObjectType.DEVICE && id.instance === WILDCARD_DEVICE) return this.device;
    return this.objects.get(key(id));
  }

  private onWhoIs(sender: Receiver | undefined, low?: number, high?: number): void {
    if (low !== undefined && high !== undefined && (this.instance < low || this.instance > high)) return;
    // Unicast I-Am to the asker: the bacnet-stack tools do not listen for broadcasts.
    this.send(iAmFrame(sender, this.instance, this.maxApdu(), SIM_VENDOR_ID), sender);
  }

  private onReadProperty(req: Request, id: BACNetObjectID, property: number, index: number): void {
    const service = ConfirmedServiceChoice.READ_PROPERTY;
    const obj = this.lookup(id);
    if (!obj) return this.reply(req, errorFrame(req.sender, service, req.invokeId, ErrorClass.OBJECT, ErrorCode.UNKNOWN_OBJECT));
    const result = obj.read(property, index);
    if (!result.ok) return this.reply(req, errorFrame(req.sender, service, req.invokeId, result.errorClass, result.errorCode));
    this.reply(req, readPropertyAckFrame(req.sender, req.invokeId, obj.id, property, index, result.values));
  }

  private onReadPropertyMultiple(req: Request, specs: ReadonlyArray<{ objectId: BACNetObjectID; properties: ReadonlyArray<{ id: number; index: number }> }>): void {
    if (this.options.faults.bacnetNoRpm(this.instance)) return this.reply(req, rejectFrame(req.sender, req.invokeId, REJECT_UNRECOGNIZED_SERVICE));
    const results: BACNetReadAccess[] = specs.map((spec) => {
      const obj = this.lookup(spec.objectId);
      if (!obj) {
        return { objectId: spec.objectId, values: spec.properties.map((p) => ({ property: p, value: [bacnetError(ErrorClass.OBJECT, ErrorCode.UNKNOWN_OBJECT)] })) };
      }
      const wanted = spec.properties.flatMap((p) => (SPECIAL_PROPERTIES.has(p.id) ? obj.propertyIds().map((id) => ({ id, index: 0xffffffff })) : [p]));
      return {
        objectId: obj.id,
        values: wanted.map((p) => {
          const r = obj.read(p.id, p.index);
          return { property: { id: p.id, index: p.index }, value: r.ok ? r.values : [bacnetError(r.errorClass, r.errorCode)] };
        }),
      };
    });
    this.reply(req, readPropertyMultipleAckFrame(req.sender, req.invokeId, results));
  }

  private onWriteProperty(req: Request, id: BACNetObjectID, property: number, values: readonly AppValue[], priority: number): void {
    const service = ConfirmedServiceChoice.WRITE_PROPERTY;
    const obj = this.lookup(id);
    if (!obj) return this.reply(req, errorFrame(req.sender, service, req.invokeId, ErrorClass.OBJECT, ErrorCode.UNKNOWN_OBJECT));
    const result = obj.write(property, values, priority);
    if (!result.ok) return this.reply(req, errorFrame(req.sender, service, req.invokeId, result.errorClass, result.errorCode));
    this.log.debug({ object: id, property, priority, value: values[0]?.value ?? null }, 'write');
    this.reply(req, simpleAckFrame(req.sender, service, req.invokeId));
    this.scanCov();
  }

  private onSubscribeCov(req: Request, payload: SubscribeCovRequest): void {
    const service = ConfirmedServiceChoice.SUBSCRIBE_COV;
    const obj = this.lookup(payload.monitoredObjectId);
    const point = obj && obj !== this.device ? (obj as BacnetPoint) : undefined;
    if (!point) return this.reply(req, errorFrame(req.sender, service, req.invokeId, ErrorClass.OBJECT, ErrorCode.UNKNOWN_OBJECT));
    if (payload.cancellationRequest) {
      this.cov.cancel(req.sender, payload.subscriberProcessId, point.id);
      return this.reply(req, simpleAckFrame(req.sender, service, req.invokeId));
    }
    const sub = this.cov.subscribe(
      { subscriber: req.sender, processId: payload.subscriberProcessId, object: point.id, confirmed: payload.issueConfirmedNotifications === true, lifetimeS: payload.lifetime ?? 0 },
      observe(point),
    );
    this.reply(req, simpleAckFrame(req.sender, service, req.invokeId));
    // The initial notification the standard asks for right after a successful subscription.
    this.notify(sub, point);
  }

  private notify(sub: CovSubscription, point: BacnetPoint): void {
    const values = [
      { property: P.PRESENT_VALUE, value: [point.presentValueData()] },
      { property: P.STATUS_FLAGS, value: [point.statusFlags()] },
    ];
    const remaining = this.cov.timeRemaining(sub);
    if (!sub.confirmed) {
      this.send(unconfirmedCovFrame(sub.subscriber, sub.processId, this.instance, point.id, remaining, values), sub.subscriber);
      return;
    }
    this.client?.confirmedCOVNotification(sub.subscriber, point.id, sub.processId, this.instance, remaining, covValues(values)).catch((err: unknown) => {
      this.log.debug({ err, subscriber: sub.subscriber.address }, 'confirmed COV notification not acknowledged');
    });
  }
}

interface SubscribeCovRequest {
  readonly subscriberProcessId: number;
  readonly monitoredObjectId: BACNetObjectID;
  readonly cancellationRequest?: boolean;
  readonly issueConfirmedNotifications?: boolean;
  readonly lifetime?: number;
}

function key(id: BACNetObjectID): string {
  return `${id.type}:${id.instance}`;
}

function observe(point: BacnetPoint): CovObservation {
  const flags = point.statusFlags().value as { value: number[] };
  return { value: point.presentValue(), flags: flags.value.join(','), analog: point.analog, increment: point.covIncrement };
}

/** The shape the library's RPM encoder expects for a per-property error. */
function bacnetError(errorClass: ErrorClass, errorCode: ErrorCode): AppValue {
  return { value: { type: 'BacnetError', errorClass, errorCode } } as unknown as AppValue;
}

function request(content: { header?: { sender: Receiver }; invokeId?: number }): Request {
  const raw = content as { maxApdu?: number };
  const octets = MAX_APDU_OCTETS[raw.maxApdu ?? 5] ?? DEFAULT_MAX_APDU;
  return { sender: content.header?.sender ?? {}, invokeId: content.invokeId ?? 0, maxApdu: octets };
}
