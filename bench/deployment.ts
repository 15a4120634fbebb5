/**
 * Deployment benchmark: the time a canary-then-all deployment of a release to 100 gateways takes on
 * this machine, end to end through a real hub (embedded broker, API serving the artifact, releases)
 * and 100 real updaters, each with its own federation (outbox, MQTT link) and install root. A
 * gateway "restart" stops its updater and federation and starts them again in this process (the
 * new updater finds the pending update and runs the health gate, healthyForSec 1).
 *
 *   npx tsx bench/deployment.ts [gateways]
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFederation, type Federation, type FederationGateway } from '../edge/federation/index.js';
import { gatewayProbe, startUpdater, updateSettings, type Updater } from '../edge/update/index.js';
import type { Hub } from '../hub/index.js';
import { createLogger } from '../shared/kit/log.js';
import { addGatewayUser, credentialsFile } from '../test/e2e/support/hub.js';
import { bootstrapInstall, buildTestRelease, makeKeys, startReleaseHub, storeRelease, until } from '../test/release/support/releases.js';
import { tempDir } from '../test/support/tmp.js';
import { progress, type BenchEntry } from './results.js';

const SITE = 'bench';
// The hub and gateways log warnings only (set SWARMGATE_LOG_LEVEL to see more).
process.env.SWARMGATE_LOG_LEVEL ??= 'warn';
const quiet = createLogger('bench-deploy', 'warn');

interface Node {
  federation?: Federation;
  updater?: Updater;
  restarts: number;
}

export async function benchDeployment(count = 100): Promise<BenchEntry[]> {
  const dir = tempDir('swg-bench-deploy-');
  let hub: Hub | undefined;
  const nodes: Node[] = [];
  try {
    const keys = makeKeys(join(dir.path, 'keys'));
    const v1 = await buildTestRelease(dir.path, keys, '1.0.0');
    const v2 = await buildTestRelease(dir.path, keys, '2.0.0', { padFiles: 50, padBytes: 1024 * 1024 });
    hub = await startReleaseHub(dir.path, keys);
    await storeRelease(hub, v2);
    const url = hub.broker?.url ?? '';
    const states = { dev1: { state: 'up' as const } };

    const start = async (i: number, node: Node, auth: { username: string; password: string }): Promise<void> => {
      const id = `gw-${String(i).padStart(3, '0')}`;
      const gateway: FederationGateway = { id, site: SITE, onReport: () => () => undefined, write: async () => undefined, deviceStates: () => states };
      const federation = await startFederation({
        gateway,
        config: { mqtt: { url, ...auth, reconnectPeriodMs: 500 }, outbox: { flushMs: 50 }, stateIntervalS: 0 },
        dataDir: join(dir.path, `data-${id}`),
        version: '1',
        log: quiet,
      });
      node.federation = federation;
      node.updater = startUpdater({
        site: SITE,
        gateway: id,
        federation,
        settings: updateSettings({ installRoot: join(dir.path, `root-${id}`), releaseKeyFile: keys.publicFile, healthDeadlineSec: 120, healthyForSec: 1 }),
        probe: gatewayProbe({ federation, deviceStates: () => states }),
        restart: () =>
          setImmediate(() => {
            node.restarts++;
            void (async () => {
              await node.updater?.stop();
              await node.federation?.stop();
              await start(i, node, auth);
            })();
          }),
        log: quiet,
        tuning: { healthIntervalMs: 250 },
      });
    };

    progress(`deployment: starting ${count} gateways`);
    for (let i = 0; i < count; i++) {
      const id = `gw-${String(i).padStart(3, '0')}`;
      bootstrapInstall(join(dir.path, `root-${id}`), v1);
      const auth = await addGatewayUser(credentialsFile(dir.path), SITE, id);
      const node: Node = { restarts: 0 };
      nodes.push(node);
      await start(i, node, auth);
    }
    const h = hub;
    await until('gateways online', async () => ((await h.registry.list()).filter((g) => g.status === 'online').length === count ? true : undefined), 120_000);

    progress('deployment: canary 5 %, then the rest');
    const started = Date.now();
    const created = await h.releases?.deployments.create({ version: '2.0.0', target: { site: SITE }, canaryPercent: 5, user: 'bench' });
    if (!created) throw new Error('hub without releases');
    let canaryMs = 0;
    const done = await until(
      'deployment done',
      async () => {
        const d = await h.releases?.deployments.get(created.id);
        if (d && !canaryMs && d.state !== 'canary') canaryMs = Date.now() - started;
        return d && (d.state === 'done' || d.state === 'halted') ? d : undefined;
      },
      600_000,
    );
    const totalMs = Date.now() - started;
    const healthy = done.counts.healthy ?? 0;
    const note = `${count} gateways, ${(v2.manifest.artifact.size / 1024 / 1024).toFixed(1)} MiB release, canary ${created.canary}, healthyForSec 1; ${healthy} healthy, state ${done.state}`;
    return [
      { name: `deployment_${count}_gateways_total`, value: Number((totalMs / 1000).toFixed(1)), unit: 's', notes: note },
      { name: `deployment_${count}_gateways_canary_wave`, value: Number((canaryMs / 1000).toFixed(1)), unit: 's', notes: 'until the canary wave was healthy and the rest were told' },
    ];
  } finally {
    for (const n of nodes) {
      await n.updater?.stop().catch(() => undefined);
      await n.federation?.stop().catch(() => undefined);
    }
    await hub?.stop();
    dir.remove();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const n = Number(process.argv[2] ?? 100);
  benchDeployment(n).then(
    (entries) => {
      for (const e of entries) process.stdout.write(`${e.name}: ${e.value} ${e.unit} (${e.notes ?? ''})\n`);
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
