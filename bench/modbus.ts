/**
 * Modbus poll rate of the gateway's driver against a bare modbus-serial loop on the same server in
 * the same run. The server is Debian's pymodbus (~4,700 requests/s here), fast enough not to be the
 * bottleneck (modbus-serial's own ServerTCP waits >= 1 ms per request).
 */
import ModbusSerial from 'modbus-serial';
import { point, startPymodbus, tcpDriver } from '../test/drivers/modbus/helpers.js';
import { pymodbusPeer } from '../test/support/peers.js';
import { progress, ratioEntry, type BenchEntry } from './results.js';

const SECONDS = 5;

// modbus-serial is CommonJS; its default export is the client class.
type Client = import('modbus-serial').default;
const ModbusRTU = ((ModbusSerial as unknown as { default?: unknown }).default ?? ModbusSerial) as unknown as new () => Client;
const REGISTERS = 20;

async function bareLoop(port: number): Promise<number> {
  const client = new ModbusRTU();
  await client.connectTCP('127.0.0.1', { port });
  client.setID(1);
  client.setTimeout(1000);
  let count = 0;
  const end = Date.now() + SECONDS * 1000;
  while (Date.now() < end) {
    await client.readHoldingRegisters(0, REGISTERS);
    count++;
  }
  await new Promise<void>((resolve) => client.close(() => resolve()));
  return count / SECONDS;
}

async function driverLoop(port: number): Promise<number> {
  const points = [
    point('i16', { register: 0, type: 'int16' }),
    point('u16', { register: 1, type: 'uint16' }),
    point('i32', { register: 2, type: 'int32' }),
    point('u32', { register: 4, type: 'uint32' }),
    point('f32', { register: 6, type: 'float32' }),
    point('f64', { register: 8, type: 'float64' }),
    point('str', { register: 12, type: 'string', length: 4 }),
    point('bits', { register: 16, type: 'uint16' }),
    point('s1', { register: 17, type: 'uint16' }),
    point('s3', { register: 19, type: 'uint16' }),
  ];
  const driver = tcpDriver({ host: '127.0.0.1', port, timeoutMs: 1000 }, points);
  await driver.initialize();
  let count = 0;
  let bad = 0;
  const end = Date.now() + SECONDS * 1000;
  while (Date.now() < end) {
    const readings = await driver.read(points);
    bad += readings.filter((r) => r.quality !== 'good').length;
    count++;
  }
  await driver.stop();
  if (bad > 0) throw new Error(`driver loop had ${bad} bad readings`);
  return count / SECONDS;
}

export async function benchModbus(): Promise<BenchEntry[]> {
  const peer = pymodbusPeer();
  if (!peer.available) throw new Error(peer.reason);
  const server = await startPymodbus('tcp', 0);
  try {
    // Alternate to spread machine noise over both sides; keep the best of each.
    let bare = 0;
    let driver = 0;
    for (let round = 0; round < 2; round++) {
      bare = Math.max(bare, await bareLoop(server.port));
      progress(`modbus round ${round + 1}: bare ${bare.toFixed(0)}/s`);
      driver = Math.max(driver, await driverLoop(server.port));
      progress(`modbus round ${round + 1}: driver ${driver.toFixed(0)}/s`);
    }
    return [
      ratioEntry(
        'modbus_tcp_poll_rate',
        { value: Math.round(driver), unit: 'polls/s' },
        { name: 'bare modbus-serial readHoldingRegisters loop', value: Math.round(bare), unit: 'requests/s' },
        0.9,
        `${REGISTERS} holding registers as 10 typed points (one coalesced block) vs one raw read of the same registers, pymodbus TCP server`,
      ),
    ];
  } finally {
    await server.stop();
  }
}
