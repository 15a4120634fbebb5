/**
 * The whole simulated building: one physics model and fault registry shared by the AHU (Modbus
 * TCP), the meter bus (Modbus RTU, optional), the cold room (OPC UA), the GPIO chip and the HTTP
 * control API.
 */
import { createLogger } from '../shared/kit/log.js';
import { wirePhysicalFaults, DEFAULT_HOST } from './context.js';
import { startControlApi, type ControlApi } from './faults/control-api.js';
import { FaultRegistry } from './faults/registry.js';
import type { ActiveFault, FaultSpec } from './faults/types.js';
import { startBacnetBuilding, type BacnetBuilding } from './bacnet/building.js';
import { startGpioChipServer, type GpioChipServer } from './gpio/chip-server.js';
import { startAhuServer, type AhuServer } from './modbus/ahu-server.js';
import { startMeterBus, type MeterBus } from './modbus/meter-bus.js';
import { startColdRoomServer, type ColdRoomServer } from './opcua/cold-room-server.js';
import { FacilityModel, type FacilitySnapshot } from './physics/model.js';
import { driveRealtime } from './physics/realtime.js';

export { startAhuServer } from './modbus/ahu-server.js';
export { startMeterBus } from './modbus/meter-bus.js';
export { startColdRoomServer } from './opcua/cold-room-server.js';
export { startGpioChipServer } from './gpio/chip-server.js';
export { startBacnetBuilding } from './bacnet/building.js';
export { FacilityModel } from './physics/model.js';
export { FaultRegistry } from './faults/registry.js';
export type { FaultSpec, ActiveFault } from './faults/types.js';

const log = createLogger('sim-facility');

export interface FacilityOptions {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** 0 (default) = ephemeral, for every port below. */
  readonly modbusTcpPort?: number;
  readonly opcuaPort?: number;
  readonly gpioPort?: number;
  readonly controlPort?: number;
  /** Meter bus on a serial device; omit for no RTU. */
  readonly rtu?: { readonly path: string; readonly baudRate?: number; readonly unitIds?: readonly number[] };
  /** Simulated seconds per real second. Default 1; 0 = frozen (advance with model.step()). */
  readonly speed?: number;
  readonly seed?: number;
  /**
   * Sim clock start, ms epoch. Default: now (so sim time tracks the wall clock at speed 1); a
   * frozen facility (speed 0) starts at the model's fixed start instead, so hand-stepped runs do not
   * depend on the hour they run at (as devices/context.ts does for a server started alone).
   */
  readonly startTime?: number;
  /** Word order of the meters' uint32 energy counters. Default 'little'. */
  readonly energyWordOrder?: 'big' | 'little';
  /** Folder for simulator state (OPC UA server PKI under <dataDir>/pki/opcua-server). Default:
   *  <os tmpdir>/swarmgate-sim, shared between runs so the server certificate is generated once. */
  readonly dataDir?: string;
  /**
   * BACnet/IP controllers (VAV-1 1001, VAV-2 1002, CHW-PLANT 2001), one UDP port each; omit for
   * none. port: the first device's port, the others follow (0 = a free port each).
   */
  readonly bacnet?: { readonly port?: number; readonly broadcastAddress?: string; readonly broadcastPort?: number };
}

export interface FacilityEndpoints {
  readonly modbusTcp: { readonly host: string; readonly port: number };
  readonly opcua: { readonly endpointUrl: string };
  readonly gpio: { readonly host: string; readonly port: number };
  readonly control: { readonly url: string };
  readonly rtu?: { readonly path: string; readonly unitIds: readonly number[] };
  /** BACnet device instance -> "host:port" (only with the bacnet option). */
  readonly bacnet?: Readonly<Record<number, string>>;
}

export interface Facility {
  readonly endpoints: FacilityEndpoints;
  /** The physics (read state for assertions, step() to advance, set*() to actuate directly). */
  readonly model: FacilityModel;
  readonly faults: {
    /** Validates and activates a fault; returns its id. Throws SWG_ERR_SIM_FAULT_INVALID. */
    inject(fault: FaultSpec): string;
    /** Clears one fault, or all without id. */
    clear(id?: string): void;
    list(): ActiveFault[];
  };
  /** The BACnet building (only with the bacnet option). */
  readonly bacnet?: BacnetBuilding;
  /** The fault registry itself (for onChange and sensor queries). */
  readonly faultRegistry: FaultRegistry;
  snapshot(): FacilitySnapshot;
  /** Simulated seconds per real second now. */
  readonly speed: number;
  /** Change the sim speed at run time. */
  setSpeed(speed: number): void;
  stop(): Promise<void>;
}

export async function startFacility(options: FacilityOptions = {}): Promise<Facility> {
  const host = options.host ?? DEFAULT_HOST;
  const speed = options.speed ?? 1;
  const model = new FacilityModel({ seed: options.seed, startTime: options.startTime ?? (speed === 0 ? undefined : Date.now()) });
  const faults = new FaultRegistry({ now: () => model.now(), seed: options.seed });
  const unwire = wirePhysicalFaults(faults, model);
  const clock = driveRealtime(model, { speed });
  const shared = { model, faults, host };
  const stops: Array<() => Promise<void>> = [];

  const stopAll = async (): Promise<void> => {
    clock.stop();
    unwire();
    // Reverse start order; keep going if one fails so nothing is left open.
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => log.warn({ err }, 'stop failed'));
    stops.length = 0;
  };

  try {
    const ahu: AhuServer = await startAhuServer({ ...shared, port: options.modbusTcpPort ?? 0 });
    stops.push(() => ahu.stop());
    const gpio: GpioChipServer = await startGpioChipServer({ ...shared, port: options.gpioPort ?? 0 });
    stops.push(() => gpio.stop());
    const opcua: ColdRoomServer = await startColdRoomServer({ ...shared, port: options.opcuaPort ?? 0, dataDir: options.dataDir });
    stops.push(() => opcua.stop());
    let rtu: MeterBus | undefined;
    if (options.rtu) {
      rtu = await startMeterBus({ ...shared, path: options.rtu.path, baudRate: options.rtu.baudRate, unitIds: options.rtu.unitIds, energyWordOrder: options.energyWordOrder });
      const bus = rtu;
      stops.push(() => bus.stop());
    }
    let bacnet: BacnetBuilding | undefined;
    if (options.bacnet) {
      bacnet = await startBacnetBuilding({ ...shared, port: options.bacnet.port ?? 0, broadcastAddress: options.bacnet.broadcastAddress, broadcastPort: options.bacnet.broadcastPort });
      const building = bacnet;
      stops.push(() => building.stop());
    }
    const control: ControlApi = await startControlApi({ ...shared, clock, port: options.controlPort ?? 0 });
    stops.push(() => control.stop());

    const endpoints: FacilityEndpoints = {
      modbusTcp: { host: ahu.host, port: ahu.port },
      opcua: { endpointUrl: opcua.endpointUrl },
      gpio: { host: gpio.host, port: gpio.port },
      control: { url: control.url },
      ...(rtu ? { rtu: { path: rtu.path, unitIds: rtu.unitIds } } : {}),
      ...(bacnet ? { bacnet: bacnet.endpoints } : {}),
    };
    log.info({ endpoints }, 'simulated facility running');
    return {
      endpoints,
      model,
      faults: { inject: (f) => faults.inject(f), clear: (id) => faults.clear(id), list: () => faults.list() },
      faultRegistry: faults,
      ...(bacnet ? { bacnet } : {}),
      snapshot: () => model.snapshot(),
      get speed() {
        return clock.speed;
      },
      setSpeed: (s) => clock.setSpeed(s),
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
