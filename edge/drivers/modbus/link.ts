/**
 * One physical Modbus connection (a TCP socket or a serial port) and its request queue.
 *
 * Requests run one at a time. A dead connection is reopened by the next request, paced with a
 * doubling delay while reopening keeps failing, so a device that is down costs one connect attempt
 * per delay period and never a tight loop; between attempts requests fail at once.
 *
 * A connection counts as dropped when the client says so ('close', 'error'), when it is no longer
 * open at the next request (modbus-serial's TCP port turns a socket error such as ECONNRESET into
 * "not open" without telling anyone), and, with dropAfterTimeouts, after that many timeouts in a row.
 */
import ModbusSerial from 'modbus-serial';
import type { ModbusRTU as ModbusClient } from 'modbus-serial/ModbusRTU.js';
import type { Logger } from 'pino';
import { SwarmgateError, errorMessage } from '../../../shared/kit/errors.js';
import { toModbusError } from './errors.js';
import { SerialQueue } from './queue.js';
import type { ModbusRequest, Reply } from './requests.js';
import { RtuFramePort, type SerialSettings } from './rtu-port.js';

export type { ModbusClient };

/**
 * modbus-serial is CommonJS: depending on the loader the class is the module itself or sits under
 * .default (its typings only describe the latter).
 */
type ClientClass = new (port?: unknown) => ModbusClient;
const ModbusClientClass = ((ModbusSerial as unknown as { default?: ClientClass }).default ?? ModbusSerial) as unknown as ClientClass;

export interface OpenedClient {
  readonly client: ModbusClient;
  /** Releases the socket or port; resolves once it is really closed. */
  close(): Promise<void>;
}

/** Opens a fresh client; rejects when the device or port is unreachable. */
export type ClientOpener = () => Promise<OpenedClient>;

export interface LinkOptions {
  /** 'tcp 127.0.0.1:502' or 'rtu /dev/ttyUSB0', used in messages. */
  readonly name: string;
  readonly log: Logger;
  /** First delay before reopening after a failed open; doubles up to reconnectMaxMs. */
  readonly reconnectBaseMs: number;
  readonly reconnectMaxMs?: number;
  /**
   * Close the connection after this many requests in a row got no reply, so that the next request
   * reconnects with a clean receive buffer. Over TCP one stray byte in the reply stream puts
   * modbus-serial's MBAP framing out of step for good: every later reply is missed until the
   * connection is new. Unset: timeouts never close the connection.
   */
  readonly dropAfterTimeouts?: number;
}

/** modbus-serial enforces timeoutMs itself; the watchdog only catches a library that never calls back. */
const GUARD_MS = 250;

function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The request on the wire, and the Reply its wire request calls. It may also be failed early by a
 * dropped connection, close(force) or the watchdog; a late reply then settles nothing (a promise
 * settles once) and leaves the next request's state alone.
 */
class InFlight<T> implements Reply<T> {
  constructor(
    /** Tells the link this request no longer occupies it, and how it ended. */
    private readonly settled: (flight: InFlight<never>, error?: SwarmgateError) => void,
    readonly deadline: number,
    readonly what: string,
    private readonly resolve: (value: T) => void,
    private readonly reject: (err: Error) => void,
  ) {}

  ok(value: T): void {
    this.settled(this);
    this.resolve(value);
  }

  fail(err: unknown): void {
    const error = toModbusError(err, this.what);
    this.settled(this, error);
    this.reject(error);
  }
}

export class ModbusLink {
  readonly name: string;
  private readonly queue = new SerialQueue();
  private opened: OpenedClient | undefined;
  private nextOpenAt = 0;
  private openDelayMs: number;
  private closed = false;
  private inFlight: InFlight<never> | undefined;
  /** Requests in a row that got no reply on this connection (see LinkOptions.dropAfterTimeouts). */
  private timeoutsInRow = 0;
  /**
   * One timer per link rather than one per request: it is re-armed only when it fires while a
   * request is still running, or when a request has an earlier deadline than the armed one.
   */
  private watchdog: NodeJS.Timeout | undefined;
  private watchdogAt = 0;

  constructor(
    private readonly opener: ClientOpener,
    private readonly options: LinkOptions,
  ) {
    this.name = options.name;
    this.openDelayMs = Math.max(10, options.reconnectBaseMs);
  }

  get isOpen(): boolean {
    return this.opened !== undefined;
  }

  /** Requests queued or running. */
  get pending(): number {
    return this.queue.size;
  }

  /** Opens now, ignoring the reconnect pacing (initialize). Rejects with SWG_ERR_DEVICE_UNREACHABLE. */
  open(): Promise<void> {
    return this.queue.run(async () => {
      if (this.opened) return;
      this.nextOpenAt = 0;
      await this.ensureOpen('connecting');
    });
  }

  /**
   * Runs one request for unitId with a reply timeout. Rejects with a SwarmgateError (exception
   * reply, timeout, not connected, unreachable).
   */
  exchange<T>(unitId: number, timeoutMs: number, what: string, run: ModbusRequest<T>): Promise<T> {
    return this.queue.run(() => {
      const opened = this.opened;
      if (opened && !this.closed) {
        // The connected case skips ensureOpen's async hop: it is every request of a healthy link.
        if (opened.client.isOpen) return this.send(opened.client, unitId, timeoutMs, what, run);
        this.onDropped(opened, 'the connection is no longer open (e.g. reset by the peer)');
      }
      return this.ensureOpen(what).then(
        (opened) => this.send(opened, unitId, timeoutMs, what, run),
        (err: unknown) => {
          throw toModbusError(err, what);
        },
      );
    });
  }

  private send<T>(client: ModbusClient, unitId: number, timeoutMs: number, what: string, run: ModbusRequest<T>): Promise<T> {
    client.setID(unitId);
    client.setTimeout(timeoutMs);
    return new Promise<T>((resolve, reject) => {
      const flight = new InFlight<T>(this.settled, Date.now() + timeoutMs + GUARD_MS, what, resolve, reject);
      this.inFlight = flight;
      this.armWatchdog(flight.deadline);
      try {
        if (typeof run === 'function') {
          run(client).then(
            (value) => flight.ok(value),
            (err: unknown) => flight.fail(err),
          );
        } else {
          run.wire(client, flight);
        }
      } catch (err) {
        flight.fail(err);
      }
    });
  }

  /**
   * One function per link (not per request) that every InFlight calls when it ends. A late reply
   * to a request already failed (watchdog, drop) changes nothing.
   */
  private readonly settled = (flight: InFlight<never>, error?: SwarmgateError): void => {
    if (this.inFlight !== flight) return;
    this.inFlight = undefined;
    if (error?.code !== 'SWG_ERR_DEVICE_TIMEOUT') {
      this.timeoutsInRow = 0;
      return;
    }
    this.timeoutsInRow++;
    const limit = this.options.dropAfterTimeouts;
    if (limit === undefined || this.timeoutsInRow < limit || !this.opened) return;
    this.onDropped(this.opened, `${this.timeoutsInRow} requests in a row got no reply: the reply stream may be out of step (a stray byte); reconnecting with a clean buffer`);
  };

  private armWatchdog(deadline: number): void {
    if (this.watchdog) {
      if (this.watchdogAt <= deadline) return;
      clearTimeout(this.watchdog);
    }
    this.watchdogAt = deadline;
    // Unref'd: the socket or port keeps the process alive while a request is pending.
    this.watchdog = setTimeout(this.onWatchdog, Math.max(0, deadline - Date.now())).unref();
  }

  private readonly onWatchdog = (): void => {
    this.watchdog = undefined;
    const flight = this.inFlight;
    if (!flight) return;
    if (Date.now() >= flight.deadline) flight.fail(new SwarmgateError('SWG_ERR_DEVICE_TIMEOUT', `no reply ${flight.what}`));
    else this.armWatchdog(flight.deadline);
  };

  private stopWatchdog(): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = undefined;
  }

  /** Closes the connection. Without force, requests already queued finish first. */
  async close(force = false): Promise<void> {
    if (!force) await this.queue.drain();
    this.closed = true;
    this.inFlight?.fail(new SwarmgateError('SWG_ERR_DEVICE_NOT_CONNECTED', `${this.name} closed by the driver`));
    this.stopWatchdog();
    await this.dropConnection();
  }

  private async ensureOpen(what: string): Promise<ModbusClient> {
    if (this.closed) throw new SwarmgateError('SWG_ERR_DEVICE_NOT_CONNECTED', `${this.name} is closed (${what})`);
    if (this.opened) return this.opened.client;
    const waitMs = this.nextOpenAt - Date.now();
    if (waitMs > 0) {
      throw new SwarmgateError('SWG_ERR_DEVICE_NOT_CONNECTED', `${this.name} is down, next connect attempt in ${waitMs} ms (${what})`, {
        details: { paced: true },
      });
    }
    try {
      const opened = await this.opener();
      if (this.closed) {
        await opened.close();
        throw new SwarmgateError('SWG_ERR_DEVICE_NOT_CONNECTED', `${this.name} closed while connecting`);
      }
      this.opened = opened;
      this.openDelayMs = Math.max(10, this.options.reconnectBaseMs);
      opened.client.on('close', () => this.onDropped(opened, 'connection closed'));
      opened.client.on('error', (err: unknown) => this.onDropped(opened, errorMessage(err)));
      this.options.log.info({ link: this.name }, 'modbus link open');
      return opened.client;
    } catch (err) {
      this.nextOpenAt = Date.now() + this.openDelayMs;
      this.openDelayMs = Math.min(this.openDelayMs * 2, this.options.reconnectMaxMs ?? 30_000);
      if (err instanceof SwarmgateError) throw err;
      throw new SwarmgateError('SWG_ERR_DEVICE_UNREACHABLE', `cannot open ${this.name}: ${errorMessage(err)}`, { cause: err });
    }
  }

  private onDropped(opened: OpenedClient, why: string): void {
    if (this.opened !== opened) return;
    this.options.log.warn({ link: this.name, why }, 'modbus link dropped; the next request reconnects');
    this.opened = undefined;
    this.timeoutsInRow = 0;
    this.inFlight?.fail(new SwarmgateError('SWG_ERR_DEVICE_NOT_CONNECTED', `${this.name} dropped: ${why}`));
    void opened.close().catch(() => undefined);
  }

  private async dropConnection(): Promise<void> {
    const opened = this.opened;
    this.opened = undefined;
    if (opened) await opened.close();
  }
}

/** Opener for Modbus TCP: connect with a timeout, destroy the socket if it does not come up. */
export function tcpOpener(host: string, port: number, connectTimeoutMs: number): ClientOpener {
  return async () => {
    const client = new ModbusClientClass();
    client.on('error', () => undefined);
    const close = (): Promise<void> =>
      new Promise((resolve) => {
        client.destroy(() => resolve());
      });
    try {
      await withTimeout(client.connectTCP(host, { port }), connectTimeoutMs, () => new Error(`connect timed out after ${connectTimeoutMs} ms`));
    } catch (err) {
      await close();
      throw err;
    }
    return { client, close };
  };
}

/** Opener for Modbus RTU: one serial port with strict reply framing (see rtu-port.ts). */
export function rtuOpener(settings: SerialSettings): ClientOpener {
  return async () => {
    const port = new RtuFramePort(settings);
    const client = new ModbusClientClass(port);
    client.on('error', () => undefined);
    port.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      client.open((err: unknown) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()));
    });
    return {
      client,
      close: async () => {
        await port.shutdown();
      },
    };
  };
}
