/**
 * The updater inside the real gateway process (startEdgeApp with an `update:` section), against the
 * simulated facility and a real hub: a deployment installs the release and asks for a restart; the
 * gateway started again from the same config finds the pending update, proves healthy with its real
 * probe (connected, ahu1 up, outbox draining, health agent) and keeps it; the hub shows it healthy.
 */
import { join } from 'node:path';
import { readlinkSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFacility, type Facility } from '../../devices/facility.js';
import { startEdgeApp, type EdgeApp } from '../../edge/app.js';
import { loadConfig } from '../../edge/config/load.js';
import { builtinDrivers } from '../../edge/drivers/builtin.js';
import { readUpdateState } from '../../edge/update/state.js';
import type { Hub } from '../../hub/index.js';
import { addGatewayUser, credentialsFile } from '../e2e/support/hub.js';
import { writeAhuGateway } from '../support/ahu-gateway.js';
import { tempDir } from '../support/tmp.js';
import { bootstrapInstall, buildTestRelease, makeKeys, startReleaseHub, storeRelease, until } from './support/releases.js';

const dir = tempDir('swg-edge-update-');
let facility: Facility;
let hub: Hub;
let app: EdgeApp | undefined;
let file = '';
const root = join(dir.path, 'install');
const restarts: string[] = [];

beforeAll(async () => {
  const keys = makeKeys(join(dir.path, 'keys'));
  bootstrapInstall(root, await buildTestRelease(dir.path, keys, '1.0.0'));
  facility = await startFacility({ dataDir: dir.path, seed: 7 });
  hub = await startReleaseHub(dir.path, keys);
  await storeRelease(hub, await buildTestRelease(dir.path, keys, '1.1.0'));
  const auth = await addGatewayUser(credentialsFile(dir.path), 'test', 'gw-upd');
  const federation = { mqtt: { url: hub.broker?.url ?? '', ...auth, reconnectPeriodMs: 100 }, outbox: { flushMs: 20 }, stateIntervalS: 0 };
  file = writeAhuGateway(dir.path, facility, {
    id: 'gw-upd',
    intervalMs: 200,
    // The app runs inside the test runner's process: its memory is the runner's, hence the budget.
    extra: `federation: ${JSON.stringify(federation)}\nupdate: { installRoot: ${root}, releaseKeyFile: ${keys.publicFile}, healthDeadlineSec: 30, healthyForSec: 1 }\nhealth: { intervalS: 2, memoryBudgetMB: 16384 }\n`,
  });
}, 60_000);

afterAll(async () => {
  await app?.stop(true);
  await hub?.stop();
  await facility?.stop();
  dir.remove();
});

const start = (): Promise<EdgeApp> => startEdgeApp(loadConfig(file, builtinDrivers()), builtinDrivers(), { onUpdateRestart: (why) => restarts.push(why) });

describe('the gateway process updates itself', () => {
  it('installs a deployed release, restarts into it and keeps it once healthy', async () => {
    app = await start();
    expect(app.updater?.running).toBe('1.0.0');
    await until('gw-upd online', async () => ((await hub.registry.get('gw-upd'))?.status === 'online' ? true : undefined));
    const d = await hub.releases?.deployments.create({ version: '1.1.0', target: { gateways: ['gw-upd'] }, user: 'test' });
    await until('the restart request', () => (restarts.length > 0 ? true : undefined));
    expect(restarts).toEqual(['release 1.1.0 installed']);
    expect(readlinkSync(join(root, 'current'))).toBe(join('releases', '1.1.0'));
    // What systemd does on exit 75: the same config, started again.
    await app.stop();
    app = await start();
    expect(app.updater?.running).toBe('1.1.0');
    const done = await until('the deployment done', async () => {
      const v = await hub.releases?.deployments.get(d?.id ?? '');
      return v?.state === 'done' ? v : undefined;
    }, 120_000);
    expect(done.gateways).toMatchObject([{ gateway: 'gw-upd', state: 'healthy', from: '1.0.0' }]);
    expect(readUpdateState(join(root, 'update-state.json'))).toMatchObject({ last: { version: '1.1.0', outcome: 'healthy' } });
    expect(restarts).toHaveLength(1);
  }, 90_000);
});
