/**
 * An RS-485 bus with several energy meters (one Modbus RTU slave per unit id) on one serial
 * device. Our own small RTU slave rather than modbus-serial's ServerSerial: that one serves a
 * single unit id (or answers for all), and we need per-unit faults: an offline meter stays
 * silent and a slow one answers late while the others answer normally.
 */
import { SerialPort } from 'serialport';
import { SwarmgateError } from '../../shared/kit/errors.js';
import { createLogger } from '../../shared/kit/log.js';
import { resolveContext, type SimContextOptions } from '../context.js';
import type { FaultRegistry } from '../faults/registry.js';
import { METER_KINDS, type MeterKind } from '../physics/meters.js';
import type { FacilityModel } from '../physics/model.js';
import type { Order } from './codec.js';
import { meterPoints, type MeterConfig } from './meter-map.js';
import { exceptionPdu, handlePdu, requestSpan } from './pdu.js';
import { createImage, ModbusException, type ModbusImage } from './register-map.js';
import { splitFrames, withCrc } from './rtu-frame.js';

const log = createLogger('sim-meter-bus');

export interface MeterBusOptions extends SimContextOptions {
  /** Serial device to listen on (in tests: one end of a socat pty pair). */
  readonly path: string;
  /** Default 9600 (irrelevant on a pty, but real adapters need it). */
  readonly baudRate?: number;
  /** Unit ids on the bus. Default [1, 2]. The first is the main incomer, the second the
   *  refrigeration sub-meter, the third the HVAC sub-meter, then the kinds repeat. */
  readonly unitIds?: readonly number[];
  /** Word order of the uint32 energy counter. Default 'little' (low word first). */
  readonly energyWordOrder?: Order;
}

export interface MeterBus {
  readonly path: string;
  readonly unitIds: readonly number[];
  /** Which physics meter each unit id reports. */
  readonly kinds: Readonly<Record<number, MeterKind>>;
  readonly model: FacilityModel;
  readonly faults: FaultRegistry;
  stop(): Promise<void>;
}

export function meterKindForIndex(index: number): MeterKind {
  return METER_KINDS[index % METER_KINDS.length] ?? 'main';
}

export async function startMeterBus(options: MeterBusOptions): Promise<MeterBus> {
  const ctx = resolveContext(options);
  const { model, faults } = ctx;
  const unitIds = options.unitIds ?? [1, 2];
  const wordOrder = options.energyWordOrder ?? 'little';
  const kinds: Record<number, MeterKind> = {};
  const images = new Map<number, ModbusImage>();
  unitIds.forEach((unit, i) => {
    if (!Number.isInteger(unit) || unit < 1 || unit > 247) {
      throw new SwarmgateError('SWG_ERR_SIM_START', `meter unit id ${unit} is not in 1..247`);
    }
    const kind = meterKindForIndex(i);
    kinds[unit] = kind;
    const config: MeterConfig = { ctRatio: 100, demandPeriodMin: 15, pulseOutput: false };
    images.set(unit, createImage(meterPoints(model.meters[kind], unit, wordOrder, config, faults)));
  });

  const port = new SerialPort({ path: options.path, baudRate: options.baudRate ?? 9600, autoOpen: false });
  await new Promise<void>((resolve, reject) =>
    port.open((err) => {
      if (!err) return resolve();
      ctx.release();
      reject(new SwarmgateError('SWG_ERR_SIM_START', `meter bus could not open ${options.path}: ${err.message}`, { cause: err }));
    }),
  );
  port.on('error', (err) => log.warn({ err }, 'serial error'));

  const timers = new Set<NodeJS.Timeout>();
  let buffer: Buffer = Buffer.alloc(0);
  let silence: NodeJS.Timeout | undefined;

  const reply = (frame: Buffer, delayMs: number): void => {
    const bytes = withCrc(frame);
    if (delayMs <= 0) {
      port.write(bytes);
      return;
    }
    const t = setTimeout(() => {
      timers.delete(t);
      if (port.isOpen) port.write(bytes);
    }, delayMs);
    timers.add(t);
  };

  const serveFrame = (frame: Buffer): void => {
    const unit = frame[0] ?? 0;
    const pdu = frame.subarray(1, frame.length - 2);
    const fc = pdu[0] ?? 0;
    // Broadcast (unit 0): every meter executes writes, nobody answers.
    const targets = unit === 0 ? [...images.keys()] : images.has(unit) ? [unit] : [];
    for (const u of targets) {
      const image = images.get(u);
      if (!image || faults.isOffline('meter', u)) continue;
      let response: Buffer;
      const span = requestSpan(pdu);
      const injected = faults.exceptionFor('meter', u, span.address, span.count);
      if (injected !== undefined) {
        response = exceptionPdu(fc, injected);
      } else {
        try {
          response = handlePdu(image, pdu);
        } catch (err) {
          response = exceptionPdu(fc, err instanceof ModbusException ? err.code : 4);
        }
      }
      if (unit !== 0) reply(Buffer.concat([Buffer.from([u]), response]), faults.delayMs('meter', u));
    }
  };

  port.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    const { frames, rest } = splitFrames(buffer);
    buffer = rest;
    for (const f of frames) serveFrame(f);
    // A partial frame followed by silence is garbage: drop it so the next request parses.
    if (silence) clearTimeout(silence);
    if (buffer.length > 0) {
      silence = setTimeout(() => {
        buffer = Buffer.alloc(0);
      }, 50);
    }
  });
  log.info({ path: options.path, unitIds, kinds }, 'meter bus listening');

  return {
    path: options.path,
    unitIds: [...unitIds],
    kinds,
    model,
    faults,
    async stop(): Promise<void> {
      if (silence) clearTimeout(silence);
      for (const t of timers) clearTimeout(t);
      timers.clear();
      if (port.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
      ctx.release();
    },
  };
}
