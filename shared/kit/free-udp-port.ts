/**
 * A UDP port nobody on `host` uses right now (bound, read, released). BACnet/IP needs it: its
 * library reads port 0 as 47808 instead of "any free port", so callers ask the system first.
 */
import { createSocket } from 'node:dgram';

export function freeUdpPort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind({ address: host, port: 0, exclusive: true }, () => {
      const { port } = socket.address();
      socket.close(() => resolvePort(port));
    });
  });
}
