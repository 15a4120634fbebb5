/**
 * BACnet devices sharing one bind (one UDP socket): each request waits for its own device's
 * apduTimeoutMs, not the first device's; and what belongs to the socket (broadcast address, BBMD
 * registration) must be the same for every device of the bind, or `edge check` says where not.
 */
import { createSocket, type Socket } from 'node:dgram';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { startBacnetBuilding, type BacnetBuilding } from '../../../devices/bacnet/building.js';
import { checkGatewayConfigFile } from '../../../edge/config/check-file.js';
import type { Driver } from '../../../edge/drivers/driver.js';
import { builtinDrivers } from '../../../edge/drivers/builtin.js';
import { parseHostPort } from '../../../edge/drivers/bacnet/settings.js';
import { tempDir } from '../../support/tmp.js';
import { driverFor, freeUdpPort, point } from './bacnet-stack.js';

const PROFILES = fileURLToPath(new URL('../../../devices/profiles/', import.meta.url));

/**
 * A UDP relay standing where a slow BACnet router would be: requests reach the device `delayMs`
 * late, replies come straight back.
 */
async function slowRelay(device: string, delayMs: number): Promise<{ address: string; close: () => void }> {
  const target = parseHostPort(device);
  const socket: Socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  let client: { address: string; port: number } | undefined;
  const timers = new Set<NodeJS.Timeout>();
  socket.on('message', (msg, from) => {
    if (from.address === target.host && from.port === target.port) {
      if (client) socket.send(msg, client.port, client.address);
      return;
    }
    client = { address: from.address, port: from.port };
    const timer = setTimeout(() => {
      timers.delete(timer);
      socket.send(msg, target.port, target.host);
    }, delayMs);
    timers.add(timer);
  });
  return {
    address: `127.0.0.1:${socket.address().port}`,
    close: () => {
      for (const timer of timers) clearTimeout(timer);
      socket.close();
    },
  };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('BACnet devices sharing one bind', () => {
  it("each request waits for its own device's apduTimeoutMs, not the first device's", { timeout: 60_000 }, async () => {
    const building: BacnetBuilding = await startBacnetBuilding({ host: '127.0.0.1', port: 0, seed: 4 });
    cleanups.push(() => building.stop());
    const relay = await slowRelay(building.endpoints[1002] ?? '', 1000);
    cleanups.push(relay.close);
    const bind = `127.0.0.1:${await freeUdpPort()}`;
    const points = [point('zone_temp', { objectType: 'analog-input', instance: 1 })];
    const fast: Driver = await driverFor({ instance: 1001, address: building.endpoints[1001] ?? '' }, points, { bind, apduTimeoutMs: 300, apduRetries: 0 });
    cleanups.push(() => fast.stop(true));
    // Behind the slow router every answer takes a second: more than the first device's 300 ms.
    const slow: Driver = await driverFor({ instance: 1002, address: relay.address }, points, { bind, apduTimeoutMs: 10_000, apduRetries: 0 });
    cleanups.push(() => slow.stop(true));

    await fast.initialize();
    await slow.initialize();
    const [reading] = await slow.read(points);
    expect(reading).toMatchObject({ quality: 'good' });
    expect(typeof reading?.value).toBe('number');
    expect((await fast.read(points))[0]).toMatchObject({ quality: 'good' });
  });

  it('edge check refuses devices of one bind whose broadcast address or BBMD differ', () => {
    const dir = tempDir('swarmgate-bacnet-bind-');
    cleanups.push(dir.remove);
    const VAV = `${PROFILES}vav-bacnet.yaml`;
    const text = `gateway: { id: gw-1, site: s }
devices:
  - { id: vav1, protocol: bacnet-ip, profile: ${VAV}, connection: { deviceInstance: 1, bind: "127.0.0.1:47917", bbmd: { address: 10.0.0.9 } } }
  - { id: vav2, protocol: bacnet-ip, profile: ${VAV}, connection: { deviceInstance: 2, bind: "127.0.0.1:47917", bbmd: { address: "10.0.0.9:47808", ttlSeconds: 300 } } }
  - { id: vav3, protocol: bacnet-ip, profile: ${VAV}, connection: { deviceInstance: 3, bind: "127.0.0.1:47917" } }
  - { id: vav4, protocol: bacnet-ip, profile: ${VAV}, connection: { deviceInstance: 4, bind: "127.0.0.1:47918", broadcastAddress: 10.0.0.255 } }
  - { id: vav5, protocol: bacnet-ip, profile: ${VAV}, connection: { deviceInstance: 5, bind: "127.0.0.1:47918", broadcastAddress: "10.0.0.255:47808" } }
  - { id: vav6, protocol: bacnet-ip, profile: ${VAV}, connection: { deviceInstance: 6, bind: "127.0.0.1:47918", broadcastAddress: 10.1.0.255 } }
`;
    const file = join(dir.path, 'bacnet-shared-bind.yaml');
    writeFileSync(file, text);
    const messages = checkGatewayConfigFile(file, builtinDrivers()).problems.map((p) => p.message);
    // The same settings written differently (default port, default TTL) agree.
    expect(messages).toEqual([
      'BACnet/IP bind 127.0.0.1:47917 is also used by device "vav1" (line 3) with bbmd 10.0.0.9:47808 ttlSeconds 300; this device has bbmd (unset): devices with the same bind share one socket, and its broadcast address and BBMD registration',
      'BACnet/IP bind 127.0.0.1:47918 is also used by device "vav4" (line 6) with broadcastAddress 10.0.0.255:47808; this device has broadcastAddress 10.1.0.255:47808: devices with the same bind share one socket, and its broadcast address and BBMD registration',
    ]);
  });
});
