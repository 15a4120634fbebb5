/**
 * The table of confirmed requests awaiting their reply, installed in place of the library's own
 * (`@bacnet-js/client` 3.3 RequestManager). That one keeps answered requests in its expiry list,
 * and when such an entry expires it deletes whatever request now holds the same invoke id: after
 * 256 requests within one APDU timeout a request's reply is dropped and its promise never settles,
 * which would hold a device's queue slot forever. Here each request has its own timer, and an
 * answer removes the request for good.
 *
 * Requests are keyed by the device they went to AND the invoke id (the library's key is the invoke
 * id alone, one 8-bit counter for the whole port): a late reply from a slow device, or one whose
 * invoke id came round again for another device, can never settle another device's request with
 * its values. The device of a request is the receiver of the send just before it is added; the
 * device of a reply is the sender of the PDU being handled (IP:port, plus SNET/SADR behind a router).
 *
 * Each request waits for its own device's APDU timeout (devices sharing a port may each have their
 * own): `within` gives the timeout of the requests a library call adds, the table's own is the default.
 */

interface Pending {
  readonly resolve: (result: unknown) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export interface BacnetPeer {
  readonly address?: string;
  readonly net?: number;
  readonly adr?: readonly number[];
  readonly forwardedFrom?: string | null;
}

const DEFAULT_PORT = 47808;

/** One spelling per device: host:port (default port 47808), and net/adr of a device behind a router. */
export function peerKey(peer: BacnetPeer | undefined, address = peer?.address): string {
  let where = String(address ?? '').trim();
  if (where && !/:\d+$/.test(where)) where = `${where}:${DEFAULT_PORT}`;
  const routed = peer?.net !== undefined && peer.net !== 0xffff && peer.adr && peer.adr.length > 0 ? `|${peer.net}|${peer.adr.join('.')}` : '';
  return `${where}${routed}`;
}

export class PendingRequests {
  readonly #timeoutMs: number;
  /** The timeout of the requests added by the library call `within` runs now. */
  #requestTimeoutMs: number | undefined;
  readonly #pending = new Map<string, Pending>();
  /** The device of the request being sent now (set by the client's send, read by add). */
  #sendingTo = '';
  /** The devices a reply being handled may come from (set around the client's PDU handler). */
  #receivingFrom: readonly string[] | undefined;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  get size(): number {
    return this.#pending.size;
  }

  /**
   * Runs `start`, a library call that sends a confirmed request (synchronously up to the add of its
   * invoke id, as every @bacnet-js/client request method does), with this reply timeout.
   */
  within<T>(timeoutMs: number, start: () => T): T {
    const outer = this.#requestTimeoutMs;
    this.#requestTimeoutMs = timeoutMs;
    try {
      return start();
    } finally {
      this.#requestTimeoutMs = outer;
    }
  }

  /** The client is sending a PDU to this device (the request added next goes to it). */
  sending(receiver: BacnetPeer | undefined): void {
    this.#sendingTo = peerKey(receiver);
  }

  /** The client is handling a PDU from this device (undefined: done). */
  receiving(sender: BacnetPeer | undefined): void {
    if (!sender) {
      this.#receivingFrom = undefined;
      return;
    }
    const direct = peerKey(sender);
    this.#receivingFrom = sender.forwardedFrom ? [direct, peerKey(sender, sender.forwardedFrom)] : [direct];
  }

  /** Called by the library right after it sent a request with this invoke id. */
  add(invokeId: number): Promise<unknown> {
    const key = `${this.#sendingTo}#${invokeId}`;
    // An id still pending to this device means 256 requests in flight to it; the older one cannot be told from the new.
    this.#settle(key, new Error('ERR_TIMEOUT (invoke id reused while pending)'));
    const timeoutMs = this.#requestTimeoutMs ?? this.#timeoutMs;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.#settle(key, new Error('ERR_TIMEOUT')), timeoutMs);
      this.#pending.set(key, { resolve, reject, timer });
    });
  }

  /**
   * Called by the library with the reply (or the error, abort or reject) for an invoke id: settles
   * the request with that id to the device the reply came from; a reply no request of that device
   * waits for (late, or a stranger's) is dropped.
   */
  resolve(invokeId: number, err: Error | null | undefined, result?: unknown): boolean {
    for (const from of this.#receivingFrom ?? []) if (this.#settle(`${from}#${invokeId}`, err ?? undefined, result)) return true;
    return false;
  }

  /** force: reject everything (the client is closing). */
  clear(force?: boolean): void {
    if (!force) return;
    for (const key of [...this.#pending.keys()]) this.#settle(key, new Error('ERR_CLOSED'));
  }

  #settle(key: string, err: Error | undefined, result?: unknown): boolean {
    const pending = this.#pending.get(key);
    if (!pending) return false;
    this.#pending.delete(key);
    clearTimeout(pending.timer);
    if (err) pending.reject(err);
    else pending.resolve(result);
    return true;
  }
}

type Send = (buffer: unknown, receiver?: BacnetPeer) => void;
type HandlePdu = (buffer: unknown, offset: number, length: number, header: { sender?: BacnetPeer }) => void;

/**
 * Puts a PendingRequests into a library client, and lets it see where each PDU goes to and comes
 * from; throws when the library no longer has the members it hooks.
 */
export function installPendingRequests(client: object, timeoutMs: number): PendingRequests {
  const target = client as { _requestManager?: unknown; _send?: unknown; _handlePdu?: unknown };
  const current = target._requestManager as { add?: unknown; resolve?: unknown } | undefined;
  if (typeof current?.add !== 'function' || typeof current.resolve !== 'function' || typeof target._send !== 'function' || typeof target._handlePdu !== 'function') {
    throw new Error('@bacnet-js/client has no _requestManager with add/resolve, _send or _handlePdu: the pending-request table cannot be installed (library version changed?)');
  }
  const table = new PendingRequests(timeoutMs);
  target._requestManager = table;
  const send = (target._send as Send).bind(client);
  target._send = (buffer: unknown, receiver?: BacnetPeer): void => {
    table.sending(receiver);
    send(buffer, receiver);
  };
  const handlePdu = (target._handlePdu as HandlePdu).bind(client);
  target._handlePdu = (buffer: unknown, offset: number, length: number, header: { sender?: BacnetPeer }): void => {
    table.receiving(header.sender);
    try {
      handlePdu(buffer, offset, length, header);
    } finally {
      table.receiving(undefined);
    }
  };
  return table;
}
