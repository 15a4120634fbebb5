/**
 * The serial "port" object handed to modbus-serial's ModbusRTU client. It assembles RTU frames
 * from serial chunks and hands over exactly one CRC-checked reply per request.
 *
 * Why not modbus-serial's RTUBufferedPort: on a shared bus a slow slave may answer after its
 * timeout, while the next unit's request is already on the wire. That port keeps stale bytes in its
 * buffer; this one drops everything received before each request and only accepts a frame whose
 * unit id, function code, length and CRC match the request in flight.
 */
import { EventEmitter } from 'node:events';
import { SerialPort } from 'serialport';

export interface SerialSettings {
  readonly path: string;
  readonly baudRate: number;
  readonly parity: 'none' | 'even' | 'odd';
  readonly dataBits: 7 | 8;
  readonly stopBits: 1 | 2;
}

const EXCEPTION_FRAME_LENGTH = 5;
const MAX_FRAME_LENGTH = 256;

export function crc16(bytes: Uint8Array): number {
  let crc = 0xffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/** Length of a normal reply to a request frame (unit, fc, data..., crc), or undefined if unknown. */
export function expectedReplyLength(request: Uint8Array): number | undefined {
  const fc = request[1];
  const quantity = ((request[4] ?? 0) << 8) | (request[5] ?? 0);
  switch (fc) {
    case 1:
    case 2:
      return 3 + Math.ceil(quantity / 8) + 2;
    case 3:
    case 4:
      return 3 + quantity * 2 + 2;
    case 5:
    case 6:
    case 15:
    case 16:
      return 8;
    default:
      return undefined;
  }
}

function frameOk(frame: Buffer): boolean {
  return frame.length >= 4 && crc16(frame.subarray(0, -2)) === frame.readUInt16LE(frame.length - 2);
}

export class RtuFramePort extends EventEmitter {
  /** modbus-serial reads and writes these on its port; RTU has no transaction ids, so always 1. */
  _transactionIdRead = 1;
  _transactionIdWrite = 1;

  private readonly serial: SerialPort;
  private buffer = Buffer.alloc(0);
  private expected: { unit: number; fc: number; length: number } | undefined;

  constructor(settings: SerialSettings) {
    super();
    this.serial = new SerialPort({
      path: settings.path,
      baudRate: settings.baudRate,
      parity: settings.parity,
      dataBits: settings.dataBits,
      stopBits: settings.stopBits,
      autoOpen: false,
    });
    this.serial.on('data', (chunk: Buffer) => this.onData(chunk));
    this.serial.on('error', (err: Error) => this.emit('error', err));
    this.serial.on('close', () => this.emit('close'));
  }

  get isOpen(): boolean {
    return this.serial.isOpen;
  }

  open(callback: (err?: Error | null) => void): void {
    this.serial.open((err) => callback(err ?? null));
  }

  close(callback?: (err?: Error | null) => void): void {
    this.expected = undefined;
    if (!this.serial.isOpen) {
      callback?.(null);
      return;
    }
    this.serial.close((err) => callback?.(err ?? null));
  }

  /** Closes the serial port and waits for the file descriptor to be released. */
  shutdown(): Promise<void> {
    return new Promise((resolve) => this.close(() => resolve()));
  }

  write(frame: Buffer): void {
    const length = expectedReplyLength(frame);
    this.buffer = Buffer.alloc(0);
    this.expected = length === undefined ? undefined : { unit: frame[0] ?? 0, fc: frame[1] ?? 0, length };
    this.serial.write(frame);
  }

  private onData(chunk: Buffer): void {
    const expected = this.expected;
    if (!expected) return; // nobody asked: a late reply of a timed-out request, or line noise
    this.buffer = Buffer.concat([this.buffer, chunk]);
    if (this.buffer.length > MAX_FRAME_LENGTH * 2) this.buffer = this.buffer.subarray(-MAX_FRAME_LENGTH);
    // Scan for the reply: noise or a late frame may precede it.
    for (let i = 0; i + EXCEPTION_FRAME_LENGTH <= this.buffer.length; i++) {
      if (this.buffer[i] !== expected.unit) continue;
      const fc = this.buffer[i + 1];
      const length = fc === expected.fc ? expected.length : fc === (expected.fc | 0x80) ? EXCEPTION_FRAME_LENGTH : 0;
      if (length === 0 || i + length > this.buffer.length) continue;
      const frame = this.buffer.subarray(i, i + length);
      if (!frameOk(frame)) continue;
      this.expected = undefined;
      this.buffer = Buffer.alloc(0);
      this.emit('data', Buffer.from(frame));
      return;
    }
  }
}
