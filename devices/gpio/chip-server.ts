/**
 * Simulated GPIO chip over TCP JSON lines (contract in devices/README.md, "GPIO sim chip
 * protocol"). Input lines mirror the physics (door contact, occupancy); output lines drive
 * it (backup compressor relay, AHU enable relay). Edge events carry wall-clock timestamps, like a
 * kernel GPIO event would on the gateway.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { SwarmgateError } from '../../shared/kit/errors.js';
import { createLogger } from '../../shared/kit/log.js';
import { DEFAULT_HOST, resolveContext, type SimContextOptions } from '../context.js';
import type { FaultRegistry } from '../faults/registry.js';
import type { FacilityModel } from '../physics/model.js';
import { GPIO_LINES, type GpioLine } from './lines.js';

const log = createLogger('sim-gpio');

export interface GpioChipServerOptions extends SimContextOptions {
  readonly host?: string;
  /** Default 0 (ephemeral). */
  readonly port?: number;
}

export interface GpioChipServer {
  readonly host: string;
  readonly port: number;
  readonly model: FacilityModel;
  readonly faults: FaultRegistry;
  /** Current raw level of a line (for test assertions). */
  level(line: number): 0 | 1;
  stop(): Promise<void>;
}

interface Request {
  readonly id?: unknown;
  readonly op?: unknown;
  readonly line?: unknown;
  readonly value?: unknown;
  readonly initial?: unknown;
}

export async function startGpioChipServer(options: GpioChipServerOptions = {}): Promise<GpioChipServer> {
  const ctx = resolveContext(options);
  const { model, faults } = ctx;
  const host = options.host ?? DEFAULT_HOST;
  const lines = new Map<number, GpioLine>(GPIO_LINES.map((l) => [l.line, l]));
  // Outputs hold what was written; start at each line's power-up level and push it into physics.
  const outputs = new Map<number, 0 | 1>();
  // Outputs a gateway has claimed since the chip "powered up" (like lines exported in sysfs): a
  // gateway that reconnects or restarts finds them held at their level.
  const claimed = new Set<number>();
  for (const l of GPIO_LINES) {
    if (l.direction === 'out') {
      outputs.set(l.line, l.initial);
      l.drive(model, l.initial);
    }
  }
  const levelOf = (l: GpioLine): 0 | 1 => (l.direction === 'out' ? (outputs.get(l.line) ?? 0) : l.sense(model, faults));
  const watchers = new Map<Socket, Set<number>>();
  const timers = new Set<NodeJS.Timeout>();
  let last = new Map<number, 0 | 1>(GPIO_LINES.map((l) => [l.line, levelOf(l)]));

  const send = (sock: Socket, msg: object): void => {
    if (faults.isOffline('gpio') || sock.destroyed) return;
    const delay = faults.delayMs('gpio');
    const text = `${JSON.stringify(msg)}\n`;
    if (delay <= 0) {
      sock.write(text);
      return;
    }
    const t = setTimeout(() => {
      timers.delete(t);
      if (!sock.destroyed) sock.write(text);
    }, delay);
    timers.add(t);
  };

  const pushChanges = (): void => {
    const now = new Map<number, 0 | 1>(GPIO_LINES.map((l) => [l.line, levelOf(l)]));
    for (const [line, value] of now) {
      if (last.get(line) === value) continue;
      for (const [sock, watched] of watchers) {
        if (watched.has(line)) send(sock, { event: 'edge', line, value, ts: Date.now() });
      }
    }
    last = now;
  };
  const unsubscribe = model.onTick(pushChanges);

  const handle = (sock: Socket, req: Request): object => {
    const id = typeof req.id === 'number' || typeof req.id === 'string' ? req.id : null;
    const fail = (error: string) => ({ id, error });
    if (req.op === 'info') {
      return { id, label: 'swarmgate-sim', lines: GPIO_LINES.map((l) => ({ line: l.line, name: l.name, direction: l.direction })) };
    }
    if (req.op !== 'read' && req.op !== 'write' && req.op !== 'watch' && req.op !== 'claim') return fail(`unknown op ${JSON.stringify(req.op)}; use info, claim, read, write or watch`);
    const line = typeof req.line === 'number' ? lines.get(req.line) : undefined;
    if (!line) return fail(`line ${String(req.line)} does not exist`);
    if (req.op === 'read') return { id, value: levelOf(line) };
    if (req.op === 'claim') {
      if (line.direction !== 'out') return { id, ok: true, held: false, value: levelOf(line) };
      if (req.initial !== undefined && req.initial !== 0 && req.initial !== 1) return fail('initial must be 0 or 1');
      const held = claimed.has(line.line);
      claimed.add(line.line);
      if (!held && req.initial !== undefined) {
        outputs.set(line.line, req.initial);
        line.drive(model, req.initial);
        pushChanges();
      }
      return { id, ok: true, held, value: levelOf(line) };
    }
    if (req.op === 'watch') {
      watchers.get(sock)?.add(line.line);
      return { id, ok: true };
    }
    if (line.direction !== 'out') return fail(`line ${line.line} is an input`);
    if (req.value !== 0 && req.value !== 1) return fail(`value must be 0 or 1`);
    outputs.set(line.line, req.value);
    claimed.add(line.line);
    line.drive(model, req.value);
    pushChanges();
    return { id, ok: true };
  };

  const server = createServer((sock) => {
    watchers.set(sock, new Set());
    sock.setEncoding('utf8');
    let buffer = '';
    sock.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const text = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (text === '') continue;
        // Offline: requests vanish, and nothing (not even writes) reaches the "hardware".
        if (faults.isOffline('gpio')) continue;
        let req: Request;
        try {
          req = JSON.parse(text) as Request;
        } catch {
          send(sock, { id: null, error: 'invalid JSON' });
          continue;
        }
        send(sock, handle(sock, req));
      }
    });
    sock.on('error', (err) => log.debug({ err }, 'gpio client socket error'));
    sock.on('close', () => watchers.delete(sock));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => {
      ctx.release();
      unsubscribe();
      reject(new SwarmgateError('SWG_ERR_SIM_START', `GPIO sim chip could not listen on ${host}:${options.port ?? 0}`, { cause: err }));
    });
    server.listen({ host, port: options.port ?? 0 }, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ host, port }, 'GPIO sim chip listening');

  return {
    host,
    port,
    model,
    faults,
    level: (n) => {
      const l = lines.get(n);
      return l ? levelOf(l) : 0;
    },
    async stop(): Promise<void> {
      unsubscribe();
      for (const t of timers) clearTimeout(t);
      for (const sock of watchers.keys()) sock.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      ctx.release();
    },
  };
}
