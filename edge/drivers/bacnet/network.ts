/**
 * The gateway's BACnet/IP port: one UDP socket and one library client per bind address, shared by
 * every device that uses it (two sockets on one port would each see only part of the replies).
 * Devices acquire it and release it; the last release closes it.
 *
 * It owns what belongs to the port rather than to a device: foreign-device registration with a
 * BBMD (renewed at half its time to live), I-Am announcements, COV notifications routed to their
 * subscriber by process id (confirmed ones acknowledged here), and a cap on requests in flight:
 * the library keys replies by an 8-bit invoke id shared by all devices.
 */
import { createSocket, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import BacnetModule, { ConfirmedServiceChoice, type BACNetAppData, type BACNetObjectID, type PropertyReference } from '@bacnet-js/client';
import type { Logger } from 'pino';
import { SwarmgateError, errorMessage } from '../../../shared/kit/errors.js';
import { installPendingRequests, type PendingRequests } from './pending-requests.js';
import { parseHostPort } from './settings.js';

// The package is CommonJS with `exports.default`: Node's default import is the module object, a
// bundler's (vitest) is the class itself.
type ClientClass = typeof BacnetModule.default;
const BacnetClient: ClientClass = typeof BacnetModule === 'function' ? (BacnetModule as unknown as ClientClass) : BacnetModule.default;
export type BacnetClient = InstanceType<typeof BacnetModule.default>;

/** Replies are matched by an 8-bit invoke id in the library: stay well below 256 in flight. */
const MAX_IN_FLIGHT = 128;

/**
 * The transport the library client talks through: one UDP socket whose bind errors are reported,
 * port 0 allowed, and whose datagrams the client can never throw out of the socket's handler.
 */
class UdpTransport extends EventEmitter {
  readonly #socket: Socket;
  readonly #log: Logger;
  broadcastAddress: string;
  readonly ready: Promise<{ address: string; port: number }>;

  constructor(host: string, port: number, broadcastAddress: string, log: Logger) {
    super();
    this.broadcastAddress = broadcastAddress;
    this.#log = log;
    this.#socket = createSocket({ type: 'udp4', reuseAddr: false });
    this.ready = new Promise((resolve, reject) => {
      this.#socket.once('error', reject);
      this.#socket.bind(port, host, () => {
        this.#socket.off('error', reject);
        this.#socket.setBroadcast(true);
        this.#socket.on('error', (err) => this.emit('error', err));
        resolve(this.#socket.address());
      });
    });
    this.#socket.on('message', (msg, rinfo) => this.#deliver(msg, `${rinfo.address}:${rinfo.port}`));
  }

  /**
   * Hands a datagram to the library client, which decodes and dispatches it within this call. The
   * library throws on some malformed frames (a truncated Error PDU: ErrorService.decode); thrown
   * out of the socket's 'message' handler that would end the process, so the frame is dropped here
   * and the port keeps serving.
   */
  #deliver(msg: Buffer, from: string): void {
    try {
      this.emit('message', msg, from);
    } catch (err) {
      this.#log.debug({ from, bytes: msg.length, frame: msg.subarray(0, 64).toString('hex'), err: errorMessage(err) }, 'malformed BACnet/IP datagram dropped');
    }
  }

  open(): void {
    // bound in the constructor, so that `ready` exists before the client attaches
  }

  getBroadcastAddress(): string {
    return this.broadcastAddress;
  }

  getMaxPayload(): number {
    return 1482;
  }

  send(buffer: Buffer, offset: number, receiver?: string): void {
    const { host, port } = parseHostPort(receiver ?? this.broadcastAddress);
    this.#socket.send(buffer, 0, offset, port, host);
  }

  close(): void {
    try {
      this.#socket.close();
    } catch {
      // already closed (bind failed)
    }
  }
}

export interface IAm {
  readonly deviceId: number;
  readonly address: string;
  readonly maxApdu: number;
  readonly segmentation: number;
  readonly vendorId: number;
}

export interface CovNotification {
  readonly subscriberProcessId: number;
  readonly initiatingDevice: number;
  readonly object: BACNetObjectID;
  readonly timeRemaining: number;
  readonly values: readonly { readonly property: PropertyReference; readonly value: readonly BACNetAppData[] }[];
  readonly from: string;
}

export interface NetworkOptions {
  readonly bindHost: string;
  readonly bindPort: number;
  /** Of the port: every device on one bind has the same (its claim's settings, manifest.ts). */
  readonly broadcastAddress?: string;
  /** Reply timeout of requests not started through confirmed(), which take each device's own. */
  readonly apduTimeoutMs: number;
  /** Of the port, like broadcastAddress. */
  readonly bbmd?: { readonly address: string; readonly ttlSeconds: number };
}

export class BacnetNetwork {
  readonly client: BacnetClient;
  readonly key: string;
  readonly #transport: UdpTransport;
  readonly #pending: PendingRequests;
  readonly #log: Logger;
  readonly #iAm = new EventEmitter();
  readonly #cov = new Map<number, (n: CovNotification) => void>();
  #nextProcessId = 1;
  #inFlight = 0;
  readonly #waiting: (() => void)[] = [];
  #bbmdTimer: NodeJS.Timeout | undefined;
  #closed = false;
  users = 0;

  constructor(options: NetworkOptions, log: Logger) {
    this.key = `${options.bindHost}:${options.bindPort}`;
    this.#log = log.child({ bacnetPort: this.key });
    this.#transport = new UdpTransport(options.bindHost, options.bindPort, options.broadcastAddress ?? '255.255.255.255:47808', this.#log);
    this.client = new BacnetClient({ transport: this.#transport, apduTimeout: options.apduTimeoutMs });
    this.#pending = installPendingRequests(this.client, options.apduTimeoutMs);
    this.client.on('error', (err) => this.#log.warn({ err: errorMessage(err) }, 'BACnet/IP socket error'));
    this.client.on('iAm', (content) => {
      const p = content.payload;
      const address = content.header?.sender.address;
      if (!address) return;
      const iAm: IAm = { deviceId: p.deviceId, address, maxApdu: p.maxApdu, segmentation: p.segmentation, vendorId: p.vendorId };
      this.#iAm.emit('iAm', iAm);
    });
    const onCov = (confirmed: boolean) => (content: { header?: { sender: { address?: string } }; invokeId?: number; payload: { subscriberProcessId: number; initiatingDeviceId: unknown; monitoredObjectId: BACNetObjectID; timeRemaining: number; values: CovNotification['values'] } }) => {
      const sender = content.header?.sender;
      const p = content.payload;
      if (confirmed && sender && content.invokeId !== undefined) {
        this.client.simpleAckResponse(sender, ConfirmedServiceChoice.CONFIRMED_COV_NOTIFICATION, content.invokeId);
      }
      const initiating = p.initiatingDeviceId as number | BACNetObjectID;
      const n: CovNotification = {
        subscriberProcessId: p.subscriberProcessId,
        initiatingDevice: typeof initiating === 'number' ? initiating : initiating.instance,
        object: p.monitoredObjectId,
        timeRemaining: p.timeRemaining,
        values: p.values,
        from: sender?.address ?? '',
      };
      this.#cov.get(p.subscriberProcessId)?.(n);
    };
    this.client.on('covNotify', onCov(true));
    this.client.on('covNotifyUnconfirmed', onCov(false));
    if (options.bbmd) this.#startForeignRegistration(options.bbmd);
  }

  /** Resolves when the socket is bound; rejects with a coded error naming the address when it cannot be. */
  async ready(): Promise<{ address: string; port: number }> {
    try {
      return await this.#transport.ready;
    } catch (err) {
      throw new SwarmgateError('SWG_ERR_BACNET_BIND', `cannot bind the BACnet/IP port ${this.key}: ${errorMessage(err)}`, { cause: err, details: { bind: this.key } });
    }
  }

  #startForeignRegistration(bbmd: { readonly address: string; readonly ttlSeconds: number }): void {
    const register = async (): Promise<void> => {
      if (this.#closed) return;
      let nextMs = (bbmd.ttlSeconds * 1000) / 2;
      try {
        await this.ready();
        await this.client.registerForeignDevice({ address: bbmd.address }, bbmd.ttlSeconds);
        this.#log.info({ bbmd: bbmd.address, ttlSeconds: bbmd.ttlSeconds }, 'registered as a foreign device');
      } catch (err) {
        nextMs = Math.min(nextMs, 10_000);
        this.#log.warn({ bbmd: bbmd.address, err: errorMessage(err) }, 'foreign-device registration failed; retrying');
      }
      if (this.#closed) return;
      this.#bbmdTimer = setTimeout(() => void register(), nextMs);
      this.#bbmdTimer.unref();
    };
    void register();
  }

  /**
   * Starts a confirmed request (`start` calls one request method of the client) that waits
   * `timeoutMs` for its reply: each device's own apduTimeoutMs, whoever opened the port.
   */
  confirmed<T>(timeoutMs: number, start: (client: BacnetClient) => Promise<T>): Promise<T> {
    return this.#pending.within(timeoutMs, () => start(this.client));
  }

  /** Who-Is: to one address, to a broadcast address, through the BBMD, or to the port's broadcast address. */
  whoIs(options: { readonly target?: string; readonly broadcast?: string; readonly bbmd?: string; readonly low?: number; readonly high?: number }): void {
    const range = options.low === undefined ? {} : { lowLimit: options.low, highLimit: options.high ?? options.low };
    if (options.target) this.client.whoIs({ address: options.target }, range);
    else if (options.bbmd) this.client.whoIsThroughBBMD({ address: options.bbmd }, range);
    else {
      if (options.broadcast) this.#transport.broadcastAddress = options.broadcast;
      this.client.whoIs(range);
    }
  }

  onIAm(listener: (iAm: IAm) => void): () => void {
    this.#iAm.on('iAm', listener);
    return () => this.#iAm.off('iAm', listener);
  }

  /** A subscriber process id unique on this port, and where its notifications go. */
  registerCovListener(listener: (n: CovNotification) => void): { processId: number; release: () => void } {
    while (this.#cov.has(this.#nextProcessId)) this.#nextProcessId = (this.#nextProcessId % 4_000_000) + 1;
    const processId = this.#nextProcessId;
    this.#nextProcessId = (this.#nextProcessId % 4_000_000) + 1;
    this.#cov.set(processId, listener);
    return { processId, release: () => this.#cov.delete(processId) };
  }

  /**
   * A place under the port-wide cap on requests in flight; give it back with release() when the
   * request settles. Synchronous when there is room (every poll asks), a promise when there is not.
   */
  acquire(): Promise<void> | undefined {
    if (this.#inFlight < MAX_IN_FLIGHT) {
      this.#inFlight++;
      return undefined;
    }
    return this.#wait();
  }

  async #wait(): Promise<void> {
    while (this.#inFlight >= MAX_IN_FLIGHT) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#inFlight++;
  }

  release(): void {
    this.#inFlight--;
    this.#waiting.shift()?.();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#bbmdTimer);
    this.#iAm.removeAllListeners();
    this.#cov.clear();
    this.client.close();
  }
}

const networks = new Map<string, BacnetNetwork>();

/**
 * The shared port for this bind address (created on first use, with that device's options: the
 * config check refuses devices of one bind whose broadcastAddress or bbmd differ). Release it
 * with releaseNetwork.
 */
export function acquireNetwork(options: NetworkOptions, log: Logger): BacnetNetwork {
  const key = `${options.bindHost}:${options.bindPort}`;
  let network = options.bindPort === 0 ? undefined : networks.get(key);
  if (!network) {
    network = new BacnetNetwork(options, log);
    if (options.bindPort !== 0) networks.set(key, network);
  }
  network.users++;
  return network;
}

export function releaseNetwork(network: BacnetNetwork): void {
  network.users--;
  if (network.users > 0) return;
  if (networks.get(network.key) === network) networks.delete(network.key);
  network.close();
}
