/**
 * Modbus RTU framing: CRC-16/MODBUS and request frame extraction from a byte stream. Frames are
 * recognised by length (derived from the function code) and confirmed by CRC, because a pty or
 * USB adapter does not preserve the 3.5-character silent interval reliably.
 */

export function crc16(data: Uint8Array): number {
  let crc = 0xffff;
  for (const byte of data) {
    crc ^= byte;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/** Appends the CRC (low byte first). */
export function withCrc(frame: Buffer): Buffer {
  const out = Buffer.alloc(frame.length + 2);
  frame.copy(out);
  out.writeUInt16LE(crc16(frame), frame.length);
  return out;
}

export function crcOk(frame: Buffer): boolean {
  if (frame.length < 4) return false;
  return crc16(frame.subarray(0, frame.length - 2)) === frame.readUInt16LE(frame.length - 2);
}

/**
 * Expected length of the request frame at the start of buf: a number, 'more' when more bytes are
 * needed to know, or 'unknown' for function codes whose length we cannot derive.
 */
export function requestLength(buf: Buffer): number | 'more' | 'unknown' {
  if (buf.length < 2) return 'more';
  const fc = buf[1] ?? 0;
  if (fc >= 1 && fc <= 6) return 8;
  if (fc === 15 || fc === 16) {
    if (buf.length < 7) return 'more';
    return 9 + (buf[6] ?? 0);
  }
  return 'unknown';
}

export interface FrameSplit {
  readonly frames: Buffer[];
  readonly rest: Buffer;
}

/**
 * Pulls complete CRC-valid frames off the front of buf. On a CRC mismatch one byte is dropped
 * and parsing retried, which resynchronises after line noise or a partial frame.
 */
export function splitFrames(input: Buffer): FrameSplit {
  let buf = input;
  const frames: Buffer[] = [];
  for (;;) {
    const len = requestLength(buf);
    if (len === 'more') break;
    if (len === 'unknown') {
      // Whole buffer as one frame if its CRC checks out (an unsupported function code, answered
      // with "illegal function"); otherwise wait for more or for the silence timeout.
      if (crcOk(buf)) {
        frames.push(buf);
        buf = Buffer.alloc(0);
      }
      break;
    }
    if (buf.length < len) break;
    const frame = buf.subarray(0, len);
    if (crcOk(frame)) {
      frames.push(Buffer.from(frame));
      buf = buf.subarray(len);
    } else {
      buf = buf.subarray(1);
    }
  }
  return { frames, rest: Buffer.from(buf) };
}
