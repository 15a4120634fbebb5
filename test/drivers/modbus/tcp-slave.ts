/**
 * A small real Modbus TCP slave for driver tests that need what a simulator does not do on
 * purpose: reset its connections (RST, a PLC rebooting) or send stray bytes with a reply.
 * 100 holding registers; FC3, FC6, FC16; reads past the end get exception 2 (ILLEGAL DATA ADDRESS).
 */
import { createServer, type Socket } from 'node:net';
import { afterEach } from 'vitest';

export interface TcpSlave {
  readonly port: number;
  readonly regs: Uint16Array;
  /** Requests answered so far (the n passed to tamper counts from 1). */
  readonly requests: number;
  /** TCP connections accepted so far. */
  readonly connections: number;
  /** Connections open now. */
  readonly open: number;
  /** Per request: a Buffer to send instead of the normal reply, or undefined for the normal one. */
  tamper: ((n: number, normal: Buffer) => Buffer | undefined) | undefined;
  /** Resets (RST) every connection open now; the slave keeps listening. */
  resetAll(): void;
  close(): Promise<void>;
}

function reply(regs: Uint16Array, frame: Buffer): Buffer {
  const fc = frame[7] ?? 0;
  const addr = frame.readUInt16BE(8);
  const count = frame.readUInt16BE(10);
  if (fc === 3 && addr + count > regs.length) return Buffer.from([0x83, 2]);
  if (fc === 3) {
    const pdu = Buffer.alloc(2 + count * 2);
    pdu[0] = 3;
    pdu[1] = count * 2;
    for (let i = 0; i < count; i++) pdu.writeUInt16BE(regs[addr + i] ?? 0, 2 + i * 2);
    return pdu;
  }
  if (fc === 6) {
    regs[addr] = count; // FC6: the second word is the value
    return Buffer.from(frame.subarray(7, 12));
  }
  if (fc === 16) {
    for (let i = 0; i < count; i++) regs[addr + i] = frame.readUInt16BE(13 + i * 2);
    return Buffer.from(frame.subarray(7, 12));
  }
  return Buffer.from([fc | 0x80, 1]);
}

export async function startTcpSlave(): Promise<TcpSlave> {
  const regs = new Uint16Array(100);
  const sockets = new Set<Socket>();
  let requests = 0;
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffer = Buffer.alloc(0);
    socket.on('data', (data) => {
      buffer = Buffer.concat([buffer, data]);
      while (buffer.length >= 8) {
        const length = buffer.readUInt16BE(4);
        if (buffer.length < 6 + length) return;
        const frame = buffer.subarray(0, 6 + length);
        buffer = buffer.subarray(6 + length);
        const pdu = reply(regs, frame);
        const mbap = Buffer.alloc(7);
        mbap.writeUInt16BE(frame.readUInt16BE(0), 0);
        mbap.writeUInt16BE(pdu.length + 1, 4);
        mbap[6] = frame[6] ?? 0;
        const normal = Buffer.concat([mbap, pdu]);
        requests++;
        const out = slave.tamper?.(requests, normal) ?? normal;
        // A little later, like a real device: requests sent at once can interleave.
        setTimeout(() => {
          if (!socket.destroyed) socket.write(out);
        }, 5);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const slave: TcpSlave = {
    port,
    regs,
    get requests() {
      return requests;
    },
    get connections() {
      return connections;
    },
    get open() {
      return sockets.size;
    },
    tamper: undefined,
    resetAll() {
      for (const socket of sockets) socket.resetAndDestroy();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return slave;
}

/**
 * The slave and the driver a test starts, stopped after each test of the file that calls this at
 * its top level.
 */
export function slavePerTest(): { start(): Promise<TcpSlave>; driver<D extends { stop(force: boolean): Promise<void> }>(d: D): D } {
  let slave: TcpSlave | undefined;
  let driver: { stop(force: boolean): Promise<void> } | undefined;
  afterEach(async () => {
    await driver?.stop(true);
    await slave?.close();
    driver = undefined;
    slave = undefined;
  });
  return {
    async start() {
      slave = await startTcpSlave();
      return slave;
    },
    driver(d) {
      driver = d;
      return d;
    },
  };
}
