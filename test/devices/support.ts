/** Helpers shared by the devices tests. */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

export interface PtyPair {
  /** The simulator's end. */
  readonly a: string;
  /** The client's end. */
  readonly b: string;
  stop(): Promise<void>;
}

/** A connected pair of ptys from socat (both links exist when this resolves). */
export async function startPtyPair(): Promise<PtyPair> {
  const dir = mkdtempSync(join(tmpdir(), 'swg-dev-pty-'));
  const a = join(dir, 'A');
  const b = join(dir, 'B');
  const child = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: 'ignore' });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(() => (existsSync(a) && existsSync(b)) || child.exitCode !== null, 5000);
  } catch (err) {
    await stop();
    throw err;
  }
  if (child.exitCode !== null) {
    await stop();
    throw new Error('socat exited before creating the pty pair');
  }
  return { a, b, stop };
}
