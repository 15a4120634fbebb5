/**
 * BACnet/IP over UDP for one simulated device: a unicast socket on host:port and, when a
 * broadcast address is given, a second socket bound to broadcastAddress:port (on Linux a socket
 * bound to 127.0.0.1 does not receive datagrams sent to 127.255.255.255, which is how the
 * bacnet-stack tools broadcast Who-Is on loopback). Both feed one 'message' stream. It is also the
 * transport object handed to @bacnet-js/client (message/error/listening/close events, open, close,
 * send, getBroadcastAddress, getMaxPayload), so the library decodes requests while the device
 * server decides what goes out. A gate consulted per datagram drops or delays traffic (faults).
 */
import { createSocket, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { SwarmgateError } from '../../shared/kit/errors.js';

export interface UdpBindingOptions {
  readonly host: string;
  /** 0 = any free port (the broadcast socket then binds the same one). */
  readonly port: number;
  /** Receive broadcasts on this address too, and send broadcasts to it. Omit for unicast only. */
  readonly broadcastAddress?: string;
  /** Destination port of broadcasts we send (I-Am). Default: our own port. */
  readonly broadcastPort?: number;
}

export interface Gate {
  /** Drop every datagram in and out (device offline or restarting). */
  readonly silent: boolean;
  /** Hold each incoming datagram this long before handling it. */
  readonly delayMs: number;
}

/** Largest BVLC frame the library may ask us to send. */
const MAX_PAYLOAD = 1482;

export class UdpBinding extends EventEmitter {
  private unicast: Socket | undefined;
  private broadcast: Socket | undefined;
  private boundPort = 0;
  private gate: () => Gate = () => ({ silent: false, delayMs: 0 });
  private readonly timers = new Set<NodeJS.Timeout>();
  readonly ready: Promise<void>;
  private resolveReady!: () => void;
  private rejectReady!: (err: Error) => void;

  constructor(private readonly options: UdpBindingOptions) {
    super();
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // Whoever awaits ready sees the failure; an unobserved one must not crash the process.
    this.ready.catch(() => undefined);
  }

  get host(): string {
    return this.options.host;
  }

  get port(): number {
    return this.boundPort;
  }

  setGate(gate: () => Gate): void {
    this.gate = gate;
  }

  open(): void {
    const { host, port, broadcastAddress } = this.options;
    const unicast = createSocket({ type: 'udp4' });
    this.unicast = unicast;
    unicast.on('message', (msg, rinfo) => this.receive(msg, rinfo.address, rinfo.port));
    unicast.once('error', (err) => this.failed(err, `${host}:${port}`));
    unicast.bind({ address: host, port, exclusive: true }, () => {
      unicast.setBroadcast(true);
      this.boundPort = unicast.address().port;
      if (!broadcastAddress) return this.listening();
      const bcast = createSocket({ type: 'udp4' });
      this.broadcast = bcast;
      bcast.on('message', (msg, rinfo) => this.receive(msg, rinfo.address, rinfo.port));
      bcast.once('error', (err) => this.failed(err, `${broadcastAddress}:${this.boundPort}`));
      bcast.bind({ address: broadcastAddress, port: this.boundPort, exclusive: true }, () => this.listening());
    });
  }

  private listening(): void {
    this.unicast?.on('error', (err) => this.emit('error', err));
    this.broadcast?.on('error', (err) => this.emit('error', err));
    this.resolveReady();
    this.emit('listening', { address: this.options.host, port: this.boundPort });
  }

  private failed(err: Error, where: string): void {
    const wrapped = new SwarmgateError('SWG_ERR_SIM_START', `BACnet device could not bind UDP ${where}: ${err.message}; pick another port`, { cause: err });
    this.rejectReady(wrapped);
    this.close();
  }

  private receive(msg: Buffer, address: string, port: number): void {
    // Our own broadcasts come back on the broadcast socket.
    if (address === this.options.host && port === this.boundPort) return;
    const gate = this.gate();
    if (gate.silent) return;
    const deliver = (): void => {
      if (!this.gate().silent) this.emit('message', msg, `${address}:${port}`);
    };
    if (gate.delayMs <= 0) return deliver();
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      deliver();
    }, gate.delayMs);
    this.timers.add(timer);
  }

  getBroadcastAddress(): string {
    return `${this.options.broadcastAddress ?? this.options.host}:${this.options.broadcastPort ?? this.boundPort}`;
  }

  getMaxPayload(): number {
    return MAX_PAYLOAD;
  }

  /** The library's send: bytes [0, offset) to "ip:port" (broadcast when no receiver). */
  send(buffer: Buffer, offset: number, receiver?: string): void {
    this.sendBytes(buffer.subarray(0, offset), receiver);
  }

  /** Sends a frame to "ip:port", or to the broadcast address without a receiver. */
  sendBytes(bytes: Buffer, receiver?: string): void {
    const socket = this.unicast;
    if (!socket || this.gate().silent) return;
    const target = receiver ?? this.getBroadcastAddress();
    const colon = target.lastIndexOf(':');
    const address = colon < 0 ? target : target.slice(0, colon);
    const port = colon < 0 ? 47808 : Number(target.slice(colon + 1));
    socket.send(bytes, port, address, (err) => {
      if (err) this.emit('error', err);
    });
  }

  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const socket of [this.unicast, this.broadcast]) {
      try {
        socket?.close();
      } catch {
        // already closed
      }
    }
    const wasOpen = this.unicast !== undefined;
    this.unicast = undefined;
    this.broadcast = undefined;
    if (wasOpen) this.emit('close');
  }
}
