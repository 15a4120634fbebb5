/**
 * `npm start`: the simulated facility and one gateway reading it, printing what it reads.
 * Needs nothing but Node.js; the Modbus RTU meter runs when socat is installed.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { startFacility } from '../devices/facility.js';
import { openPtyPair, type PtyPair } from '../devices/serial/pty-pair.js';
import { loadConfig, type LoadedConfig } from '../edge/config/load.js';
import { builtinDrivers } from '../edge/drivers/builtin.js';
import { startEdgeApp } from '../edge/app.js';
import type { Reading } from '../edge/drivers/driver.js';
import { Accounts } from '../hub/api/index.js';
import { sqlFor } from '../hub/api/db.js';
import { generatePassword, loadHubConfig, startHub, upsertUser, type Hub } from '../hub/index.js';
import type { Command } from './commands.js';
import { formatReading } from './format.js';
import { packageRoot } from '../shared/package-info.js';
import { untilSignal } from './shutdown.js';

const DEMO_CONFIG = join(packageRoot(), 'deploy/examples/demo-gateway.yaml');
const DEMO_HUB_CONFIG = join(packageRoot(), 'deploy/examples/demo-hub.yaml');
const DEMO_GATEWAY = { site: 'demo-site', gateway: 'gw-demo-1' } as const;

interface DemoHub {
  readonly hub: Hub;
  readonly url: string;
  readonly gatewayUser: string;
  readonly gatewayPassword: string;
  /** The review page and the demo technician minted for this run. */
  readonly web?: { readonly url: string; readonly user: string; readonly password: string };
}

const DEMO_TECHNICIAN = 'tech';

/** A technician account for the review page; its password is new every run, like the gateway's. */
async function demoTechnician(hub: Hub): Promise<DemoHub['web']> {
  if (!hub.api) return undefined;
  const accounts = new Accounts(sqlFor(hub.store), { sessionTtlMs: 12 * 3_600_000 });
  const password = generatePassword();
  if (await accounts.getUser(DEMO_TECHNICIAN)) await accounts.updateUser(DEMO_TECHNICIAN, { password, role: 'technician', disabled: false });
  else await accounts.createUser(DEMO_TECHNICIAN, 'technician', password);
  return { url: hub.api.url, user: DEMO_TECHNICIAN, password };
}

/** The hub with its embedded broker; the demo gateway's broker password is rotated every run. */
async function startDemoHub(): Promise<DemoHub> {
  const config = loadHubConfig(DEMO_HUB_CONFIG);
  const credentials = config.broker.embedded?.credentialsFile;
  if (!credentials) throw new Error(`${DEMO_HUB_CONFIG}: the demo needs an embedded broker`);
  mkdirSync(dirname(credentials), { recursive: true });
  const gatewayPassword = generatePassword();
  await upsertUser(credentials, { role: 'gateway', username: DEMO_GATEWAY.gateway, ...DEMO_GATEWAY }, gatewayPassword);
  const hub = await startHub(config);
  const port = hub.broker?.port ?? 11883;
  const web = await demoTechnician(hub);
  return { hub, url: `mqtt://127.0.0.1:${port}`, gatewayUser: DEMO_GATEWAY.gateway, gatewayPassword, ...(web ? { web } : {}) };
}
export const DEMO_PORTS = { modbusTcp: 15020, opcua: 14840, gpio: 15021, control: 15022 } as const;

async function meterCable(): Promise<PtyPair | undefined> {
  try {
    return await openPtyPair('/tmp/swarmgate-demo/tty-sim', '/tmp/swarmgate-demo/tty-gateway');
  } catch (err) {
    process.stderr.write(`note: the Modbus RTU energy meter is left out: ${err instanceof Error ? err.message : String(err)}\n`);
    return undefined;
  }
}

export const demoCommand: Pick<Command, 'run'> = {
  async run() {
    const cable = await meterCable();
    const facility = await startFacility({
      modbusTcpPort: DEMO_PORTS.modbusTcp,
      opcuaPort: DEMO_PORTS.opcua,
      gpioPort: DEMO_PORTS.gpio,
      controlPort: DEMO_PORTS.control,
      ...(cable ? { rtu: { path: cable.simPath, baudRate: 19200, unitIds: [1] } } : {}),
      speed: 1,
    });
    const hub = await startDemoHub();
    const full = loadConfig(DEMO_CONFIG, builtinDrivers());
    const devices = cable ? full.devices : full.devices.filter((d) => d.protocol !== 'modbus-rtu');
    // The demo gateway federates to the demo hub with a password minted for this run.
    const federation = { mqtt: { url: hub.url, username: hub.gatewayUser, password: hub.gatewayPassword } };
    const loaded: LoadedConfig = { ...full, devices, config: { ...full.config, federation } };
    const units = new Map(loaded.devices.flatMap((d) => d.points.map((p) => [`${d.id}/${p.name}`, p.unit] as const)));
    const print = (r: Reading): void => void process.stdout.write(`${formatReading(r, units.get(`${r.device}/${r.point}`))}\n`);
    process.stdout.write(
      [
        'Swarmgate demo',
        `  simulated facility: AHU on modbus-tcp://127.0.0.1:${DEMO_PORTS.modbusTcp}, cold room on ${facility.endpoints.opcua.endpointUrl},`,
        `    GPIO chip on 127.0.0.1:${DEMO_PORTS.gpio}${cable ? `, energy meter on ${cable.gatewayPath} (Modbus RTU)` : ''}`,
        `  inject a fault:  curl -X POST ${facility.endpoints.control.url}/faults -d '{"kind":"compressor-failure"}'`,
        `  gateway ${loaded.config.gateway.id} config: ${DEMO_CONFIG}`,
        `  gateway metrics: http://127.0.0.1:${loaded.config.metrics?.port ?? 9464}/metrics`,
        `  hub: MQTT on ${hub.url} (store ${hub.hub.store.kind}, ${DEMO_HUB_CONFIG})`,
        ...(hub.web
          ? [`  review page: ${hub.web.url}/  log in as "${hub.web.user}" with password "${hub.web.password}" (new every run); API docs: ${hub.web.url}/docs`]
          : []),
        '  readings (report-by-exception) follow; Ctrl-C stops.',
        '',
      ].join('\n'),
    );
    const app = await startEdgeApp(loaded, builtinDrivers(), { onReport: print });
    await untilSignal(async () => {
      await app.stop();
      await hub.hub.stop();
      await facility.stop();
      await cable?.close();
    });
    return 0;
  },
};
