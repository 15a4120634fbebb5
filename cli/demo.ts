/**
 * `npm start`: the simulated facility, one gateway reading it and a hub with its review page, in
 * one process. The facility runs faster than real time (default 60x: a real second is a simulated
 * minute) so a fault shows within a minute; the gateway and hub run on the wall clock, as they
 * would in a plant. The terminal shows alarms, decisions and a summary every 30 s; `--verbose`
 * adds every reading. Needs nothing but Node.js; the Modbus RTU meter runs when socat is installed.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { startFacility, type Facility } from '../devices/facility.js';
import { openPtyPair, type PtyPair } from '../devices/serial/pty-pair.js';
import { loadConfig, type LoadedConfig } from '../edge/config/load.js';
import { builtinDrivers } from '../edge/drivers/builtin.js';
import { startEdgeApp, type EdgeApp } from '../edge/app.js';
import type { DeviceSpec, Reading } from '../edge/drivers/driver.js';
import { Accounts } from '../hub/api/index.js';
import { defaultWebDir } from '../hub/api/plugins/web.js';
import { sqlFor } from '../hub/db/sql.js';
import { generatePassword, loadHubConfig, startHub, upsertUser, type Hub, type HubConfig } from '../hub/index.js';
import { openHubStore } from '../hub/features.js';
import type { HubStore } from '../hub/store/types.js';
import type { Command } from './commands.js';
import { formatCommand, formatDevice, formatEvent, formatReview, formatSummary, formatWorkOrder, type Print } from './demo-terminal.js';
import { formatReading } from './format.js';
import { freeUdpPort } from '../shared/kit/free-udp-port.js';
import { packageRoot } from '../shared/kit/package-info.js';
import { untilSignal } from './shutdown.js';

const DEMO_CONFIG = join(packageRoot(), 'deploy/examples/demo-gateway.yaml');
const DEMO_HUB_CONFIG = join(packageRoot(), 'deploy/examples/demo-hub.yaml');
const DEMO_GATEWAY = { site: 'demo-site', gateway: 'gw-demo-1' } as const;
const DEMO_TECHNICIAN = 'tech';
export const DEMO_PORTS = { modbusTcp: 15020, opcua: 14840, gpio: 15021, control: 15022, bacnet: 47820, bacnetGateway: 47830 } as const;
/** Simulated seconds per real second: one real second is one simulated minute. */
export const DEMO_SPEED = 60;
const SILENT = { event: (): void => undefined, review: (): void => undefined };

export interface DemoOptions {
  /** Simulated seconds per real second. Default DEMO_SPEED (60). */
  readonly speed?: number;
  /** Print every reported reading too. Default false. */
  readonly verbose?: boolean;
  /** Where lines go. Default stdout. */
  readonly out?: Print;
  /** 'demo' (default): the fixed ports the README and the demo configs name; 'ephemeral': any free ones (tests). */
  readonly ports?: 'demo' | 'ephemeral';
  /** Folder for the hub's database and the gateway's state. Default <checkout>/data (as the demo configs say). */
  readonly dataDir?: string;
  /** Run the Modbus RTU meter over a socat pty pair. Default true (left out when socat is missing). */
  readonly meter?: boolean;
  /** Summary line interval. Default 30 s; 0 = none. */
  readonly summaryIntervalMs?: number;
}

export interface Demo {
  readonly speed: number;
  readonly gateway: string;
  readonly controlUrl: string;
  /** The review page and the technician minted for this run. */
  readonly web?: { readonly url: string; readonly user: string; readonly password: string };
  readonly facility: Facility;
  readonly hub: Hub;
  readonly edge: EdgeApp;
  stop(): Promise<void>;
}

/** The hub config of the demo, with this run's ports and data folder. */
function demoHubConfig(options: DemoOptions): HubConfig {
  const config = loadHubConfig(DEMO_HUB_CONFIG);
  const embedded = config.broker.embedded;
  if (!embedded) throw new Error(`${DEMO_HUB_CONFIG}: the demo needs an embedded broker`);
  const ephemeral = options.ports === 'ephemeral';
  const data = options.dataDir === undefined ? undefined : join(options.dataDir, 'demo');
  return {
    ...config,
    broker: { ...config.broker, embedded: { ...embedded, ...(ephemeral ? { port: 0 } : {}), ...(data ? { credentialsFile: join(data, 'broker-users.yaml') } : {}) } },
    store: data && config.store.kind === 'sqlite' ? { ...config.store, path: join(data, 'hub.db') } : config.store,
    ...(config.api && ephemeral ? { api: { ...config.api, port: 0 } } : {}),
  };
}

/**
 * The technician for the review page, written to the store before the web API starts: the API
 * then has a user and does not ask for SWARMGATE_ADMIN_PASSWORD. Its password is new every run.
 */
async function mintTechnician(store: HubStore, config: HubConfig): Promise<string | undefined> {
  if (!config.api) return undefined;
  const accounts = new Accounts(sqlFor(store), { sessionTtlMs: 12 * 3_600_000 });
  const password = generatePassword();
  if (await accounts.getUser(DEMO_TECHNICIAN)) await accounts.updateUser(DEMO_TECHNICIAN, { password, role: 'technician', disabled: false });
  else await accounts.createUser(DEMO_TECHNICIAN, 'technician', password);
  return password;
}

async function meterCable(): Promise<PtyPair | undefined> {
  try {
    return await openPtyPair('/tmp/swarmgate-demo/tty-sim', '/tmp/swarmgate-demo/tty-gateway');
  } catch (err) {
    process.stderr.write(`note: the Modbus RTU energy meter is left out: ${err instanceof Error ? err.message : String(err)}\n`);
    return undefined;
  }
}

/** The demo gateway config, pointed at this run's facility, hub and data folder. */
function demoGatewayConfig(options: DemoOptions, facility: Facility, cable: PtyPair | undefined, mqtt: { url: string; username: string; password: string }, bacnetBind: number): LoadedConfig {
  const full = loadConfig(DEMO_CONFIG, builtinDrivers());
  const e = facility.endpoints;
  const connections: Record<string, Record<string, unknown>> = {
    'modbus-tcp': { host: e.modbusTcp.host, port: e.modbusTcp.port },
    opcua: { endpointUrl: e.opcua.endpointUrl },
    gpio: { chip: { kind: 'sim', host: e.gpio.host, port: e.gpio.port } },
    'bacnet-ip': { bind: `127.0.0.1:${bacnetBind}` },
  };
  // Each BACnet controller is found at this run's address of its device instance.
  const bacnetAddress = (c: Record<string, unknown>): Record<string, unknown> => {
    const address = e.bacnet?.[Number(c.deviceInstance)];
    return address ? { deviceAddress: address } : {};
  };
  const devices: DeviceSpec[] = full.devices
    .filter((d) => cable !== undefined || d.protocol !== 'modbus-rtu')
    .map((d) => {
      const c = d.connection as Record<string, unknown>;
      return { ...d, connection: { ...c, ...connections[d.protocol], ...(d.protocol === 'bacnet-ip' ? bacnetAddress(c) : {}) } };
    });
  const metrics = options.ports === 'ephemeral' ? { ...full.config.metrics, port: 0 } : full.config.metrics;
  // Without the meter, the detector has no meter point to watch.
  const kept = new Set(devices.map((d) => d.id));
  const analytics = full.config.analytics ? { ...full.config.analytics, points: full.config.analytics.points.filter((p) => kept.has(p.point.split('/')[0] ?? '')) } : undefined;
  return {
    ...full,
    devices,
    ...(options.dataDir === undefined ? {} : { dataDir: join(options.dataDir, full.config.gateway.id) }),
    // The demo gateway federates to the demo hub with a password minted for this run.
    config: { ...full.config, federation: { mqtt }, ...(metrics ? { metrics } : {}), ...(analytics ? { analytics } : {}) },
  };
}

/**
 * Devices going down or up and work orders the hub's agents open: neither has a hub event, so
 * they are looked at every 2 s. Returns the stop function.
 */
function watchDecisions(out: Print, hub: Hub, edge: EdgeApp): () => Promise<void> {
  const states = new Map<string, string>();
  // Orders already open when the demo starts (an earlier run's) are in the summary, not printed.
  const orders = new Set<string>();
  let first = true;
  let busy = false;
  const look = async (): Promise<void> => {
    for (const [device, { state }] of Object.entries(edge.gateway.deviceStates())) {
      const was = states.get(device);
      states.set(device, state);
      if (was !== undefined && was !== state && (state === 'up' || state === 'down')) out(formatDevice(device, state));
    }
    for (const w of await hub.workOrders.list({ state: 'open', limit: 1000 })) {
      if (!orders.has(w.id) && !first) out(formatWorkOrder(w));
      orders.add(w.id);
    }
    first = false;
  };
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void look()
      .catch(() => undefined)
      .finally(() => {
        busy = false;
      });
  }, 2_000);
  timer.unref();
  return async () => clearInterval(timer);
}

export async function startDemo(options: DemoOptions = {}): Promise<Demo> {
  const out: Print = options.out ?? ((line) => void process.stdout.write(`${line}\n`));
  const speed = options.speed ?? DEMO_SPEED;
  const ephemeral = options.ports === 'ephemeral';
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.splice(0).reverse()) await stop().catch(() => undefined);
  };
  try {
    const cable = options.meter === false ? undefined : await meterCable();
    if (cable) stops.push(() => cable.close());
    const facility = await startFacility({
      ...(ephemeral ? {} : { modbusTcpPort: DEMO_PORTS.modbusTcp, opcuaPort: DEMO_PORTS.opcua, gpioPort: DEMO_PORTS.gpio, controlPort: DEMO_PORTS.control }),
      ...(cable ? { rtu: { path: cable.simPath, baudRate: 19200, unitIds: [1] } } : {}),
      bacnet: { port: ephemeral ? 0 : DEMO_PORTS.bacnet },
      speed,
    });
    stops.push(() => facility.stop());

    const hubConfig = demoHubConfig(options);
    const credentials = hubConfig.broker.embedded?.credentialsFile ?? '';
    mkdirSync(dirname(credentials), { recursive: true });
    if (hubConfig.store.kind === 'sqlite') mkdirSync(dirname(hubConfig.store.path), { recursive: true });
    const gatewayPassword = generatePassword();
    await upsertUser(credentials, { role: 'gateway', username: DEMO_GATEWAY.gateway, ...DEMO_GATEWAY }, gatewayPassword, { generated: true });
    // The demo opens the store itself so the technician exists before the web API starts.
    const store = await openHubStore(hubConfig.store, { retention: { rawDays: hubConfig.retention.rawDays, rollups: hubConfig.retention.rollups } });
    stops.push(() => store.close());
    const technicianPassword = await mintTechnician(store, hubConfig);
    const hub = await startHub(hubConfig, { store });
    stops.push(() => hub.stop());
    const web = hub.api && technicianPassword ? { url: hub.api.url, user: DEMO_TECHNICIAN, password: technicianPassword } : undefined;
    const mqtt = { url: `mqtt://127.0.0.1:${hub.broker?.port ?? 11883}`, username: DEMO_GATEWAY.gateway, password: gatewayPassword };

    const loaded = demoGatewayConfig(options, facility, cable, mqtt, ephemeral ? await freeUdpPort() : DEMO_PORTS.bacnetGateway);
    const control = facility.endpoints.control.url;
    const controlFlag = control === `http://127.0.0.1:${DEMO_PORTS.control}` ? '' : ` --control ${control}`;
    out(
      [
        `Swarmgate demo: a simulated building, one gateway and a hub. Simulated time runs ${speed}x real time${speed === 60 ? ' (a real second is a simulated minute)' : ''}.`,
        ...(web ? [`  review page: ${web.url}/  log in as "${web.user}" with password "${web.password}" (new every run); API docs: ${web.url}/docs`] : []),
        ...(web && !existsSync(join(defaultWebDir(), 'index.html')) ? ['  note: the review page is not built (run npm run build); the API answers, the page does not'] : []),
        `  try a fault: npx swarmgate sim fault add '{"kind":"compressor-failure"}'${controlFlag}`,
        `    the compressor fails when the thermostat next calls for cooling (within about 40 s at 60x); the controller alarm,`,
        `    the gateway's rule (backup compressor on) and the hub's record of both follow within seconds.`,
        `  simulated time: npx swarmgate sim speed 600${controlFlag}  (faster; 0 freezes it)   npx swarmgate sim step 1800${controlFlag}  (jump 30 min)`,
        `  facility: AHU modbus-tcp://${facility.endpoints.modbusTcp.host}:${facility.endpoints.modbusTcp.port}, cold room ${facility.endpoints.opcua.endpointUrl},`,
        `    GPIO chip ${facility.endpoints.gpio.host}:${facility.endpoints.gpio.port}${cable ? `, energy meter ${cable.gatewayPath} (Modbus RTU)` : ''}; simulator control API ${control}`,
        `  gateway ${loaded.config.gateway.id}: ${DEMO_CONFIG}${ephemeral ? '' : `; metrics http://127.0.0.1:${loaded.config.metrics?.port ?? 9464}/metrics`}`,
        `  hub: MQTT ${mqtt.url}, store ${hub.store.kind} (${DEMO_HUB_CONFIG})`,
        `  below: alarms, actions and decisions as the hub receives them, and a summary every ${Math.round((options.summaryIntervalMs ?? 30_000) / 1000)} s${options.verbose ? '; every reading (--verbose)' : ' (--verbose adds every reading)'}. Ctrl-C stops.`,
        '',
      ].join('\n'),
    );

    // What reaches the hub is what the page shows: print it from there.
    const printedStates = new Map<string, string>();
    const offs = [
      hub.events.on('event', ({ gateway, event }) => out(formatEvent(gateway, event))),
      hub.events.on('command', ({ record }) => out(formatCommand(record))),
      // One line per state an item reaches (a join or a learning note changes an item, not its state).
      hub.review.onChange((item) => {
        if (printedStates.get(item.id) === item.state) return;
        printedStates.set(item.id, item.state);
        out(formatReview(item));
      }),
    ];
    stops.push(async () => offs.forEach((off) => off()));

    const units = new Map(loaded.devices.flatMap((d) => d.points.map((p) => [`${d.id}/${p.name}`, p.unit] as const)));
    let reported = 0;
    const onReport = (r: Reading): void => {
      reported += 1;
      if (options.verbose) out(formatReading(r, units.get(`${r.device}/${r.point}`)));
    };
    // Events go to the hub (and are printed from there), not to the log as JSON lines.
    const edge = await startEdgeApp(loaded, builtinDrivers(), { onReport, reporter: SILENT });
    stops.push(() => edge.stop());

    stops.push(watchDecisions(out, hub, edge));

    const every = options.summaryIntervalMs ?? 30_000;
    if (every > 0) {
      let since = Date.now();
      let busy = false;
      const timer = setInterval(() => {
        if (busy) return;
        busy = true;
        const now = Date.now();
        const readingsPerS = (reported * 1000) / Math.max(1, now - since);
        reported = 0;
        since = now;
        const states = Object.values(edge.gateway.deviceStates());
        const cold = edge.gateway.latest('coldroom', 'temperature');
        void Promise.all([hub.review.list({ state: 'pending', limit: 1000, evidence: false }), hub.workOrders.list({ state: 'open', limit: 1000 })])
          .then(([reviews, orders]) =>
            out(
              formatSummary({
                readingsPerS,
                devicesUp: states.filter((s) => s.state === 'up').length,
                devices: states.length,
                simTime: facility.model.now(),
                speed: facility.speed,
                ...(typeof cold?.value === 'number' && cold.quality !== 'bad' ? { coldRoomC: cold.value } : {}),
                openReviews: reviews.length,
                openWorkOrders: orders.length,
              }),
            ),
          )
          .catch(() => undefined)
          .finally(() => {
            busy = false;
          });
      }, every);
      timer.unref();
      stops.push(async () => clearInterval(timer));
    }

    return { speed, gateway: DEMO_GATEWAY.gateway, controlUrl: control, ...(web ? { web } : {}), facility, hub, edge, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

const HELP = `usage: swarmgate demo [--speed N] [--verbose]
  --speed N    simulated seconds per real second (default ${DEMO_SPEED}: a real second is a simulated minute; 1 = real time)
  --verbose    also print every reported reading (alias --print)
`;

export const demoCommand: Pick<Command, 'run'> = {
  async run(args) {
    const { values } = parseArgs({ args, options: { speed: { type: 'string' }, verbose: { type: 'boolean' }, print: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
    if (values.help) {
      process.stdout.write(HELP);
      return 0;
    }
    const speed = values.speed === undefined ? DEMO_SPEED : Number(values.speed);
    if (!Number.isFinite(speed) || speed < 0 || speed > 100_000) {
      process.stderr.write(`--speed: expected simulated seconds per real second in 0..100000, got ${JSON.stringify(values.speed)}\n${HELP}`);
      return 2;
    }
    const demo = await startDemo({ speed, verbose: values.verbose === true || values.print === true });
    await untilSignal(() => demo.stop());
    return 0;
  },
};
