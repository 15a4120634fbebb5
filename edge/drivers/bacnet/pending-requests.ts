/**
 * The table of confirmed requests awaiting their reply, keyed by invoke id, installed in place of
 * the library's own (`@bacnet-js/client` 3.3 RequestManager). That one keeps answered requests in
 * its expiry list, and when such an entry expires it deletes whatever request now holds the same
 * invoke id: after 256 requests within one APDU timeout a request's reply is dropped and its promise
 * never settles, which would hold a device's queue slot forever. Here each request has its own timer,
 * and an answer removes the request for good.
 */

interface Pending {
  readonly resolve: (result: unknown) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export class PendingRequests {
  readonly #timeoutMs: number;
  readonly #pending = new Map<number, Pending>();

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  get size(): number {
    return this.#pending.size;
  }

  /** Called by the library right after it sent a request with this invoke id. */
  add(invokeId: number): Promise<unknown> {
    // An id still pending means 256 requests in flight; the older one cannot be told from the new.
    this.#settle(invokeId, new Error('ERR_TIMEOUT (invoke id reused while pending)'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.#settle(invokeId, new Error('ERR_TIMEOUT')), this.#timeoutMs);
      this.#pending.set(invokeId, { resolve, reject, timer });
    });
  }

  /** Called by the library with the reply (or the error, abort or reject) for an invoke id. */
  resolve(invokeId: number, err: Error | null | undefined, result?: unknown): boolean {
    return this.#settle(invokeId, err ?? undefined, result);
  }

  /** force: reject everything (the client is closing). */
  clear(force?: boolean): void {
    if (!force) return;
    for (const invokeId of [...this.#pending.keys()]) this.#settle(invokeId, new Error('ERR_CLOSED'));
  }

  #settle(invokeId: number, err: Error | undefined, result?: unknown): boolean {
    const pending = this.#pending.get(invokeId);
    if (!pending) return false;
    this.#pending.delete(invokeId);
    clearTimeout(pending.timer);
    if (err) pending.reject(err);
    else pending.resolve(result);
    return true;
  }
}

/** Puts a PendingRequests into a library client; throws when the library no longer has the field it replaces. */
export function installPendingRequests(client: object, timeoutMs: number): PendingRequests {
  const target = client as { _requestManager?: unknown };
  const current = target._requestManager as { add?: unknown; resolve?: unknown } | undefined;
  if (typeof current?.add !== 'function' || typeof current.resolve !== 'function') {
    throw new Error('@bacnet-js/client has no _requestManager with add/resolve: the pending-request table cannot be installed (library version changed?)');
  }
  const table = new PendingRequests(timeoutMs);
  target._requestManager = table;
  return table;
}
