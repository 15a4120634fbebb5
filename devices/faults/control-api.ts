/**
 * Small HTTP control API for the simulator (node:http, JSON):
 *   GET /state            physics snapshot
 *   GET /faults           active faults
 *   POST /faults {kind,…} → 201 {id}; 400 {error, field} naming the bad field
 *   DELETE /faults/:id    → 204 (404 for unknown ids)
 *   DELETE /faults        → 204, clears all
 *   POST /step {seconds}  → advance the simulation (handy with speed 0)
 *   GET /speed            → {speed}: simulated seconds per real second
 *   POST /speed {speed}   → change it at run time (0 freezes the clock)
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isSwarmgateError, SwarmgateError } from '../../shared/kit/errors.js';
import { createLogger } from '../../shared/kit/log.js';
import type { FacilityModel } from '../physics/model.js';
import type { RealtimeDriver } from '../physics/realtime.js';
import type { FaultRegistry } from './registry.js';

const log = createLogger('sim-control');

export interface ControlApiOptions {
  readonly model: FacilityModel;
  readonly faults: FaultRegistry;
  /** The realtime driver, for GET/POST /speed; without it those routes answer 404. */
  readonly clock?: Pick<RealtimeDriver, 'speed' | 'setSpeed'>;
  readonly host?: string;
  readonly port?: number;
}

export interface ControlApi {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

const MAX_BODY = 64 * 1024;
/** The same bound as `speed` in a simulator config file. */
export const MAX_SPEED = 100_000;

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new SwarmgateError('SWG_ERR_SIM_FAULT_INVALID', 'fault field "body": larger than 64 KiB', { details: { field: 'body' } }));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new SwarmgateError('SWG_ERR_SIM_FAULT_INVALID', 'fault field "body": not valid JSON', { details: { field: 'body' } }));
      }
    });
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

export async function startControlApi(options: ControlApiOptions): Promise<ControlApi> {
  const { model, faults } = options;
  const host = options.host ?? '127.0.0.1';

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://sim').pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    if (method === 'GET' && path === '/state') return send(res, 200, model.snapshot());
    if (method === 'GET' && path === '/faults') return send(res, 200, faults.list());
    if (method === 'POST' && path === '/faults') {
      const id = faults.inject(await readBody(req));
      return send(res, 201, { id });
    }
    if (method === 'DELETE' && path === '/faults') {
      faults.clear();
      return send(res, 204);
    }
    const one = /^\/faults\/([^/]+)$/.exec(path);
    if (method === 'DELETE' && one?.[1]) {
      faults.clear(decodeURIComponent(one[1]));
      return send(res, 204);
    }
    if (method === 'POST' && path === '/step') {
      const body = await readBody(req);
      const seconds = typeof body === 'object' && body !== null ? (body as { seconds?: unknown }).seconds : undefined;
      if (typeof seconds !== 'number' || !(seconds >= 0) || seconds > 30 * 86400) {
        return send(res, 400, { error: 'field "seconds": expected a number of simulated seconds in 0..2592000', field: 'seconds' });
      }
      model.step(seconds);
      return send(res, 200, model.snapshot());
    }
    const clock = options.clock;
    if (clock && method === 'GET' && path === '/speed') return send(res, 200, { speed: clock.speed });
    if (clock && method === 'POST' && path === '/speed') {
      const body = await readBody(req);
      const speed = typeof body === 'object' && body !== null ? (body as { speed?: unknown }).speed : undefined;
      if (typeof speed !== 'number' || !(speed >= 0) || speed > MAX_SPEED) {
        return send(res, 400, { error: `field "speed": expected simulated seconds per real second in 0..${MAX_SPEED} (0 freezes the clock)`, field: 'speed' });
      }
      clock.setSpeed(speed);
      return send(res, 200, { speed: clock.speed });
    }
    send(res, 404, { error: `no route ${method} ${path}; try GET /state, GET /faults, POST /faults, DELETE /faults/:id, POST /step, GET|POST /speed` });
  };

  const server = createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      if (isSwarmgateError(err)) {
        send(res, err.status, { error: err.message, code: err.code, hint: err.hint, ...(err.details.field ? { field: err.details.field } : {}) });
      } else {
        log.error({ err }, 'control API failure');
        send(res, 500, { error: String(err) });
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new SwarmgateError('SWG_ERR_SIM_START', `control API could not listen on ${host}:${options.port ?? 0}`, { cause: err })));
    server.listen({ host, port: options.port ?? 0 }, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
