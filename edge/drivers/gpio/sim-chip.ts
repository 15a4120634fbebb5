/**
 * GpioChip over the simulator's TCP JSON-lines protocol (devices/README.md, "GPIO sim chip protocol"). Requests carry ids
 * and time out on their own; a dropped connection fails what is in flight, tells the driver
 * (onLink) and is re-established on a bounded backoff, re-arming the watched lines.
 */
import { connect, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { SwarmgateError, errorMessage, type ErrorCode } from '../../../shared/kit/errors.js';
import type { ClaimedLine, EdgeEvent, GpioChip, Level, LineConfig, LinkListener } from './chip.js';
import type { GpioSimChipSettings } from './settings.js';

interface SimLine {
  readonly line: number;
  readonly name: string;
  readonly direction: 'in' | 'out';
}

interface Pending {
  readonly resolve: (msg: Record<string, unknown>) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

const RECONNECT_MIN_MS = 200;
const RECONNECT_MAX_MS = 5000;

export class SimChip implements GpioChip {
  readonly kind = 'sim' as const;
  #label = 'swarmgate-sim';
  #socket: Socket | undefined;
  #buffer = '';
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  #lines = new Map<number, SimLine>();
  readonly #exported = new Set<number>();
  readonly #watchers = new Map<number, Set<(event: EdgeEvent) => void>>();
  readonly #linkListeners = new Set<LinkListener>();
  #closed = false;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #reconnectDelay = RECONNECT_MIN_MS;
  readonly #timeoutMs: number;

  private constructor(
    private readonly settings: GpioSimChipSettings,
    private readonly log: Logger,
  ) {
    this.#timeoutMs = settings.timeoutMs ?? 1000;
  }

  get label(): string {
    return this.#label;
  }

  static async open(settings: GpioSimChipSettings, log: Logger): Promise<SimChip> {
    const chip = new SimChip(settings, log);
    try {
      await chip.#connect();
    } catch (err) {
      await chip.close();
      throw err;
    }
    return chip;
  }

  get #where(): string {
    return `${this.settings.host}:${this.settings.port}`;
  }

  async #connect(): Promise<void> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: this.settings.host, port: this.settings.port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new SwarmgateError('SWG_ERR_DEVICE_TIMEOUT', `GPIO sim chip at ${this.#where} did not accept the connection within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once('error', (err) => {
        clearTimeout(timer);
        s.destroy();
        reject(new SwarmgateError('SWG_ERR_DEVICE_UNREACHABLE', `cannot reach the GPIO sim chip at ${this.#where}: ${err.message}`, { cause: err }));
      });
    });
    if (this.#closed) {
      socket.destroy();
      return;
    }
    this.#socket = socket;
    this.#buffer = '';
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.on('data', (chunk: string) => this.#onData(chunk));
    socket.on('error', (err) => this.log.debug({ err: err.message }, 'GPIO sim chip socket error'));
    socket.on('close', () => this.#onClose(socket));
    const info = await this.#request({ op: 'info' });
    const lines = Array.isArray(info.lines) ? (info.lines as SimLine[]) : [];
    this.#lines = new Map(lines.map((l) => [l.line, l]));
    if (typeof info.label === 'string') this.#label = info.label;
  }

  #onData(chunk: string): void {
    this.#buffer += chunk;
    let nl: number;
    while ((nl = this.#buffer.indexOf('\n')) >= 0) {
      const text = this.#buffer.slice(0, nl).trim();
      this.#buffer = this.#buffer.slice(nl + 1);
      if (text === '') continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(text) as Record<string, unknown>;
      } catch {
        this.log.warn({ text }, 'GPIO sim chip sent invalid JSON');
        continue;
      }
      if (msg.event === 'edge') this.#onEdge(msg);
      else this.#onAnswer(msg);
    }
  }

  #onEdge(msg: Record<string, unknown>): void {
    const pin = msg.line;
    if (typeof pin !== 'number') return;
    const event: EdgeEvent = { pin, level: msg.value === 1 ? 1 : 0, ts: typeof msg.ts === 'number' ? msg.ts : Date.now() };
    for (const listener of this.#watchers.get(pin) ?? []) listener(event);
  }

  #onAnswer(msg: Record<string, unknown>): void {
    const id = msg.id;
    if (typeof id !== 'number') return;
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    if (typeof msg.error === 'string') pending.reject(new SwarmgateError('SWG_ERR_DEVICE_EXCEPTION', `GPIO sim chip refused: ${msg.error}`));
    else pending.resolve(msg);
  }

  #onClose(socket: Socket): void {
    if (socket !== this.#socket) return;
    this.#socket = undefined;
    this.#failPending('SWG_ERR_DEVICE_NOT_CONNECTED', `connection to the GPIO sim chip at ${this.#where} was lost`);
    if (this.#closed) return;
    this.log.warn({ where: this.#where }, 'GPIO sim chip connection lost, reconnecting');
    for (const listener of this.#linkListeners) listener(false, 'connection lost (SWG_ERR_DEVICE_NOT_CONNECTED)');
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#reconnectTimer) return;
    const delay = this.#reconnectDelay;
    this.#reconnectDelay = Math.min(RECONNECT_MAX_MS, delay * 2);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      void this.#reconnect();
    }, delay);
  }

  async #reconnect(): Promise<void> {
    try {
      await this.#connect();
      for (const pin of this.#watchers.keys()) await this.#request({ op: 'watch', line: pin });
    } catch (err) {
      this.log.debug({ err: errorMessage(err) }, 'GPIO sim chip reconnect failed');
      this.#socket?.destroy();
      this.#socket = undefined;
      this.#scheduleReconnect();
      return;
    }
    if (this.#closed) return;
    this.#reconnectDelay = RECONNECT_MIN_MS;
    this.log.info({ where: this.#where }, 'GPIO sim chip connection re-established');
    for (const listener of this.#linkListeners) listener(true);
  }

  #failPending(code: ErrorCode, message: string): void {
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      this.#pending.delete(id);
      p.reject(new SwarmgateError(code, message));
    }
  }

  #request(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const socket = this.#socket;
    if (!socket || this.#closed) {
      return Promise.reject(new SwarmgateError('SWG_ERR_DEVICE_NOT_CONNECTED', `GPIO sim chip at ${this.#where} is not connected`));
    }
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new SwarmgateError('SWG_ERR_DEVICE_TIMEOUT', `GPIO sim chip at ${this.#where} did not answer ${String(body.op)} within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      socket.write(`${JSON.stringify({ id, ...body })}\n`);
    });
  }

  async exportLine(pin: number, config: LineConfig): Promise<ClaimedLine> {
    const line = this.#lines.get(pin);
    const known = [...this.#lines.values()].map((l) => `${l.line} ${l.name} (${l.direction})`).join(', ');
    if (!line) {
      throw new SwarmgateError('SWG_ERR_GPIO_EXPORT', `BCM pin ${pin} does not exist on ${this.#label}; lines: ${known}`, { details: { pin, label: this.#label } });
    }
    if (line.direction !== config.direction) {
      throw new SwarmgateError('SWG_ERR_GPIO_EXPORT', `BCM pin ${pin} (${line.name}) is an ${line.direction === 'in' ? 'input' : 'output'} on ${this.#label}, the config says ${config.direction}`, {
        details: { pin, label: this.#label },
      });
    }
    const answer = await this.#request({ op: 'claim', line: pin, ...(config.direction === 'out' && config.initialLevel !== undefined ? { initial: config.initialLevel } : {}) });
    this.#exported.add(pin);
    return { held: answer.held === true };
  }

  async read(pin: number): Promise<Level> {
    const answer = await this.#request({ op: 'read', line: pin });
    return answer.value === 1 ? 1 : 0;
  }

  async write(pin: number, level: Level): Promise<void> {
    await this.#request({ op: 'write', line: pin, value: level });
  }

  async watch(pin: number, onEdge: (event: EdgeEvent) => void): Promise<() => void> {
    let listeners = this.#watchers.get(pin);
    if (!listeners) {
      listeners = new Set();
      this.#watchers.set(pin, listeners);
      try {
        await this.#request({ op: 'watch', line: pin });
      } catch (err) {
        this.#watchers.delete(pin);
        throw err;
      }
    }
    const set = listeners;
    set.add(onEdge);
    // The protocol has no unwatch: the server keeps pushing, we stop listening.
    return () => {
      set.delete(onEdge);
    };
  }

  async unexport(pin: number): Promise<void> {
    this.#exported.delete(pin);
    this.#watchers.delete(pin);
  }

  onLink(listener: LinkListener): () => void {
    this.#linkListeners.add(listener);
    return () => this.#linkListeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    this.#linkListeners.clear();
    this.#watchers.clear();
    this.#failPending('SWG_ERR_DEVICE_NOT_CONNECTED', 'GPIO chip closed');
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket && !socket.destroyed) {
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.destroy();
      });
    }
  }
}
