/**
 * A Gateway running against the simulated facility (AHU over Modbus TCP, cold room over OPC UA,
 * facility GPIO), with the local decision sections given as YAML — for the rules, advisor and
 * anomaly monitor tests.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { GatewayEvent } from '../../../shared/wire/messages.js';
import { startFacility, type Facility, type FacilityOptions } from '../../../devices/facility.js';
import { loadConfig, type LoadedConfig } from '../../../edge/config/load.js';
import { builtinDrivers } from '../../../edge/drivers/builtin.js';
import { MemoryReporter, RuleEngine, createInterlockGuard, type RulesConfig } from '../../../edge/decisions/rules/index.js';
import { Gateway } from '../../../edge/runtime/gateway.js';
import { GatewayMetrics } from '../../../edge/runtime/metrics.js';
import { tempDir } from '../../support/tmp.js';

export const PROFILES = fileURLToPath(new URL('../../../devices/profiles/', import.meta.url));
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitFor(what: string, predicate: () => boolean, timeoutMs = 10_000, stepMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}

export interface SimGateway {
  readonly facility: Facility;
  readonly gateway: Gateway;
  readonly loaded: LoadedConfig;
  readonly dir: string;
  stop(): Promise<void>;
}

/** Devices section of a gateway config against a running facility. */
export function devicesYaml(facility: Facility, pollMs: number): string {
  return `devices:
  - id: ahu1
    protocol: modbus-tcp
    profile: ${PROFILES}ahu-modbus.yaml
    connection: { host: 127.0.0.1, port: ${facility.endpoints.modbusTcp.port}, timeoutMs: 300, retries: 0, backoffMs: 50 }
  - id: coldroom
    protocol: opcua
    profile: ${PROFILES}cold-room-opcua.yaml
    connection: { endpointUrl: "${facility.endpoints.opcua.endpointUrl}", publishingIntervalMs: ${pollMs} }
  - id: io
    protocol: gpio
    profile: ${PROFILES}facility-gpio.yaml
    connection: { chip: { kind: sim, host: 127.0.0.1, port: ${facility.endpoints.gpio.port} } }
    pollIntervalMs: ${pollMs}
`;
}

/** Starts the facility and a gateway (with the interlock guard of `sections`) and waits for good readings. */
export async function startSimGateway(sections = '', options: { facility?: FacilityOptions; pollMs?: number; dataDir?: string } = {}): Promise<SimGateway> {
  const dir = tempDir('swarmgate-local-');
  const facility = await startFacility({ seed: 5, ...options.facility, dataDir: join(dir.path, 'sim') });
  try {
    const pollMs = options.pollMs ?? 200;
    const file = join(dir.path, 'gateway.yaml');
    writeFileSync(file, `gateway: { id: gw-local, site: test }
dataDir: ${options.dataDir ?? join(dir.path, 'gw')}
polling: { defaultIntervalMs: ${pollMs}, heartbeatMs: 1000 }
${devicesYaml(facility, pollMs)}${sections}`);
    const registry = builtinDrivers();
    const loaded = loadConfig(file, registry);
    const guard = createInterlockGuard(loaded);
    const gateway = new Gateway({ loaded, registry, metrics: new GatewayMetrics(false), guards: guard ? [guard] : [] });
    await gateway.start();
    const good = (d: string, p: string): boolean => gateway.latest(d, p)?.quality === 'good';
    await waitFor('good readings from every device', () => good('ahu1', 'supply_air_temp') && good('coldroom', 'temperature') && good('io', 'door_contact'), 20_000);
    return {
      facility,
      gateway,
      loaded,
      dir: dir.path,
      async stop() {
        await gateway.stop(true);
        await facility.stop();
        dir.remove();
      },
    };
  } catch (err) {
    await facility.stop();
    dir.remove();
    throw err;
  }
}

/** Exact control of a frozen facility (speed 0): each change is pushed and read back by the gateway. */
export function controls(sim: SimGateway): { setTemperature(c: number): Promise<void>; setDoor(open: boolean): Promise<void>; reset(): Promise<void> } {
  const model = sim.facility.model;
  const setTemperature = async (c: number): Promise<void> => {
    model.coldRoom.temperatureC = c;
    model.step(0);
    await waitFor(`coldroom/temperature = ${c}`, () => sim.gateway.latest('coldroom', 'temperature')?.value === c);
    await sleep(150);
  };
  const setDoor = async (open: boolean): Promise<void> => {
    model.setDoorOverride(open);
    model.step(0);
    await waitFor(`door ${open ? 'open' : 'closed'}`, () => sim.gateway.latest('io', 'door_contact')?.value === !open && sim.gateway.latest('coldroom', 'door_open')?.value === open);
  };
  return {
    setTemperature,
    setDoor,
    async reset() {
      await setDoor(false);
      await setTemperature(-18);
      await sim.gateway.write('io', 'backup_compressor_relay', false, 'test');
      await sim.gateway.write('ahu1', 'fan_command', false, 'test');
    },
  };
}

export interface RuleSuite {
  readonly sim: SimGateway;
  readonly engine: RuleEngine | undefined;
  readonly reporter: MemoryReporter;
  model(): Facility['model'];
  /** Starts this test's engine (evaluating every 100 ms unless `config` says otherwise). */
  start(config: RulesConfig, options?: { historyFile?: string; reassert?: { settleMs?: number; max?: number }; now?: () => number; elapsed?: () => number }): RuleEngine;
  stopEngine(): Promise<void>;
  /** local-action events reported so far by this test's engine. */
  actions(): GatewayEvent[];
  setTemperature(c: number): Promise<void>;
  setDoor(open: boolean): Promise<void>;
  reset(): Promise<void>;
}

/**
 * Hooks (call inside a describe) for rule tests on one frozen facility shared by the suite, with
 * the local decision sections given as YAML; each test's engine is stopped after it.
 */
export function ruleSuite(sections = ''): RuleSuite {
  let sim: SimGateway | undefined;
  let engine: RuleEngine | undefined;
  let reporter = new MemoryReporter();
  const started = (): SimGateway => {
    if (!sim) throw new Error('the simulated gateway is not running (call ruleSuite inside a describe)');
    return sim;
  };
  const stopEngine = async (): Promise<void> => {
    await engine?.stop();
    engine = undefined;
  };
  beforeAll(async () => {
    sim = await startSimGateway(sections, { facility: { speed: 0 }, pollMs: 100 });
  });
  afterAll(async () => {
    await sim?.stop();
  });
  afterEach(stopEngine);
  return {
    get sim() {
      return started();
    },
    get engine() {
      return engine;
    },
    get reporter() {
      return reporter;
    },
    model: () => started().facility.model,
    start(config, options = {}) {
      reporter = new MemoryReporter();
      engine = new RuleEngine({ gateway: started().gateway, config: { evaluateEveryMs: 100, ...config }, reporter, ...options });
      engine.start();
      return engine;
    },
    stopEngine,
    actions: () => reporter.events.filter((e) => e.kind === 'local-action'),
    setTemperature: (c) => controls(started()).setTemperature(c),
    setDoor: (open) => controls(started()).setDoor(open),
    reset: () => controls(started()).reset(),
  };
}
