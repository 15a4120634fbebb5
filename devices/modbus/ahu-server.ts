/**
 * The AHU as a Modbus TCP server (modbus-serial ServerTCP, any unit id). Requests go through the
 * fault registry first: offline = no answer at all, exception = that exception code, slow =
 * answer after a delay.
 */
import type { AddressInfo, Server } from 'node:net';
import { ServerTCP, type IServiceVector } from 'modbus-serial';
import { SwarmgateError } from '../../shared/kit/errors.js';
import { createLogger } from '../../shared/kit/log.js';
import { DEFAULT_HOST, resolveContext, type SimContextOptions } from '../context.js';
import type { FacilityModel } from '../physics/model.js';
import type { FaultRegistry } from '../faults/registry.js';
import { ahuPoints } from './ahu-map.js';
import { createImage, ModbusException, type ModbusImage } from './register-map.js';

const log = createLogger('sim-ahu');

export interface AhuServerOptions extends SimContextOptions {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0 (ephemeral). */
  readonly port?: number;
}

export interface AhuServer {
  readonly host: string;
  readonly port: number;
  readonly model: FacilityModel;
  readonly faults: FaultRegistry;
  stop(): Promise<void>;
}

type Cb<T> = (err: unknown, value?: T) => void;

export async function startAhuServer(options: AhuServerOptions = {}): Promise<AhuServer> {
  const ctx = resolveContext(options);
  const image = createImage(ahuPoints(ctx.model, ctx.faults));
  const host = options.host ?? DEFAULT_HOST;
  const timers = new Set<NodeJS.Timeout>();

  /** Runs op under the current faults and answers through cb (or never, when offline). */
  const serve = <T>(address: number, count: number, cb: Cb<T>, op: () => T): void => {
    if (ctx.faults.isOffline('ahu')) return;
    let err: unknown = null;
    let value: T | undefined;
    const code = ctx.faults.exceptionFor('ahu', undefined, address, count);
    if (code !== undefined) {
      err = { modbusErrorCode: code, msg: `injected exception ${code}` };
    } else {
      try {
        value = op();
      } catch (e) {
        err = e instanceof ModbusException ? { modbusErrorCode: e.code, msg: e.message } : { modbusErrorCode: 4, msg: String(e) };
      }
    }
    const delay = ctx.faults.delayMs('ahu');
    if (delay <= 0) return cb(err, value);
    const t = setTimeout(() => {
      timers.delete(t);
      cb(err, value);
    }, delay);
    timers.add(t);
  };

  // Our callbacks pass plain {modbusErrorCode} objects as errors, which the library reads.
  const vector = buildVector(image, serve) as unknown as IServiceVector;
  // ServerTCP treats port 0 as "use 502"; the string "0" still means "ephemeral" to net.listen.
  const port: number | string = options.port === undefined || options.port === 0 ? '0' : options.port;
  const server = new ServerTCP(vector, { host, port: port as number, unitID: 255 });
  server.on('socketError', (err: unknown) => log.debug({ err }, 'client socket error'));
  server.on('error', (err: unknown) => log.warn({ err }, 'server error'));
  await new Promise<void>((resolve, reject) => {
    server.once('initialized', () => resolve());
    server.once('serverError', (err: unknown) => {
      ctx.release();
      reject(new SwarmgateError('SWG_ERR_SIM_START', `AHU Modbus TCP server could not listen on ${host}:${String(port)}`, { cause: err }));
    });
  });
  const net = (server as unknown as { _server: Server })._server;
  const bound = (net.address() as AddressInfo).port;
  log.info({ host, port: bound }, 'AHU Modbus TCP server listening');

  return {
    host,
    port: bound,
    model: ctx.model,
    faults: ctx.faults,
    async stop(): Promise<void> {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      ctx.release();
    },
  };
}

type Serve = <T>(address: number, count: number, cb: Cb<T>, op: () => T) => void;

/**
 * modbus-serial picks callback style by the function's declared arity, so every handler keeps
 * its exact parameter list (unused unitID included).
 */
function buildVector(image: ModbusImage, serve: Serve) {
  return {
    getCoil: (addr: number, _unit: number, cb: Cb<boolean>) => serve(addr, 1, cb, () => image.readBits('coil', addr, 1)[0] ?? false),
    getDiscreteInput: (addr: number, _unit: number, cb: Cb<boolean>) => serve(addr, 1, cb, () => image.readBits('discrete', addr, 1)[0] ?? false),
    getHoldingRegister: (addr: number, _unit: number, cb: Cb<number>) => serve(addr, 1, cb, () => image.readRegisters('holding', addr, 1)[0] ?? 0),
    getInputRegister: (addr: number, _unit: number, cb: Cb<number>) => serve(addr, 1, cb, () => image.readRegisters('input', addr, 1)[0] ?? 0),
    getMultipleHoldingRegisters: (addr: number, len: number, _unit: number, cb: Cb<number[]>) => serve(addr, len, cb, () => image.readRegisters('holding', addr, len)),
    // The library indexes the values array even on error, so errors carry a dummy array.
    getMultipleInputRegisters: (addr: number, len: number, _unit: number, cb: Cb<number[]>) =>
      serve<number[]>(addr, len, (err, v) => cb(err, v ?? new Array<number>(len).fill(0)), () => image.readRegisters('input', addr, len)),
    setCoil: (addr: number, value: boolean, _unit: number, cb: Cb<void>) => serve(addr, 1, cb, () => image.writeCoils(addr, [value])),
    setRegister: (addr: number, value: number, _unit: number, cb: Cb<void>) => serve(addr, 1, cb, () => image.writeRegisters(addr, [value])),
    setRegisterArray: (addr: number, values: number[], _unit: number, cb: Cb<void>) => serve(addr, values.length, cb, () => image.writeRegisters(addr, values)),
  };
}
