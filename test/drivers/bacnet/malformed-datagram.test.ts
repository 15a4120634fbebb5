/**
 * A malformed BACnet/IP datagram on the gateway's shared port (a truncated Error PDU, short frames
 * of every APDU type) is dropped and logged with its sender: the library's decoders throw on some of
 * them inside the socket's message handler, which must not end the process, and the port keeps
 * serving the datagrams that follow.
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { BacnetNetwork, type IAm } from '../../../edge/drivers/bacnet/network.js';
import { capturedLog } from '../../support/captured-log.js';
import { waitFor } from '../support.js';

/** BVLC original-unicast + NPDU (version 1, no control bits) around an APDU. */
function frame(apdu: readonly number[]): Buffer {
  const length = 4 + 2 + apdu.length;
  return Buffer.from([0x81, 0x0a, length >> 8, length & 0xff, 0x01, 0x00, ...apdu]);
}

/** I-Am of device 4711: max APDU 1476, no segmentation (3), vendor 15. */
const I_AM = frame([0x10, 0x00, 0xc4, 0x02, 0x00, 0x12, 0x67, 0x22, 0x05, 0xc4, 0x91, 0x03, 0x21, 0x0f]);

const MALFORMED = [
  Buffer.from('810a000a010050132ec5', 'hex'), // Error PDU cut inside its error class: ErrorService.decode throws
  frame([0x50]),
  frame([0x50, 0x01, 0x0c]),
  frame([0x30]),
  frame([0x30, 0x01]),
  frame([0x10]),
  frame([0x10, 0x00]),
  frame([0x10, 0x02, 0x09, 0x01]),
  frame([0x00, 0x05, 0x01, 0x01]),
  frame([0x38, 0x01, 0x00, 0x04, 0x0c]),
  frame([0x40]),
  frame([0x20]),
];

let network: BacnetNetwork | undefined;
let sender: Socket | undefined;
afterEach(() => {
  network?.close();
  sender?.close();
  network = undefined;
  sender = undefined;
});

describe('BACnet/IP port and malformed datagrams', () => {
  it('drops them, logs each at debug with its sender, and still handles the I-Am that follows', async () => {
    const { log, lines } = capturedLog<{ msg: string; from?: string; err?: string }>('debug');
    network = new BacnetNetwork({ bindHost: '127.0.0.1', bindPort: 0, apduTimeoutMs: 1000 }, log);
    const { port } = await network.ready();
    const heard: IAm[] = [];
    network.onIAm((iAm) => heard.push(iAm));
    const socket = createSocket('udp4');
    sender = socket;
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const from = `127.0.0.1:${socket.address().port}`;
    const send = (datagram: Buffer): Promise<void> => new Promise((resolve, reject) => socket.send(datagram, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));

    for (const datagram of MALFORMED) await send(datagram);
    await send(I_AM);

    const iAm = await waitFor(() => heard[0], 10_000, 'the I-Am after the malformed datagrams');
    expect(iAm).toMatchObject({ deviceId: 4711, address: from, vendorId: 15 });
    const dropped = lines.filter((l) => l.msg === 'malformed BACnet/IP datagram dropped');
    expect(dropped.length).toBeGreaterThan(0);
    expect(dropped[0]).toMatchObject({ from, err: expect.any(String) as string });
  });
});
