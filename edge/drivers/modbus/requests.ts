/** The read function codes per table (FC1 coils, FC2 discrete inputs, FC3 holding, FC4 input registers). */
import type { ModbusClient } from './link.js';
import type { ModbusTable } from './schema.js';

export type BlockData = readonly number[] | readonly boolean[];

export function blockRequest(table: ModbusTable, start: number, count: number): (client: ModbusClient) => Promise<BlockData> {
  switch (table) {
    case 'coil':
      // Bit replies are padded to whole bytes; drop the padding.
      return async (c) => (await c.readCoils(start, count)).data.slice(0, count);
    case 'discrete':
      return async (c) => (await c.readDiscreteInputs(start, count)).data.slice(0, count);
    case 'holding':
      return async (c) => (await c.readHoldingRegisters(start, count)).data;
    case 'input':
      return async (c) => (await c.readInputRegisters(start, count)).data;
  }
}
