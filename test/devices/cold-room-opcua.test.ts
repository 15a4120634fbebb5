import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import {
  AttributeIds,
  ClientSubscription,
  DataType,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  TimestampsToReturn,
  UserTokenType,
  type ClientSession,
  type DataValue,
} from 'node-opcua';
import { startColdRoomServer, type ColdRoomServer } from '../../devices/opcua/cold-room-server.js';
import { tempDir } from '../support/tmp.js';
import { waitFor } from './support.js';

describe('cold room OPC UA server', () => {
  const dir = tempDir('swarmgate-opcua-');
  let server: ColdRoomServer;
  let client: OPCUAClient;
  let session: ClientSession;

  beforeAll(async () => {
    server = await startColdRoomServer({ speed: 0, seed: 3, publishIntervalMs: 50 });
    client = OPCUAClient.create({
      endpointMustExist: false,
      securityMode: MessageSecurityMode.None,
      securityPolicy: SecurityPolicy.None,
      connectionStrategy: { initialDelay: 100, maxDelay: 500, maxRetry: 100 },
      clientCertificateManager: new OPCUACertificateManager({ rootFolder: join(dir.path, 'client-pki'), automaticallyAcceptUnknownCertificate: true }),
    });
    await client.connect(server.endpointUrl);
    session = await client.createSession();
  });

  afterAll(async () => {
    await session?.close().catch(() => undefined);
    await client?.disconnect();
    await server?.stop();
    dir.remove();
  });

  it('listens on an ephemeral port with ColdRoom in namespace 1', () => {
    expect(server.port).toBeGreaterThan(0);
    expect(server.endpointUrl).toBe(`opc.tcp://127.0.0.1:${server.port}/swarmgate/coldroom`);
    expect(server.namespaceIndex).toBe(1);
  });

  it('browses Objects/Facility/ColdRoom', async () => {
    const facility = await session.browse('ns=1;s=Facility');
    expect(facility.references?.map((r) => r.browseName.name)).toContain('ColdRoom');
    const cold = await session.browse('ns=1;s=ColdRoom');
    const names = cold.references?.map((r) => r.browseName.name) ?? [];
    expect(names).toEqual(expect.arrayContaining(['Temperature', 'DoorOpen', 'CompressorRunning', 'Setpoint', 'BackupCompressor']));
  });

  it('reads values and writes the setpoint into the physics', async () => {
    const temp = await session.read({ nodeId: 'ns=1;s=ColdRoom.Temperature', attributeId: AttributeIds.Value });
    expect(temp.value.dataType).toBe(DataType.Double);
    expect(temp.value.value as number).toBeCloseTo(server.model.coldRoom.temperatureC, 5);
    const status = await session.write({ nodeId: 'ns=1;s=ColdRoom.Setpoint', attributeId: AttributeIds.Value, value: { value: { dataType: DataType.Double, value: -22 } } });
    expect(status.isGood()).toBe(true);
    expect(server.model.coldRoom.setpointC).toBe(-22);
    const ro = await session.write({ nodeId: 'ns=1;s=ColdRoom.BackupCompressor', attributeId: AttributeIds.Value, value: { value: { dataType: DataType.Boolean, value: true } } });
    expect(ro.isGood()).toBe(false);
  });

  it('subscriptions receive physics changes', async () => {
    const sub = ClientSubscription.create(session, { requestedPublishingInterval: 50, publishingEnabled: true, requestedMaxKeepAliveCount: 10, requestedLifetimeCount: 100 });
    const values: number[] = [];
    const item = await sub.monitor({ nodeId: 'ns=1;s=ColdRoom.Temperature', attributeId: AttributeIds.Value }, { samplingInterval: 50, queueSize: 10 }, TimestampsToReturn.Both);
    item.on('changed', (dv: DataValue) => values.push(dv.value.value as number));
    await waitFor(() => values.length >= 1);
    server.model.setCompressorFailure(true);
    server.model.step(1800);
    await waitFor(() => values.some((v) => v > -17));
    await sub.terminate();
  });

  it('opcua-restart brings the server back on the same port', async () => {
    const port = server.port;
    const id = server.faults.inject({ kind: 'opcua-restart', downMs: 200 });
    await waitFor(() => !server.running, 5000);
    await waitFor(() => server.running && !server.faults.list().some((f) => f.id === id), 15_000);
    expect(server.port).toBe(port);
    // The client reconnects by itself; a fresh read through the (recovered) session succeeds.
    await waitFor(async () => {
      try {
        const dv = await session.read({ nodeId: 'ns=1;s=ColdRoom.Setpoint', attributeId: AttributeIds.Value });
        return dv.statusCode.isGood();
      } catch {
        return false;
      }
    }, 20_000, 200);
  });

  it('offline stops the server until cleared, then it returns on the same port', async () => {
    const port = server.port;
    const id = server.faults.inject({ kind: 'offline', device: 'freezer' });
    await waitFor(() => !server.running, 5000);
    server.faults.clear(id);
    await waitFor(() => server.running, 15_000);
    expect(server.port).toBe(port);
  });

  it('accepts SignAndEncrypt with a user name', async () => {
    const secure = OPCUAClient.create({
      endpointMustExist: false,
      securityMode: MessageSecurityMode.SignAndEncrypt,
      securityPolicy: SecurityPolicy.Basic256Sha256,
      connectionStrategy: { maxRetry: 2, initialDelay: 100, maxDelay: 200 },
      clientCertificateManager: new OPCUACertificateManager({ rootFolder: join(dir.path, 'client-pki'), automaticallyAcceptUnknownCertificate: true }),
    });
    await secure.connect(server.endpointUrl);
    try {
      const s = await secure.createSession({ type: UserTokenType.UserName, userName: 'operator', password: 'operator-secret' });
      const dv = await s.read({ nodeId: 'ns=1;s=ColdRoom.Temperature', attributeId: AttributeIds.Value });
      expect(dv.statusCode.isGood()).toBe(true);
      await s.close();
      await expect(secure.createSession({ type: UserTokenType.UserName, userName: 'operator', password: 'wrong' })).rejects.toThrow();
    } finally {
      await secure.disconnect();
    }
  });
});
