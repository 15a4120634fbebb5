/**
 * bacnet-ip through the gateway's one write path: a config and profile that `loadConfig` accepts,
 * polling/COV into the gateway, a write refused by the point limits, a write at the point priority
 * and its relinquish (value null), each confirmed by bacrp reading the priority-array.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinDrivers } from '../../../edge/drivers/builtin.js';
import { loadConfig } from '../../../edge/config/load.js';
import { Gateway } from '../../../edge/runtime/gateway.js';
import { GatewayMetrics } from '../../../edge/runtime/metrics.js';
import { isSwarmgateError } from '../../../shared/kit/errors.js';
import { peerOrSkip } from '../../support/peers.js';
import { tempDir } from '../../support/tmp.js';
import { waitFor } from '../support.js';
import { at, bacnetStackPeer, freeUdpPort, startPeerDevice, tool, type PeerDevice } from './bacnet-stack.js';

const run = peerOrSkip(bacnetStackPeer());

describe.skipIf(!run)('bacnet-ip in the gateway (bacnet-stack peer)', () => {
  const dir = tempDir('swarmgate-bacnet-gw-');
  let serv: PeerDevice;
  let gateway: Gateway;

  beforeAll(async () => {
    serv = await startPeerDevice('bacserv', 1500);
    writeFileSync(
      join(dir.path, 'peer.yaml'),
      `profile: bacnet-stack-demo
protocol: bacnet
points:
  - { name: av1, unit: '%', address: { objectType: analog-value, instance: 1 } }
  - { name: ao1, unit: '%', address: { objectType: analog-output, instance: 1, cov: confirmed }, writable: true, limits: { min: 0, max: 100 } }
`,
    );
    writeFileSync(
      join(dir.path, 'gateway.yaml'),
      `gateway: { id: gw-bacnet, site: test }
dataDir: ${dir.path}/gw
polling: { defaultIntervalMs: 200 }
devices:
  - id: peer
    protocol: bacnet-ip
    profile: peer.yaml
    connection: { bind: "127.0.0.1:${await freeUdpPort()}", deviceInstance: 1500, deviceAddress: "${serv.address}", apduTimeoutMs: 500, apduRetries: 1 }
`,
    );
    const loaded = loadConfig(join(dir.path, 'gateway.yaml'), builtinDrivers());
    gateway = new Gateway({ loaded, registry: builtinDrivers(), metrics: new GatewayMetrics(false) });
    await gateway.start();
  });

  afterAll(async () => {
    await gateway?.stop();
    await serv?.stop();
    dir.remove();
  });

  const code = async (write: Promise<void>): Promise<string> => {
    try {
      await write;
      return 'applied';
    } catch (err) {
      return isSwarmgateError(err) ? err.code : String(err);
    }
  };
  const slot12 = async (): Promise<string | undefined> => (await tool('bacrp', [...at(serv), '1500', 'analog-output', '1', 'priority-array'])).replace(/[{}]/g, '').split(',')[11];

  it('reads into the gateway and writes and relinquishes through its one write path', async () => {
    await waitFor(() => (gateway.latest('peer', 'av1')?.quality === 'good' ? true : undefined), 5000, 'a good av1 reading');
    expect(await code(gateway.write('peer', 'ao1', 150))).toBe('SWG_ERR_POINT_LIMIT');
    expect(await code(gateway.write('peer', 'av1', 5))).toBe('SWG_ERR_POINT_NOT_WRITABLE');
    expect(await code(gateway.write('peer', 'av1', null))).toBe('SWG_ERR_POINT_NOT_WRITABLE');

    expect(await code(gateway.write('peer', 'ao1', 55))).toBe('applied');
    expect(await slot12()).toBe('55.000000');
    await waitFor(() => (gateway.latest('peer', 'ao1')?.value === 55 ? true : undefined), 5000, 'ao1 = 55 via COV');

    expect(await code(gateway.write('peer', 'ao1', null, 'test'))).toBe('applied');
    expect(await slot12()).toBe('Null');
    await waitFor(() => (gateway.latest('peer', 'ao1')?.value === 0 ? true : undefined), 5000, 'ao1 back to its relinquish default 0');
  });
});
