/**
 * A test gateway process, started from a test release's entry (<installRoot>/current/bin/swarmgate.js):
 * the real federation (outbox, publisher) and the real updater, around a stand-in gateway whose one
 * device is up or down as the release's health.json says. Exit 75 asks the supervisor (the test, as
 * systemd's Restart= would) to start `current` again.
 * Input: SWG_TEST_GATEWAY = { site, gateway, url, username, password, installRoot, releaseKeyFile, dataDir }.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { startFederation, type FederationGateway } from '../../../edge/federation/index.js';
import { gatewayProbe, startUpdater, updateSettings } from '../../../edge/update/index.js';
import { createLogger } from '../../../shared/kit/log.js';

interface Input {
  site: string;
  gateway: string;
  url: string;
  username: string;
  password: string;
  installRoot: string;
  releaseKeyFile: string;
  dataDir: string;
}

const input = JSON.parse(process.env.SWG_TEST_GATEWAY ?? '{}') as Input;
const appDir = dirname(dirname(process.argv[1] ?? ''));
const version = (JSON.parse(readFileSync(join(appDir, 'package.json'), 'utf8')) as { version: string }).version;
const devicesUp = (JSON.parse(readFileSync(join(appDir, 'health.json'), 'utf8')) as { devicesUp: boolean }).devicesUp;
const log = createLogger(`gw:${input.gateway}`);
const states = { dev1: { state: devicesUp ? ('up' as const) : ('down' as const) } };
const gateway: FederationGateway = {
  id: input.gateway,
  site: input.site,
  onReport: () => () => undefined,
  write: async () => undefined,
  deviceStates: () => states,
};
const federation = await startFederation({
  gateway,
  config: { mqtt: { url: input.url, username: input.username, password: input.password, reconnectPeriodMs: 200 }, outbox: { flushMs: 20 }, stateIntervalS: 0 },
  dataDir: input.dataDir,
  version,
  log: log.child({ part: 'federation' }),
});
let stopping = false;
const stop = async (code: number): Promise<void> => {
  if (stopping) return;
  stopping = true;
  await updater.stop();
  await federation.stop();
  process.exit(code);
};
const updater = startUpdater({
  site: input.site,
  gateway: input.gateway,
  federation,
  settings: updateSettings({ installRoot: input.installRoot, releaseKeyFile: input.releaseKeyFile, healthDeadlineSec: 10, healthyForSec: 1 }),
  probe: gatewayProbe({ federation, deviceStates: () => states }),
  restart: (reason) => {
    process.stdout.write(`restart ${reason}\n`);
    void stop(75);
  },
  log: log.child({ part: 'update' }),
  tuning: { healthIntervalMs: 200 },
});
process.on('SIGTERM', () => void stop(0));
process.stdout.write(`running ${version}\n`);
