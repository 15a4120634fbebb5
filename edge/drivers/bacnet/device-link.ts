/**
 * One controller as the driver talks to it: its address (configured, behind a router, or found by
 * Who-Is), what it told us about itself (max APDU, segmentation, services), and its own request
 * queue with a concurrency limit, timeout and retries. A dead controller only fills its own queue:
 * after repeated timeouts it is marked offline and its requests fail at once, except one probe at a
 * time, so polls of a dead device cost nothing and other devices keep their rates.
 */
import { EventEmitter } from 'node:events';
import { ErrorCode, ObjectType, PropertyIdentifier, Segmentation, ServicesSupported, type BACNetAddress, type BACNetAppData } from '@bacnet-js/client';
import type { Logger } from 'pino';
import { SwarmgateError, errorMessage } from '../../../shared/kit/errors.js';
import type { BacnetClient, BacnetNetwork, IAm } from './network.js';
import type { ResolvedBacnetConnection } from './settings.js';

const ALL = 0xffffffff;
/** Consecutive timeouts after which the device counts as offline. */
const OFFLINE_AFTER = 2;

export interface DeviceInfo {
  readonly maxApdu: number;
  readonly segmentation: number;
  /** undefined when the device did not say (then RPM is tried and dropped on a reject). */
  readonly servicesSupported?: readonly number[];
  readonly vendorId?: number;
  readonly vendorName?: string;
  readonly modelName?: string;
  readonly objectName?: string;
}

export function bitSet(bits: readonly number[] | undefined, bit: number): boolean {
  return bits !== undefined && (((bits[bit >> 3] ?? 0) >> (bit & 7)) & 1) === 1;
}

/** BacnetError / BacnetAbort text from the library (it reports a Reject as an abort), classified. */
export function classifyError(err: unknown): 'timeout' | 'unsupported' | 'too-big' | 'error' {
  const text = errorMessage(err);
  if (/ERR_TIMEOUT|timeout/i.test(text)) return 'timeout';
  if (/BacnetAbort - Reason:(1|4|11)\b/.test(text)) return 'too-big'; // buffer overflow, segmentation not supported, APDU too long
  if (/BacnetAbort - Reason:9\b|Class:5 - Code:(29|45|67)\b/.test(text)) return 'unsupported'; // reject: unrecognized service
  return 'error';
}

const ERROR_CODE_NAMES = new Map(
  Object.entries(ErrorCode as unknown as Record<string, string | number>).flatMap(([k, v]) => (typeof v === 'number' ? [[v, k.toLowerCase().replace(/_/g, '-')] as const] : [])),
);

/** BACnet error code 31 -> "unknown-object". */
export function errorCodeName(code: number): string {
  return ERROR_CODE_NAMES.get(code) ?? `error-code ${code}`;
}

/** "BacnetError - Class:1 - Code:31" -> "unknown-object"; other texts as they are. */
export function describeError(err: unknown): string {
  const text = errorMessage(err);
  const m = /Class:(\d+) - Code:(\d+)/.exec(text);
  if (m) return ERROR_CODE_NAMES.get(Number(m[2])) ?? text;
  return text;
}

export class DeviceLink extends EventEmitter {
  readonly #network: BacnetNetwork;
  readonly #settings: ResolvedBacnetConnection;
  readonly #log: Logger;
  #address: BACNetAddress | undefined;
  #info: DeviceInfo | undefined;
  #active = 0;
  readonly #queue: (() => void)[] = [];
  #timeouts = 0;
  #offlineSince: number | undefined;
  #probing = false;
  readonly #stopIAm: () => void;
  #stopped = false;

  constructor(network: BacnetNetwork, settings: ResolvedBacnetConnection, log: Logger) {
    super();
    this.#network = network;
    this.#settings = settings;
    this.#log = log;
    if (settings.deviceAddress) this.#address = this.#routed(settings.deviceAddress);
    this.#stopIAm = network.onIAm((iAm) => this.#onIAm(iAm));
  }

  get online(): boolean {
    return this.#offlineSince === undefined;
  }

  get info(): DeviceInfo | undefined {
    return this.#info;
  }

  get instance(): number {
    return this.#settings.deviceInstance;
  }

  #routed(ip: string): BACNetAddress {
    const n = this.#settings.network;
    return n ? { address: ip, net: n.dnet, adr: [...n.dadr] } : { address: ip };
  }

  #onIAm(iAm: IAm): void {
    if (iAm.deviceId !== this.#settings.deviceInstance) return;
    if (!this.#settings.deviceAddress && this.#address?.address !== iAm.address) {
      this.#address = this.#routed(iAm.address);
      this.#log.info({ address: iAm.address }, 'BACnet device found');
    }
    // An I-Am we did not ask for is how a controller announces a restart: its COV subscriptions are gone.
    this.emit('announced');
  }

  /** The device's address: configured, or found by Who-Is for its instance. */
  async address(): Promise<BACNetAddress> {
    if (this.#address) return this.#address;
    await this.#network.ready();
    const s = this.#settings;
    for (let attempt = 0; attempt <= s.apduRetries && !this.#address; attempt++) {
      this.#network.whoIs({ low: s.deviceInstance, ...(s.bbmd ? { bbmd: s.bbmd.address } : {}) });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, s.apduTimeoutMs);
        const stop = this.#network.onIAm((iAm) => iAm.deviceId === s.deviceInstance && done());
        function done(): void {
          clearTimeout(timer);
          stop();
          resolve();
        }
      });
    }
    if (!this.#address) {
      throw new SwarmgateError('SWG_ERR_BACNET_NOT_FOUND', `BACnet device ${s.deviceInstance} did not answer Who-Is`, { details: { deviceInstance: s.deviceInstance } });
    }
    return this.#address;
  }

  /**
   * Runs one confirmed service against the device under its queue: at most maxConcurrentRequests
   * at once, retried on timeout. Rejects with SWG_ERR_DEVICE_TIMEOUT, or fast with
   * SWG_ERR_DEVICE_NOT_CONNECTED while the device is offline and another request is probing it.
   */
  async request<T>(what: string, run: (client: BacnetClient, address: BACNetAddress) => Promise<T>): Promise<T> {
    if (this.#stopped) throw new SwarmgateError('SWG_ERR_DEVICE_NOT_CONNECTED', `BACnet device ${this.instance}: driver stopped`);
    const probe = this.#offlineSince !== undefined;
    if (probe) {
      if (this.#probing) {
        throw new SwarmgateError('SWG_ERR_DEVICE_NOT_CONNECTED', `BACnet device ${this.instance} is not answering (offline since ${new Date(this.#offlineSince ?? 0).toISOString()})`);
      }
      this.#probing = true;
    }
    // Every poll passes here: the common case (address known, a free slot) costs no extra await.
    try {
      const address = this.#address ?? (await this.address());
      if (this.#active < this.#settings.maxConcurrentRequests) this.#active++;
      else await this.#slot();
      try {
        const tries = probe ? 1 : this.#settings.apduRetries + 1;
        for (let i = 1; ; i++) {
          try {
            const wait = this.#network.acquire();
            if (wait) await wait;
            let result: T;
            try {
              result = await this.#network.confirmed(this.#settings.apduTimeoutMs, (client) => run(client, address));
            } finally {
              this.#network.release();
            }
            this.#answered();
            return result;
          } catch (err) {
            if (classifyError(err) !== 'timeout') {
              this.#answered(); // an error reply is an answer: the device is alive
              throw err;
            }
            if (i < tries && !this.#stopped) continue;
            this.#timedOut();
            throw new SwarmgateError('SWG_ERR_DEVICE_TIMEOUT', `BACnet device ${this.instance}: ${what} got no answer after ${tries} tries of ${this.#settings.apduTimeoutMs} ms`, {
              cause: err,
              details: { deviceInstance: this.instance },
            });
          }
        }
      } finally {
        this.#active--;
        this.#queue.shift()?.();
      }
    } finally {
      if (probe) this.#probing = false;
    }
  }

  /** Waits for a free request slot, then takes it. */
  async #slot(): Promise<void> {
    while (this.#active >= this.#settings.maxConcurrentRequests) {
      await new Promise<void>((resolve) => this.#queue.push(resolve));
      if (this.#stopped) throw new SwarmgateError('SWG_ERR_DEVICE_NOT_CONNECTED', `BACnet device ${this.instance}: driver stopped`);
    }
    this.#active++;
  }

  #answered(): void {
    this.#timeouts = 0;
    if (this.#offlineSince === undefined) return;
    this.#offlineSince = undefined;
    this.#log.info('BACnet device answers again');
    this.emit('online');
  }

  #timedOut(): void {
    this.#timeouts++;
    if (this.#timeouts < OFFLINE_AFTER || this.#offlineSince !== undefined) return;
    this.#offlineSince = Date.now();
    if (!this.#settings.deviceAddress) this.#address = undefined; // it may come back elsewhere (DHCP)
    this.#log.warn('BACnet device stopped answering');
    this.emit('offline');
  }

  /** Reads the Device object's communication limits and identity (once; again after a restart). */
  async loadInfo(): Promise<DeviceInfo> {
    const device = { type: ObjectType.DEVICE, instance: this.instance };
    const props = [
      PropertyIdentifier.MAX_APDU_LENGTH_ACCEPTED,
      PropertyIdentifier.SEGMENTATION_SUPPORTED,
      PropertyIdentifier.PROTOCOL_SERVICES_SUPPORTED,
      PropertyIdentifier.VENDOR_IDENTIFIER,
      PropertyIdentifier.VENDOR_NAME,
      PropertyIdentifier.MODEL_NAME,
      PropertyIdentifier.OBJECT_NAME,
    ];
    const values = new Map<number, BACNetAppData | undefined>();
    try {
      const ack = await this.request('read of the Device object', (c, a) =>
        c.readPropertyMultiple(a, [{ objectId: device, properties: props.map((id) => ({ id, index: ALL })) }], { maxSegments: 0 }),
      );
      for (const p of ack.values[0]?.values ?? []) values.set(p.id, p.value[0]?.type === 105 ? undefined : p.value[0]);
    } catch (err) {
      if (classifyError(err) !== 'unsupported' && classifyError(err) !== 'error') throw err;
      for (const id of props) {
        try {
          const ack = await this.request('ReadProperty of the Device object', (c, a) => c.readProperty(a, device, id));
          values.set(id, ack.values[0]);
        } catch (e) {
          if (classifyError(e) === 'timeout' || e instanceof SwarmgateError) throw e;
        }
      }
    }
    const num = (id: number): number | undefined => (typeof values.get(id)?.value === 'number' ? (values.get(id)?.value as number) : undefined);
    const str = (id: number): string | undefined => (typeof values.get(id)?.value === 'string' ? (values.get(id)?.value as string) : undefined);
    const services = values.get(PropertyIdentifier.PROTOCOL_SERVICES_SUPPORTED)?.value as { value?: number[] } | undefined;
    this.#info = {
      maxApdu: num(PropertyIdentifier.MAX_APDU_LENGTH_ACCEPTED) ?? 480,
      segmentation: num(PropertyIdentifier.SEGMENTATION_SUPPORTED) ?? Segmentation.NO_SEGMENTATION,
      ...(services?.value ? { servicesSupported: services.value } : {}),
      ...optional('vendorId', num(PropertyIdentifier.VENDOR_IDENTIFIER)),
      ...optional('vendorName', str(PropertyIdentifier.VENDOR_NAME)),
      ...optional('modelName', str(PropertyIdentifier.MODEL_NAME)),
      ...optional('objectName', str(PropertyIdentifier.OBJECT_NAME)),
    };
    return this.#info;
  }

  supports(service: ServicesSupported): boolean | undefined {
    const bits = this.#info?.servicesSupported;
    return bits === undefined ? undefined : bitSet(bits, service);
  }

  stop(): void {
    this.#stopped = true;
    this.#stopIAm();
    for (const wake of this.#queue.splice(0)) wake();
    this.removeAllListeners();
  }
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
