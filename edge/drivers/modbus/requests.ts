/**
 * What a request to a unit is, and the read function codes per table (FC1 coils, FC2 discrete
 * inputs, FC3 holding, FC4 input registers).
 */
import type { ModbusClient } from './link.js';
import type { ModbusTable } from './schema.js';

export type BlockData = readonly number[] | readonly boolean[];

/** Where a wire request delivers its outcome; exactly one call. */
export interface Reply<T> {
  ok(value: T): void;
  fail(err: unknown): void;
}

/**
 * A request through modbus-serial's callback API (writeFC1..4, the calls its promise methods
 * wrap). Polls use these: no promise, bound function or argument copies per request besides the
 * link's own promise, so less garbage (and fewer GC pauses) per poll.
 */
export interface WireRequest<T> {
  readonly wire: (client: ModbusClient, reply: Reply<T>) => void;
}

/** A request: a wire request, or any call of modbus-serial's promise API (writes, odd cases). */
export type ModbusRequest<T> = ((client: ModbusClient) => Promise<T>) | WireRequest<T>;

interface ReadReply<T> {
  readonly data: T;
}
type ReadCall = (client: ModbusClient, unit: number, start: number, count: number, next: (err: unknown, reply: ReadReply<BlockData>) => void) => void;

const READ_CALLS: { readonly [K in ModbusTable]: ReadCall } = {
  coil: (c, unit, start, count, next) => c.writeFC1(unit, start, count, next),
  discrete: (c, unit, start, count, next) => c.writeFC2(unit, start, count, next),
  holding: (c, unit, start, count, next) => c.writeFC3(unit, start, count, next),
  input: (c, unit, start, count, next) => c.writeFC4(unit, start, count, next),
};

export function blockRequest(table: ModbusTable, start: number, count: number): WireRequest<BlockData> {
  const call = READ_CALLS[table];
  // Bit replies are padded to whole bytes; drop the padding.
  const bits = table === 'coil' || table === 'discrete';
  return {
    wire: (client, reply) => {
      // The error goes on as modbus-serial gives it: toModbusError reads its modbusCode/errno.
      call(client, client.getID(), start, count, (err, result) => {
        if (err) reply.fail(err);
        else reply.ok(bits ? result.data.slice(0, count) : result.data);
      });
    },
  };
}
