/**
 * The OPC UA driver against the cold-room simulator (devices/opcua): the driver contract, and
 * recovery from the simulator's 'opcua-restart' fault.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../shared/kit/log.js';
import type { BrowsableDriver, PointSpec, Reading, SubscribableDriver } from '../../../edge/drivers/driver.js';
import { isBrowsable, isSubscribable } from '../../../edge/drivers/driver.js';
import { CONNECTION_LOST_CAUSE, opcuaManifest, type OpcuaAddress, type OpcuaConnection } from '../../../edge/drivers/opcua/index.js';
import { startColdRoomServer, type ColdRoomServer } from '../../../devices/opcua/cold-room-server.js';
import { driverContract } from '../../contract/driver-contract.js';
import { tempDir } from '../../support/tmp.js';
import { quietNodeOpcua } from './test-server.js';
import { waitFor } from '../support.js';

quietNodeOpcua();

const p = (name: string, node: string, writable = false): PointSpec<OpcuaAddress> => ({
  name,
  address: { nodeId: `ns=1;s=ColdRoom.${node}` },
  writable,
  scale: 1,
  offset: 0,
  deadband: 0,
  pollIntervalMs: 100,
});

const TEMPERATURE = p('temperature', 'Temperature');
const DOOR_OPEN = p('door_open', 'DoorOpen');
const COMPRESSOR = p('compressor_running', 'CompressorRunning');
const SETPOINT = p('setpoint', 'Setpoint', true);

function makeDriver(server: ColdRoomServer, dataDir: string): SubscribableDriver & BrowsableDriver {
  const connection: OpcuaConnection = {
    endpointUrl: server.endpointUrl,
    publishingIntervalMs: 100,
    requestTimeoutMs: 2000,
    sessionTimeoutMs: 10_000,
    reconnectInitialDelayMs: 100,
    reconnectMaxDelayMs: 500,
    automaticallyAcceptUnknownCertificate: true,
  };
  const driver = opcuaManifest.create(
    { id: 'freezer', protocol: 'opcua', connection, points: [TEMPERATURE, DOOR_OPEN, COMPRESSOR, SETPOINT] },
    { log: createLogger('test-opcua-sim'), dataDir },
  );
  if (!isSubscribable(driver) || !isBrowsable(driver)) throw new Error('expected subscribe + browse');
  return driver;
}

driverContract({
  name: 'opcua (cold-room simulator)',
  async setup() {
    const tmp = tempDir('swarmgate-opcua-sim-');
    const server = await startColdRoomServer({ speed: 0, seed: 5, publishIntervalMs: 50, dataDir: join(tmp.path, 'sim') });
    return {
      driver: makeDriver(server, join(tmp.path, 'data')),
      readable: [TEMPERATURE, DOOR_OPEN, COMPRESSOR, SETPOINT],
      writes: [{ point: SETPOINT, value: -21 }],
      missing: p('ghost', 'Ghost'),
      async teardown() {
        await server.stop();
        tmp.remove();
      },
    };
  },
});

describe('opcua driver with the cold-room simulator', () => {
  const tmp = tempDir('swarmgate-opcua-sim-');
  let server: ColdRoomServer;
  let driver: SubscribableDriver & BrowsableDriver;

  beforeAll(async () => {
    server = await startColdRoomServer({ speed: 0, seed: 7, publishIntervalMs: 50, dataDir: join(tmp.path, 'sim') });
    driver = makeDriver(server, join(tmp.path, 'data'));
    await driver.initialize();
  });

  afterAll(async () => {
    await driver?.stop();
    await server?.stop();
    tmp.remove();
  });

  it('browses the cold room variables', async () => {
    const found = await driver.browse({ maxDepth: 4 });
    const nodeIds = found.map((d) => (d.address as { nodeId: string }).nodeId);
    expect(nodeIds).toEqual(expect.arrayContaining(['ns=1;s=ColdRoom.Temperature', 'ns=1;s=ColdRoom.Setpoint']));
    expect(found.find((d) => (d.address as { nodeId: string }).nodeId === 'ns=1;s=ColdRoom.Setpoint')?.writable).toBe(true);
    expect(found.find((d) => (d.address as { nodeId: string }).nodeId === 'ns=1;s=ColdRoom.Temperature')?.writable).toBe(false);
    // The unit each AnalogItem declares (EngineeringUnits, UNECE "°C"), in the profiles' spelling; none for a switch.
    expect(found.find((d) => (d.address as { nodeId: string }).nodeId === 'ns=1;s=ColdRoom.Temperature')?.unit).toBe('degC');
    expect(found.find((d) => (d.address as { nodeId: string }).nodeId === 'ns=1;s=ColdRoom.Setpoint')?.unit).toBe('degC');
    expect(found.find((d) => (d.address as { nodeId: string }).nodeId === 'ns=1;s=ColdRoom.DoorOpen')?.unit).toBeUndefined();
  });

  it("survives the 'opcua-restart' fault: bad while down, subscription restored, physics changes flow again", async () => {
    const got: Reading[] = [];
    const sub = await driver.subscribe([TEMPERATURE, SETPOINT], (r) => got.push(r));
    try {
      await waitFor(() => got.find((r) => r.point === 'temperature' && r.quality === 'good'), 5000, 'initial temperature');
      server.faults.inject({ kind: 'opcua-restart', downMs: 400 });
      await waitFor(() => got.find((r) => r.cause === CONNECTION_LOST_CAUSE), 5000, 'connection lost');
      const mark = got.length;
      await waitFor(() => got.slice(mark).find((r) => r.point === 'temperature' && r.quality === 'good'), 15_000, 'temperature after restart');
      // New changes after the restart: a physics step (temperature) and a write through the driver.
      const before = got.slice(mark).filter((r) => r.point === 'temperature').length;
      server.model.setCompressorFailure(true);
      server.model.step(1800);
      await waitFor(() => (got.slice(mark).filter((r) => r.point === 'temperature').length > before ? true : undefined), 5000, 'temperature change');
      await driver.write(SETPOINT, -24);
      await waitFor(() => got.slice(mark).find((r) => r.point === 'setpoint' && r.value === -24), 5000, 'setpoint change');
      expect(server.model.coldRoom.setpointC).toBe(-24);
    } finally {
      await sub.close();
    }
  });
});
