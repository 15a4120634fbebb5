/**
 * Test helpers for the Modbus driver: the pymodbus peer, a socat pty pair, point specs and drivers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../../../shared/kit/log.js';
import type { DeviceSpec, DriverContext, PointSpec } from '../../../edge/drivers/driver.js';
import { modbusRtuManifest, modbusTcpManifest } from '../../../edge/drivers/modbus/manifest.js';
import type { ModbusDriver } from '../../../edge/drivers/modbus/driver.js';
import type { ModbusAddress, ModbusRtuConnection, ModbusTcpConnection } from '../../../edge/drivers/modbus/schema.js';
import { openPtyPair, type PtyPair } from '../../../devices/serial/pty-pair.js';
import { PYTHON_FOR_PYMODBUS } from '../../support/peers.js';
import { tempDir } from '../../support/tmp.js';

const SERVER_SCRIPT = fileURLToPath(new URL('../../peers/pymodbus_server.py', import.meta.url));

export function point(name: string, address: Partial<ModbusAddress> & Pick<ModbusAddress, 'register'>, extra: Partial<Omit<PointSpec, 'address' | 'name'>> = {}): PointSpec<ModbusAddress> {
  return {
    name,
    address: { table: 'holding' as const, type: 'uint16' as const, ...address },
    writable: false,
    scale: 1,
    offset: 0,
    deadband: 0,
    pollIntervalMs: 1000,
    ...extra,
  };
}

export const context: DriverContext = { log: createLogger('modbus-test'), dataDir: '/tmp' };

export function tcpDriver(connection: Partial<ModbusTcpConnection> & { host: string; port: number }, points: PointSpec<ModbusAddress>[] = [], id = 'tcp-dev'): ModbusDriver {
  const device: DeviceSpec<ModbusTcpConnection, ModbusAddress> = {
    id,
    protocol: 'modbus-tcp',
    connection: { unitId: 1, timeoutMs: 500, retries: 1, backoffMs: 50, maxBlockRegisters: 125, maxGapRegisters: 8, ...connection },
    points,
  };
  return modbusTcpManifest.create(device, context) as ModbusDriver;
}

export function rtuDriver(connection: Partial<ModbusRtuConnection> & { path: string; unitId: number }, id = `rtu-${connection.unitId}`): ModbusDriver {
  const device: DeviceSpec<ModbusRtuConnection, ModbusAddress> = {
    id,
    protocol: 'modbus-rtu',
    connection: { baudRate: 9600, parity: 'none', dataBits: 8, stopBits: 1, timeoutMs: 200, retries: 0, backoffMs: 50, maxBlockRegisters: 125, maxGapRegisters: 8, ...connection },
    points: [],
  };
  return modbusRtuManifest.create(device, context) as ModbusDriver;
}

function waitForExit(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve();
    }, ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export interface PymodbusPeer {
  /** TCP port (tcp mode) */
  readonly port: number;
  stop(): Promise<void>;
}

/** Starts test/peers/pymodbus_server.py; resolves once it prints READY. */
export function startPymodbus(mode: 'tcp' | 'rtu', target: string | number): Promise<PymodbusPeer> {
  const child = spawn(PYTHON_FOR_PYMODBUS, [SERVER_SCRIPT, mode, String(target)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const stop = async (): Promise<void> => {
    child.stdin?.end();
    child.kill('SIGTERM');
    await waitForExit(child, 3000);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`pymodbus did not start in 15 s: ${stderr}`));
    }, 15_000);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const match = /READY (tcp|rtu) (\S+)/.exec(out);
      if (!match) return;
      clearTimeout(timer);
      resolve({ port: mode === 'tcp' ? Number(match[2]) : 0, stop });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`pymodbus exited with ${String(code)}: ${stderr}`));
    });
  });
}

/** A socat pty pair (devices/serial/pty-pair.ts) in a fresh temp folder; close() also removes it. */
export async function startSocat(): Promise<PtyPair> {
  const dir = tempDir('swg-modbus-pty-');
  const pair = await openPtyPair(join(dir.path, 'sim'), join(dir.path, 'gateway')).catch((err: unknown) => {
    dir.remove();
    throw err;
  });
  return {
    ...pair,
    close: async () => {
      await pair.close();
      dir.remove();
    },
  };
}

export { sleep } from '../support.js';
