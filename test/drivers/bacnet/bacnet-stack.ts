/**
 * The bacnet-stack reference peer (../shared/peers/bacnet-stack, see its README): bacserv and
 * bacbasic as devices on loopback with their own free UDP ports, and its client tools (bacrp, bacwp)
 * to confirm what the driver did. BACNET_IFACE=lo keeps every packet on loopback.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BACNET_STACK_DIR as PEER_DIR, freeUdpPort } from '../../support/bacnet-stack.js';
import { createLogger } from '../../../shared/kit/log.js';
import type { Driver, PointSpec } from '../../../edge/drivers/driver.js';
import { bacnetManifest, type BacnetAddress, type BacnetConnection } from '../../../edge/drivers/bacnet/index.js';

const log = createLogger('test');

// Where the peer is and whether it is there: one home, test/support/bacnet-stack.ts.
export { BACNET_STACK_DIR as PEER_DIR, bacnetStackPeer, freeUdpPort } from '../../support/bacnet-stack.js';

export interface PeerDevice {
  readonly instance: number;
  readonly port: number;
  readonly address: string;
  stop(): Promise<void>;
}

/** Runs a bacnet-stack client tool against the device at port (unicast, --dnet 0 as the README says). */
export function tool(name: string, args: readonly string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    void freeUdpPort().then((own) =>
      execFile(
        join(PEER_DIR, name),
        [...args],
        { env: { BACNET_IFACE: 'lo', BACNET_IP_PORT: String(own), BACNET_APDU_TIMEOUT: '1000', BACNET_APDU_RETRIES: '1', ...env }, timeout: 10_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`${name} ${args.join(' ')}: ${err.message} ${stdout} ${stderr}`)) : resolve(stdout.trim())),
      ),
    );
  });
}

export const at = (device: PeerDevice): string[] => ['--mac', device.address, '--dnet', '0'];

/** Starts bacserv or bacbasic on a free port (or the given one, for a restart); resolves once it answers ReadProperty. */
export async function startPeerDevice(binary: 'bacserv' | 'bacbasic', instance: number, name?: string, port?: number): Promise<PeerDevice> {
  port ??= await freeUdpPort();
  const cwd = mkdtempSync(join(tmpdir(), 'bacnet-peer-')); // bacserv writes backup files relative to its cwd
  const child: ChildProcess = spawn(join(PEER_DIR, binary), [String(instance), ...(name ? [name] : [])], {
    cwd,
    env: { BACNET_IFACE: 'lo', BACNET_IP_PORT: String(port) },
    stdio: 'ignore',
  });
  const device: PeerDevice = {
    instance,
    port,
    address: `127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    },
  };
  for (let i = 0; ; i++) {
    try {
      await tool('bacrp', [...at(device), String(instance), 'device', String(instance), 'object-name']);
      return device;
    } catch (err) {
      if (i >= 20) {
        await device.stop();
        throw err;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** A point as the runtime hands it to the driver (100 ms poll). */
export const point = (name: string, address: BacnetAddress, writable = false): PointSpec<BacnetAddress> => ({
  name,
  address,
  writable,
  scale: 1,
  offset: 0,
  deadband: 0,
  pollIntervalMs: 100,
});

/** A bacnet-ip driver on its own free port (or the given bind), short timeouts. */
export async function driverFor(device: { instance: number; address?: string }, points: PointSpec<BacnetAddress>[], extra: Partial<BacnetConnection> = {}): Promise<Driver> {
  const connection: BacnetConnection = {
    bind: `127.0.0.1:${await freeUdpPort()}`,
    deviceInstance: device.instance,
    ...(device.address ? { deviceAddress: device.address } : {}),
    apduTimeoutMs: 500,
    apduRetries: 1,
    ...extra,
  };
  return bacnetManifest.create({ id: `dev${device.instance}`, protocol: 'bacnet-ip', connection, points }, { log, dataDir: '/tmp' });
}

