/**
 * The BACnet part of the simulated building: VAV-1 (1001), VAV-2 (1002) and CHW-PLANT (2001),
 * each a BACnet/IP device on its own UDP port (several devices share one machine by port), driven
 * by HvacPlant on the facility's clock. The controllers' own outputs are written at priority 16,
 * so a command at a higher priority wins and its relinquish hands control back.
 */
import { createLogger } from '../../shared/kit/log.js';
import { DEFAULT_HOST, resolveContext, type SimContextOptions } from '../context.js';
import type { FaultRegistry } from '../faults/registry.js';
import { HvacPlant, HVAC_DEFAULTS, type CommandArbiter, type HvacCommandKey } from '../physics/hvac-plant.js';
import type { FacilityModel } from '../physics/model.js';
import { buildingDevices } from './building-map.js';
import { BacnetDeviceServer } from './device-server.js';
import type { BacnetPoint } from './objects.js';

const log = createLogger('sim-bacnet');

/** The priority the controllers' own logic writes at. */
export const CONTROLLER_PRIORITY = 16;

export interface BacnetBuildingOptions extends SimContextOptions {
  readonly host?: string;
  /** First device's UDP port; the others follow (port+1, port+2). 0 or omitted: a free port each. */
  readonly port?: number;
  /** Where broadcasts are received and I-Am is broadcast. Default 127.255.255.255 on a 127.x host, else none. */
  readonly broadcastAddress?: string;
  /** Destination port of I-Am broadcasts. Default: each device's own port. */
  readonly broadcastPort?: number;
}

export interface BacnetBuilding {
  /** Device instance -> "host:port". */
  readonly endpoints: Readonly<Record<number, string>>;
  readonly devices: readonly BacnetDeviceServer[];
  readonly plant: HvacPlant;
  readonly model: FacilityModel;
  readonly faults: FaultRegistry;
  /** Device instance -> its objects (for assertions). */
  points(instance: number): readonly BacnetPoint[];
  stop(): Promise<void>;
}

export async function startBacnetBuilding(options: BacnetBuildingOptions = {}): Promise<BacnetBuilding> {
  const ctx = resolveContext(options);
  const { model, faults } = ctx;
  const host = options.host ?? DEFAULT_HOST;
  const broadcastAddress = options.broadcastAddress ?? (host.startsWith('127.') ? '127.255.255.255' : undefined);
  const plant = new HvacPlant({ seed: model.seed, startTime: model.now(), outdoorC: model.outdoorC });
  const definitions = buildingDevices(plant, model);

  const byKey = new Map<HvacCommandKey, BacnetPoint>();
  for (const d of definitions) for (const [k, p] of Object.entries(d.commands)) byKey.set(k as HvacCommandKey, p);
  const arbiter: CommandArbiter = {
    resolve(key, auto) {
      const point = byKey.get(key);
      if (!point) return auto ?? HVAC_DEFAULTS[key];
      if (auto !== undefined) point.command(CONTROLLER_PRIORITY, point.analog ? auto : auto !== 0 ? 1 : 0);
      return point.presentValue();
    },
  };
  plant.setArbiter(arbiter);
  const env = () => ({ outdoorC: model.outdoorC, occupied: model.occupied });
  plant.settle(env());

  const servers: BacnetDeviceServer[] = [];
  const cleanups: Array<() => void> = [];
  const stop = async (): Promise<void> => {
    for (const c of cleanups.splice(0)) c();
    for (const s of servers) await s.stop();
    ctx.release();
  };

  try {
    for (const [i, d] of definitions.entries()) {
      const server = new BacnetDeviceServer({
        identity: d.identity,
        points: d.points,
        host,
        port: options.port ? options.port + i : 0,
        broadcastAddress,
        broadcastPort: options.broadcastPort,
        faults,
      });
      servers.push(server);
      await server.start();
    }
  } catch (err) {
    await stop();
    throw err;
  }

  cleanups.push(
    model.onTick(() => {
      plant.advanceTo(model.now(), env());
      for (const s of servers) s.scanCov();
    }),
  );
  cleanups.push(
    faults.onChange((event, fault) => {
      if (event !== 'inject' || fault.kind !== 'bacnet-restart') return;
      const targets = servers.filter((s) => fault.device === undefined || fault.device === s.instance);
      void Promise.all(targets.map((s) => s.restart(fault.downMs ?? 500)))
        .catch((err: unknown) => log.error({ err }, 'bacnet-restart failed'))
        .finally(() => {
          // One-shot: it disappears from the fault list when done.
          if (faults.list().some((f) => f.id === fault.id)) faults.clear(fault.id);
        });
    }),
  );

  const endpoints: Record<number, string> = {};
  for (const s of servers) endpoints[s.instance] = s.endpoint;
  log.info({ endpoints }, 'BACnet building running');
  return {
    endpoints,
    devices: servers,
    plant,
    model,
    faults,
    points: (instance) => definitions.find((d) => d.identity.instance === instance)?.points ?? [],
    stop,
  };
}
