/** Helpers shared by the devices tests. */
import ModbusSerial from 'modbus-serial';
import type { ModbusRTU } from 'modbus-serial/ModbusRTU.js';

export type ModbusClient = ModbusRTU;

// modbus-serial is CommonJS: depending on the loader the class is the default export itself or
// sits under .default.
const ModbusCtor = ((ModbusSerial as unknown as { default?: unknown }).default ?? ModbusSerial) as new () => ModbusRTU;

export function newModbusClient(): ModbusClient {
  return new ModbusCtor();
}

export function closeModbusClient(client: ModbusClient): Promise<void> {
  return new Promise<void>((resolve) => {
    if (!client.isOpen) return resolve();
    client.close(() => resolve());
  });
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5000, stepMs = 20): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
